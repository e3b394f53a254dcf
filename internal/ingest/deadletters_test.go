package ingest

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

func newTestDeadLetters(t *testing.T, brokers []string, topic string) (*KafkaDeadLetters, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	d, err := NewKafkaDeadLetters(DeadLetterOptions{
		KafkaConn:  KafkaConn{Brokers: brokers, DialTimeout: 2 * time.Second},
		Topic:      topic,
		Reasons:    []string{"invalid_json", "unknown_model"},
		Registerer: reg,
	})
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
