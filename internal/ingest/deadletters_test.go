package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

func newTestDeadLetters(t *testing.T, brokers []string, topic string) (*KafkaDeadLetters, *prometheus.Registry) {
	t.Helper()
	return newTestDeadLettersWith(t, DeadLetterOptions{KafkaConn: KafkaConn{Brokers: brokers}, Topic: topic})
}

// newTestDeadLettersWith completes opts with a short dial timeout, the
// pipeline's reasons and a registry.
func newTestDeadLettersWith(t *testing.T, opts DeadLetterOptions) (*KafkaDeadLetters, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.DialTimeout = 2 * time.Second
	opts.Reasons = []string{"invalid_json", "unknown_model"}
	opts.Registerer = reg
	d, err := NewKafkaDeadLetters(opts)
	if err != nil {
		t.Fatalf("NewKafkaDeadLetters: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d, reg
}

func TestKafkaDeadLetters(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "dead", Partitions: 2})
	d, reg := newTestDeadLetters(t, c.Brokers(), "dead")
	waitReady(t, d.Ready)

	sends := []struct {
		msg    Message
		reason string
		detail string
	}{
		{Message{Topic: "events", Partition: 3, Offset: 41, Key: []byte("r-1"), Value: []byte(`{"model":`)}, "invalid_json", "unexpected end of input at byte 9"},
		{Message{Topic: "events", Partition: 0, Offset: 7, Value: []byte(`{"model":"nope"}`)}, "unknown_model", `no contract for model "nope"`},
		{Message{Topic: "labels", Partition: 1, Offset: 12345678901, Key: []byte("r-3"), Value: []byte(`{}`)}, "made_up", strings.Repeat("x", 5000)},
	}
	// Concurrent Sends share produce requests; each still returns only once written.
	var wg sync.WaitGroup
	errs := make([]error, len(sends))
	for i, s := range sends {
		wg.Go(func() { errs[i] = d.Send(context.Background(), s.msg, s.reason, s.detail) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}

	got := c.Read(t, "dead", len(sends))
	byReason := make(map[string]kafkatest.Consumed)
	for _, r := range got {
		byReason[r.Headers[HeaderReason]] = r
	}
	wantHeaders := []map[string]string{
		{HeaderReason: "invalid_json", HeaderDetail: "unexpected end of input at byte 9", HeaderSourceTopic: "events", HeaderSourcePartition: "3", HeaderSourceOffset: "41"},
		{HeaderReason: "unknown_model", HeaderDetail: `no contract for model "nope"`, HeaderSourceTopic: "events", HeaderSourcePartition: "0", HeaderSourceOffset: "7"},
		{HeaderReason: "made_up", HeaderDetail: strings.Repeat("x", maxDetailBytes), HeaderSourceTopic: "labels", HeaderSourcePartition: "1", HeaderSourceOffset: "12345678901"},
	}
	for i, s := range sends {
		r, ok := byReason[s.reason]
		if !ok {
			t.Errorf("no dead letter with reason %q", s.reason)
			continue
		}
		if string(r.Key) != string(s.msg.Key) || string(r.Value) != string(s.msg.Value) {
			t.Errorf("%s: key %q value %q, want %q %q", s.reason, r.Key, r.Value, s.msg.Key, s.msg.Value)
		}
		if len(r.Headers) != len(wantHeaders[i]) {
			t.Errorf("%s: headers %v, want %v", s.reason, r.Headers, wantHeaders[i])
		}
		for k, v := range wantHeaders[i] {
			if r.Headers[k] != v {
				t.Errorf("%s: header %s = %.60q, want %.60q", s.reason, k, r.Headers[k], v)
			}
		}
	}

	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sentinel_dead_letters_total Messages written to the dead-letter topic, by reason.
# TYPE sentinel_dead_letters_total counter
sentinel_dead_letters_total{reason="invalid_json"} 1
sentinel_dead_letters_total{reason="other"} 1
sentinel_dead_letters_total{reason="unknown_model"} 1
`)); err != nil {
		t.Error(err)
	}

	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Send(context.Background(), sends[0].msg, "invalid_json", ""); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Send after Close: %v, want io.ErrClosedPipe", err)
	}
}

func TestKafkaDeadLettersFailures(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "dead", Partitions: 1})
	tests := []struct {
		name    string
		brokers []string
		topic   string
		want    string
	}{
		{"missing topic", c.Brokers(), "nope", `topic "nope"`},
		{"closed port", []string{closedPort(t)}, "dead", "kafka metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, reg := newTestDeadLetters(t, tt.brokers, tt.topic)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := d.Ready(ctx); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Ready() = %v, want an error containing %q", err, tt.want)
			}
			// A write that cannot be made durable must fail, not vanish, so the
			// pipeline never commits past it.
			sendCtx, cancelSend := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancelSend()
			if err := d.Send(sendCtx, Message{Topic: "events", Value: []byte("x")}, "invalid_json", ""); err == nil {
				t.Error("Send() = nil, want an error")
			}
			if n := testutil.CollectAndCount(reg, "sentinel_dead_letters_total"); n != 3 {
				t.Errorf("%d series, want 3 (pre-created at zero)", n)
			}
			if got := testutil.ToFloat64(d.counters["invalid_json"]); got != 0 {
				t.Errorf(`sentinel_dead_letters_total{reason="invalid_json"} = %v after a failed Send, want 0`, got)
			}
		})
	}
}

// TestKafkaDeadLettersEnqueue: dead letters enqueued without waiting all
// arrive once flushed, with their headers, and are counted; OnDurable is told,
// and no partition reports a pending offset afterwards.
func TestKafkaDeadLettersEnqueue(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "dead", Partitions: 3})
	var durable atomic.Int64
	d, _ := newTestDeadLettersWith(t, DeadLetterOptions{KafkaConn: KafkaConn{Brokers: c.Brokers()}, Topic: "dead",
		BatchMessages: 100, OnDurable: func() { durable.Add(1) }})
	waitReady(t, d.Ready)

	const n = 2000
	ctx := context.Background()
	for i := range n {
		msg := Message{Topic: "events", Partition: i % 3, Offset: int64(i), Value: fmt.Appendf(nil, `{"n": %d`, i)}
		if err := d.Enqueue(ctx, msg, "invalid_json", "unexpected end of input"); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for p := range 3 {
		if off, ok := d.Pending("events", p); ok {
			t.Errorf("partition %d: offset %d still pending after Flush", p, off)
		}
	}
	if durable.Load() == 0 {
		t.Error("OnDurable never called")
	}
	seen := make(map[string]bool)
	for _, r := range c.Read(t, "dead", n) {
		off := r.Headers[HeaderSourceOffset]
		if want := fmt.Sprintf(`{"n": %s`, off); string(r.Value) != want || r.Headers[HeaderReason] != "invalid_json" {
			t.Fatalf("dead letter of offset %s: value %q, headers %v", off, r.Value, r.Headers)
		}
		seen[off] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct dead letters, want %d", len(seen), n)
	}
	if got := testutil.ToFloat64(d.counters["invalid_json"]); got != n {
		t.Errorf("counted %v, want %d", got, n)
	}
}

// TestKafkaDeadLettersPending: while dead letters cannot be written, each
// partition reports its lowest offset not yet durable, Flush fails with the
// cause, nothing is counted, and a full queue blocks Enqueue until its
// context ends. Close drops what is queued, and refuses more.
func TestKafkaDeadLettersPending(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "dead", Partitions: 1})
	// A topic that does not exist: every round fails and is retried.
	d, _ := newTestDeadLettersWith(t, DeadLetterOptions{KafkaConn: KafkaConn{Brokers: c.Brokers()}, Topic: "nope",
		QueueMessages: 3, WriteTimeout: 200 * time.Millisecond})
	ctx := context.Background()
	for _, m := range []Message{{Topic: "events", Partition: 1, Offset: 40}, {Topic: "events", Partition: 1, Offset: 41}, {Topic: "labels", Partition: 1, Offset: 7}} {
		if err := d.Enqueue(ctx, m, "unknown_model", ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		topic     string
		partition int
		offset    int64
		ok        bool
	}{{"events", 1, 40, true}, {"labels", 1, 7, true}, {"events", 0, 0, false}} {
		if off, ok := d.Pending(tc.topic, tc.partition); off != tc.offset || ok != tc.ok {
			t.Errorf("Pending(%s, %d) = %d, %v; want %d, %v", tc.topic, tc.partition, off, ok, tc.offset, tc.ok)
		}
	}
	full, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := d.Enqueue(full, Message{Topic: "events", Partition: 1, Offset: 42}, "unknown_model", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Enqueue into a full queue: %v, want a deadline error", err)
	}
	flush, cancelFlush := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelFlush()
	if err := d.Flush(flush); err == nil {
		t.Error("Flush succeeded while the topic is missing")
	}
	if got := testutil.ToFloat64(d.counters["unknown_model"]); got != 0 {
		t.Errorf("counted %v dead letters that were not written", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(ctx, Message{Topic: "events"}, "unknown_model", ""); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Enqueue after Close: %v, want io.ErrClosedPipe", err)
	}
	if err := d.Flush(ctx); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Flush after Close: %v, want io.ErrClosedPipe", err)
	}
}

// TestKafkaDeadLettersTruncates: a value over MaxValueBytes, as a message
// rejected for its size is, is not sent whole again: the dead letter carries
// its first MaxValueBytes and says so.
func TestKafkaDeadLettersTruncates(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "dead", Partitions: 1})
	d, _ := newTestDeadLetters(t, c.Brokers(), "dead")
	waitReady(t, d.Ready)
	big := bytes.Repeat([]byte("0123456789"), 30_000)
	if err := d.Send(context.Background(), Message{Topic: "events", Offset: 9, Key: []byte("k"), Value: big}, "too_large", "300000 bytes"); err != nil {
		t.Fatal(err)
	}
	r := c.Read(t, "dead", 1)[0]
	if !bytes.Equal(r.Value, big[:defaultMaxValueBytes]) || string(r.Key) != "k" {
		t.Errorf("dead letter of %d bytes, key %q; want the first %d bytes and key k", len(r.Value), r.Key, defaultMaxValueBytes)
	}
	if r.Headers[HeaderTruncated] != "true" || r.Headers[HeaderOriginalSize] != "300000" {
		t.Errorf("headers %v, want truncated and the original size", r.Headers)
	}
}

// TestDeadLetterOptionsBounds: the queue and batch bounds may be left zero
// (defaults) but not negative.
func TestDeadLetterOptionsBounds(t *testing.T) {
	for name, change := range map[string]func(*DeadLetterOptions){
		"max value bytes": func(o *DeadLetterOptions) { o.MaxValueBytes = -1 },
		"queue messages":  func(o *DeadLetterOptions) { o.QueueMessages = -1 },
		"queue bytes":     func(o *DeadLetterOptions) { o.QueueBytes = -1 },
		"batch messages":  func(o *DeadLetterOptions) { o.BatchMessages = -1 },
	} {
		o := DeadLetterOptions{KafkaConn: KafkaConn{Brokers: []string{"127.0.0.1:9092"}}, Topic: "dead", Reasons: []string{"x"}}
		if err := o.Validate(); err != nil {
			t.Fatalf("valid options: %v", err)
		}
		change(&o)
		checkValidateError(t, o.Validate(), name+" is negative")
	}
}

// BenchmarkDeadLetters is a stream of rejects, every one dead-lettered, into
// the in-process broker: "enqueue" hands each over and flushes at the end, as
// the pipeline does when it keeps offsets behind Pending; "send" waits for each
// to be durable, as Send does. Goal (issue #17): enqueue at least half the rate
// of valid events through the pipeline, hundreds of thousands a second.
func BenchmarkDeadLetters(b *testing.B) {
	values := make([][]byte, 4096)
	var size int
	for i := range values {
		values[i] = kafkatest.Event(i, nil)
		size += len(values[i])
	}
	meanBytes := float64(size) / float64(len(values))
	for _, mode := range []string{"enqueue", "send"} {
		b.Run(mode, func(b *testing.B) {
			c := kafkatest.Start(b, kafkatest.Topic{Name: "dead", Partitions: 4})
			d, err := NewKafkaDeadLetters(DeadLetterOptions{KafkaConn: KafkaConn{Brokers: c.Brokers()}, Topic: "dead", Reasons: []string{"invalid_json"}})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			if err := d.Send(ctx, Message{Topic: "events", Value: values[0]}, "invalid_json", ""); err != nil {
				b.Fatal(err) // connected and the topic's metadata known
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				msg := Message{Topic: "events", Partition: i % 4, Offset: int64(i), Value: values[i%len(values)]}
				if mode == "send" {
					err = d.Send(ctx, msg, "invalid_json", "unexpected end of input at byte 9")
				} else {
					err = d.Enqueue(ctx, msg, "invalid_json", "unexpected end of input at byte 9")
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := d.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			s := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/s, "msgs/s")
			b.ReportMetric(float64(b.N)*meanBytes/1e6/s, "MB/s")
		})
	}
}
