// Package kafkatest starts an in-process Kafka-protocol broker (franz-go's kfake) on
// 127.0.0.1 and fills its topics, so that tests and benchmarks of anything that
// reads Kafka can run without a real cluster or a network.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic is a topic to create when the cluster starts.
type Topic struct {
	Name       string
	Partitions int
}

// Cluster is a running kfake cluster with one broker. It is closed when the test or
// benchmark that started it ends.
type Cluster struct {
	fake    *kfake.Cluster
	brokers []string
	groups  atomic.Int64
	// down, while set, makes the broker close every connection at its first
	// request, as a broker that is unreachable does.
	down      atomic.Bool
	outageSet sync.Once
}

// Start starts a one-broker cluster holding topics. kfake's minimum group session
// timeout is lowered to 100ms so that tests may use short sessions and see a dead
// member leave quickly.
func Start(tb testing.TB, topics ...Topic) *Cluster {
	tb.Helper()
	return StartWith(tb, nil, topics...)
}

// StartWith is Start with more kfake options, e.g. kfake.EnableSASL and
// kfake.Superuser to test authentication.
func StartWith(tb testing.TB, extra []kfake.Opt, topics ...Topic) *Cluster {
	tb.Helper()
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	opts = append(opts, extra...)
	for _, t := range topics {
		if t.Partitions < 1 || t.Partitions > math.MaxInt32 {
			tb.Fatalf("kafkatest: topic %q: partitions must be in [1, %d], got %d", t.Name, math.MaxInt32, t.Partitions)
		}
		opts = append(opts, kfake.SeedTopics(int32(t.Partitions), t.Name))
	}
	fake, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatalf("kafkatest: start kfake: %v", err)
	}
	tb.Cleanup(fake.Close)
	return &Cluster{fake: fake, brokers: fake.ListenAddrs()}
}

// Brokers returns the bootstrap addresses (host:port on 127.0.0.1).
func (c *Cluster) Brokers() []string { return append([]string(nil), c.brokers...) }

// Close stops the broker before the test ends, e.g. to test what a client does
// when its cluster goes away. Closing twice is harmless.
func (c *Cluster) Close() { c.fake.Close() }

// Outage takes the broker down (every client connection is closed at its
// first request) or brings it back, keeping every topic's data.
func (c *Cluster) Outage(down bool) {
	c.outageSet.Do(func() {
		c.fake.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
			c.fake.KeepControl()
			if c.down.Load() {
				return nil, errors.New("kafkatest: broker outage"), true
			}
			return nil, nil, false
		})
	})
	c.down.Store(down)
}

// Record is one message to produce. Partition -1 lets the producer choose
// (round-robin over the topic's partitions).
type Record struct {
	Partition int32
	Key       []byte
	Value     []byte
}

// Produce writes records to topic and returns once the broker has acknowledged all
// of them. Records for the same partition keep their order.
func (c *Cluster) Produce(tb testing.TB, topic string, records ...Record) {
	tb.Helper()
	cl := c.producer(tb, topic)
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs := make([]*kgo.Record, len(records))
	for i, r := range records {
		rs[i] = &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		tb.Fatalf("kafkatest: produce to %q: %v", topic, err)
	}
}

// Seed writes n records to topic, round-robin over its partitions, with values
// from value(i, buf) (buf is scratch space the function may append to; the result is
// copied). Keys are the decimal record index. It returns the total bytes of the
// values written, for b.SetBytes.
func (c *Cluster) Seed(tb testing.TB, topic string, n int, value func(i int, buf []byte) []byte) int64 {
	tb.Helper()
	cl := c.producer(tb, topic)
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		total   int64
		scratch []byte
		errs    = make(chan error, 1)
	)
	for i := range n {
		scratch = value(i, scratch[:0])
		v := append([]byte(nil), scratch...)
		total += int64(len(v))
		r := &kgo.Record{Topic: topic, Partition: -1, Key: strconv.AppendInt(nil, int64(i), 10), Value: v}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		tb.Fatalf("kafkatest: flush %d records to %q: %v", n, topic, err)
	}
	select {
	case err := <-errs:
		tb.Fatalf("kafkatest: seed %q: %v", topic, err)
	default:
	}
	return total
}

// Consumed is a record read back by Read.
type Consumed struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
}

