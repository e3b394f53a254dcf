package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// closedAddr is an address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestStopWhileStoreUnreachableAtStart: a daemon waiting for ClickHouse at
// start (wrong password, server down) has nothing to drain; a SIGTERM must
// stop it at once rather than after the whole shutdown timeout, which
// Kubernetes' grace period (30 s by default) cuts short with a SIGKILL.
func TestStopWhileStoreUnreachableAtStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	st, err := store.New(store.Options{DSN: "clickhouse://" + closedAddr(t) + "/default?dial_timeout=200ms", Database: "sentinel_stop_test",
		Registerer: reg, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	group, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: ingest.KafkaConn{Brokers: []string{closedAddr(t)}},
		GroupID: "sentinel", Topics: []string{"events"}, Registerer: reg, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	d, err := New(Options{
		Pipeline: pipeline.Options{Models: []*model.Model{testModel(t)}, Window: time.Minute, ReferencePeriod: time.Hour,
			MinSamples: 10, MaxMessageBytes: 1 << 20, Now: time.Now, Registerer: reg, Logger: logger(t)},
		Group: group, Store: st, TickEvery: time.Second, CommitEvery: time.Second, Registerer: reg, Logger: logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // preparing the store, retrying
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	d.Stop(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Stop took %s while the store was unreachable at start: it waits for the shutdown timeout", took.Round(100*time.Millisecond))
	}
}

const benchRejects = 5_000

// BenchmarkRejectsThroughKafka drains a topic of messages that are not JSON
// through the daemon, each dead-lettered to Kafka, and reports the rate, to
// set beside BenchmarkDaemonThroughKafka's: a producer that breaks its schema
// sends nothing but rejects, and the daemon must keep up with them too.
func BenchmarkRejectsThroughKafka(b *testing.B) {
	c := kafkatest.Start(b, kafkatest.Topic{Name: "events", Partitions: 4}, kafkatest.Topic{Name: "dead", Partitions: 4})
	c.Seed(b, "events", benchRejects, func(i int, buf []byte) []byte { return append(buf, `{"model": "fraud", "oops`...) })
	m := testModel(b)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	var rates []float64
	group := 0
	for b.Loop() {
		group++
		reg := prometheus.NewRegistry()
		g, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: ingest.KafkaConn{Brokers: c.Brokers()},
			GroupID: fmt.Sprintf("rejects-%d", group), Topics: []string{"events"}, Registerer: reg})
		if err != nil {
			b.Fatal(err)
		}
		dl, err := ingest.NewKafkaDeadLetters(ingest.DeadLetterOptions{KafkaConn: ingest.KafkaConn{Brokers: c.Brokers()},
			Topic: "dead", Reasons: pipeline.Reasons(), Registerer: reg})
		if err != nil {
			b.Fatal(err)
		}
		d, err := New(Options{
			Pipeline: pipeline.Options{Models: []*model.Model{m}, Window: time.Minute, Lateness: 5 * time.Second,
				ReferencePeriod: time.Hour, MinSamples: 100, MaxMessageBytes: 1 << 20, DeadLetters: dl, Now: time.Now, Registerer: reg, Logger: log},
			Group: g, Store: newMemStore(), TickEvery: time.Second, CommitEvery: time.Second, Logger: log,
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		rejected := func() float64 {
			mfs, _ := reg.Gather()
			var n float64
			for _, mf := range mfs {
				if mf.GetName() == "sentinel_dead_letters_total" {
					for _, s := range mf.GetMetric() {
						n += s.GetCounter().GetValue()
					}
				}
			}
			return n
		}
		for rejected() == 0 {
			time.Sleep(time.Millisecond)
		}
		first := time.Now()
		for rejected() < benchRejects {
			time.Sleep(time.Millisecond)
		}
		rates = append(rates, float64(benchRejects-1)/time.Since(first).Seconds())
		if err := d.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		dl.Close()
		g.Close()
	}
	b.ReportMetric(median(rates), "rejects/s")
}

// TestRejectionCountedOnceWhenItsDeadLetterIsRetried: a dead letter that
// Kafka refuses is retried until it is taken; the message is rejected once,
// and sentinel_events_rejected_total, which alerts read, says once. The dead
// letters go to a broker of their own, down at first, so that the events can
// still be read meanwhile.
func TestRejectionCountedOnceWhenItsDeadLetterIsRetried(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 1})
	dead := kafkatest.Start(t, kafkatest.Topic{Name: "dead", Partitions: 1})
	dead.Outage(true)
	c.Produce(t, "events", kafkatest.Record{Partition: 0, Value: []byte(`{"model": "fraud", "oops`)})
	reg := prometheus.NewRegistry()
	group, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: ingest.KafkaConn{Brokers: c.Brokers()},
		GroupID: "sentinel", Topics: []string{"events"}, MaxWait: 100 * time.Millisecond, Registerer: reg, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	var rounds atomic.Int64
	dl, err := ingest.NewKafkaDeadLetters(ingest.DeadLetterOptions{KafkaConn: ingest.KafkaConn{Brokers: dead.Brokers()},
		Topic: "dead", Reasons: pipeline.Reasons(), WriteTimeout: 200 * time.Millisecond,
		OnDurable: func() { rounds.Add(1) }, Registerer: reg, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	d, err := New(Options{
		Pipeline: pipeline.Options{Models: []*model.Model{testModel(t)}, Window: time.Minute, ReferencePeriod: time.Hour,
			MinSamples: 10, MaxMessageBytes: 1 << 20, DeadLetters: dl, Now: time.Now, Registerer: reg, Logger: logger(t)},
		Group: group, Store: newMemStore(), TickEvery: 50 * time.Millisecond, CommitEvery: 50 * time.Millisecond,
		Registerer: reg, Logger: logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background())
	waitFor(t, "the message rejected", func() bool { return counter(t, reg, "sentinel_events_rejected_total") > 0 })
	// Some rounds of the dead-letter writer fail while its broker is down.
	time.Sleep(time.Second)
	if off, ok := dl.Pending("events", 0); !ok || off != 0 {
		t.Errorf("Pending = %d, %v while the dead letter cannot be written, want 0, true", off, ok)
	}
	dead.Outage(false)
	waitFor(t, "the dead letter taken", func() bool { return rounds.Load() > 0 })
	if got := dead.Read(t, "dead", 1); len(got) != 1 {
		t.Errorf("%d dead letters, want 1", len(got))
	}
	if n := counter(t, reg, "sentinel_events_rejected_total"); n != 1 {
		t.Errorf("sentinel_events_rejected_total = %v for one message whose dead letter was refused until its broker returned, want 1", n)
	}
	if n := counter(t, reg, "sentinel_dead_letters_total"); n != 1 {
		t.Errorf("sentinel_dead_letters_total = %v, want 1", n)
	}
}
