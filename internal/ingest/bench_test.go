package ingest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// BenchmarkKafkaSource drains the same topic through KafkaSource, to show what the
// source itself (metrics, lag tracking, the Message conversion) costs over the
// bare reader.
func BenchmarkKafkaSource(b *testing.B) {
	c, meanBytes := seedBench(b)
	b.ReportAllocs()
	var (
		msgs    int
		reading time.Duration
		group   int
	)
	for b.Loop() {
		group++
		s, err := NewKafkaSource(KafkaOptions{
			KafkaConn: KafkaConn{Brokers: c.Brokers()},
			GroupID:   fmt.Sprintf("bench-%d", group),
			Topics:    []string{"events"},
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var start time.Time
		for i := range benchEvents {
			if _, err := s.Fetch(ctx); err != nil {
				b.Fatalf("Fetch %d: %v", i, err)
			}
			if i == 0 {
				start = time.Now()
			}
		}
		reading += time.Since(start)
		msgs += benchEvents - 1
		cancel()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
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
