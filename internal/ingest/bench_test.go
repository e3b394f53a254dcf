package ingest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

// benchEvents is the topic size the daemon's throughput goal is measured on: the
// pipeline through Kafka must reach half the bare reader's rate.
const (
	benchEvents     = 200_000
	benchPartitions = 4
)

// seedBench starts a cluster whose "events" topic holds benchEvents realistic
// events and returns it with their mean size in bytes.
func seedBench(b *testing.B) (*kafkatest.Cluster, float64) {
	b.Helper()
	c := kafkatest.Start(b, kafkatest.Topic{Name: "events", Partitions: benchPartitions})
	total := c.Seed(b, "events", benchEvents, kafkatest.Event)
	return c, float64(total) / benchEvents
}

// reportRate reports messages/s and MB/s of values over the time spent reading,
// which leaves out the group join before each drain's first message.
func reportRate(b *testing.B, msgs int, meanBytes float64, reading time.Duration) {
	b.Helper()
	s := reading.Seconds()
	b.ReportMetric(float64(msgs)/s, "msgs/s")
	b.ReportMetric(float64(msgs)*meanBytes/1e6/s, "MB/s")
}

// BenchmarkBareReader is the reference for the daemon's throughput goal: a bare
// kafka-go group reader draining the topic. Each iteration is one full drain by a
// fresh group; ns/op includes its join, msgs/s and MB/s do not.
func BenchmarkBareReader(b *testing.B) {
	c, meanBytes := seedBench(b)
	b.ReportAllocs()
	var (
		msgs    int
		reading time.Duration
	)
	for b.Loop() {
		reading += c.DrainBare(b, "events", benchEvents)
		msgs += benchEvents - 1
	}
	reportRate(b, msgs, meanBytes, reading)
}

// BenchmarkGroup drains the same topic through Group, a reader per partition
// number, to show what the group's readers themselves (metrics, the Message
// conversion, merging a partition's topics) cost over the bare reader.
func BenchmarkGroup(b *testing.B) {
	c, meanBytes := seedBench(b)
	b.ReportAllocs()
	var (
		msgs    int
		reading time.Duration
		group   int
	)
	for b.Loop() {
		group++
		g, err := NewGroup(KafkaOptions{KafkaConn: KafkaConn{Brokers: c.Brokers()},
			GroupID: fmt.Sprintf("bench-%d", group), Topics: []string{"events"}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var read atomic.Int64
		var first, last atomic.Int64
		g.Run(ctx, func(genCtx context.Context, gen *Generation) {
			var wg sync.WaitGroup
			for _, k := range gen.Partitions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := gen.Reader(k)
					defer r.Close()
					for {
						select {
						case <-genCtx.Done():
							return
						case f := <-r.C():
							if f.Err != nil {
								b.Error(f.Err)
								return
							}
							now := time.Now().UnixNano()
							first.CompareAndSwap(0, now)
							if read.Add(1) == benchEvents {
								last.Store(now)
								cancel()
							}
						}
					}
				}()
			}
			wg.Wait()
		})
		reading += time.Duration(last.Load() - first.Load())
		msgs += benchEvents - 1
		cancel()
		g.Close()
	}
	reportRate(b, msgs, meanBytes, reading)
}

// BenchmarkFileSource replays the same events from a JSON Lines file.
func BenchmarkFileSource(b *testing.B) {
	path := filepath.Join(b.TempDir(), "events.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	var (
		buf   []byte
		total int64
	)
	for i := range benchEvents {
		buf = append(kafkatest.Event(i, buf[:0]), '\n')
		total += int64(len(buf))
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.SetBytes(total)
	ctx := context.Background()
	for b.Loop() {
		s, err := NewFileSource(FileSourceOptions{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		for i := range benchEvents {
			if _, err := s.Fetch(ctx); err != nil {
				b.Fatalf("Fetch %d: %v", i, err)
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchEvents)/b.Elapsed().Seconds(), "msgs/s")
}