// Read reads the first n records of topic from the start, outside any group, e.g.
// to check what a producer under test wrote. It fails the test if fewer than n
// arrive within 10s.
func (c *Cluster) Read(tb testing.TB, topic string, n int) []Consumed {
	tb.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		tb.Fatalf("kafkatest: new consumer: %v", err)
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []Consumed
	for len(out) < n {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			tb.Fatalf("kafkatest: read %q: %d of %d records before %v", topic, len(out), n, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			tb.Fatalf("kafkatest: read %q: %v", topic, errs[0].Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			h := make(map[string]string, len(r.Headers))
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			out = append(out, Consumed{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Headers: h})
		})
	}
	return out
}

// DrainBare reads n messages of topic with a bare kafka-go group reader (a fresh
// group, kafka-go's defaults but for a 1s MaxWait as Sentinel's readers use,
// FetchMessage without commits: reading minus Sentinel's work) and returns how
// long the n-1 messages after the first took. The first message waits for the
// group join, which says nothing about throughput; nor does Close, which waits up
// to MaxWait for fetches parked on drained partitions. A pipeline benchmark
// divides its own rate by this one's.
func (c *Cluster) DrainBare(tb testing.TB, topic string, n int) time.Duration {
	tb.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.brokers,
		GroupID: fmt.Sprintf("kafkatest-bare-%d", c.groups.Add(1)),
		Topic:   topic,
		MaxWait: time.Second,
	})
	defer r.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var start time.Time
	for i := range n {
		if _, err := r.FetchMessage(ctx); err != nil {
			tb.Fatalf("kafkatest: bare reader: message %d of %d from %q: %v", i+1, n, topic, err)
		}
		if i == 0 {
			start = time.Now()
		}
	}
	return time.Since(start)
}

// producer is a franz-go client tuned for bulk loading: uncompressed (so a reader
// benchmark measures the reader, not the codec), round-robin across partitions
// unless a record names its partition.
func (c *Cluster) producer(tb testing.TB, topic string) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
			next := 0
			return func(r *kgo.Record, n int) int {
				if r.Partition >= 0 {
					return int(r.Partition)
				}
				next++
				return next % n
			}
		})),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(1<<16),
		kgo.ProducerLinger(time.Millisecond),
	)
	if err != nil {
		tb.Fatalf("kafkatest: new producer: %v", err)
	}
	return cl
}

// Event appends to buf one realistic event in the envelope Sentinel reads: about
// 600 bytes of JSON with 20 features (numeric, categorical, boolean and one
// nullable), deterministic in i.
func Event(i int, buf []byte) []byte {
	countries := [...]string{"DE", "ES", "FR", "GB", "IT", "US"}
	devices := [...]string{"ios", "android", "web", "desktop"}
	buf = append(buf, `{"model":"fraud","model_version":"2026-11-01","request_id":"r-`...)
	buf = strconv.AppendInt(buf, int64(i), 10)
	buf = append(buf, `","timestamp":"`...)
	ts := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	buf = ts.AppendFormat(buf, "2006-01-02T15:04:05.000Z07:00")
	buf = append(buf, `","features":{"amount":`...)
	buf = strconv.AppendFloat(buf, float64(i%50000)+0.25, 'f', 2, 64)
	buf = append(buf, `,"country":"`...)
	buf = append(buf, countries[i%len(countries)]...)
	buf = append(buf, `","device":"`...)
	buf = append(buf, devices[i%len(devices)]...)
	buf = append(buf, `","is_new":`...)
	buf = strconv.AppendBool(buf, i%7 == 0)
	buf = append(buf, `,"age":`...)
	if i%20 == 0 {
		buf = append(buf, "null"...)
	} else {
		buf = strconv.AppendInt(buf, int64(18+i%60), 10)
	}
	for f := range 15 {
		buf = fmt.Appendf(buf, `,"f%02d":`, f)
		buf = strconv.AppendFloat(buf, float64((i*31+f*17)%1000)/7.0, 'f', 6, 64)
	}
	buf = append(buf, `},"prediction":`...)
	buf = strconv.AppendFloat(buf, float64(i%1000)/1000, 'f', 3, 64)
	buf = append(buf, `,"latency_ms":`...)
	buf = strconv.AppendFloat(buf, 5+float64(i%300)/10, 'f', 1, 64)
	buf = append(buf, `,"session":"s-0123456789abcdef0123456789abcdef","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`...)
	return buf
}
