package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// memStore is a Store that keeps nothing: the benchmark measures the daemon,
// not ClickHouse.
type memStore struct{ *store.Memory }

func newMemStore() memStore { return memStore{store.NewMemory()} }

func (memStore) Write(context.Context, store.Batch) error { return nil }

// eventModel is the model of kafkatest.Event: 20 features.
func eventModel(b *testing.B) *model.Model {
	var yaml strings.Builder
	yaml.WriteString("model: fraud\nprediction: {kind: probability}\nfeatures:\n" +
		"  - {name: amount, type: numeric, min: 0}\n  - {name: country, type: categorical, categories: [DE, ES, FR, GB, IT, US]}\n" +
		"  - {name: device, type: categorical}\n  - {name: is_new, type: boolean}\n  - {name: age, type: numeric, nullable: true}\n")
	for f := 0; f < 15; f++ {
		fmt.Fprintf(&yaml, "  - {name: f%02d, type: numeric}\n", f)
	}
	return buildModel(b, yaml.String(), func(r *rand.Rand, csv *strings.Builder) {
		fmt.Fprintf(csv, "%.2f,%s,%s,%t,%d", r.Float64()*50000, []string{"DE", "ES", "FR", "GB", "IT", "US"}[r.IntN(6)],
			[]string{"ios", "android", "web", "desktop"}[r.IntN(4)], r.IntN(7) == 0, 18+r.IntN(60))
		for f := 0; f < 15; f++ {
			fmt.Fprintf(csv, ",%.6f", r.Float64()*1000/7)
		}
	})
}

const benchEvents = 100_000

// BenchmarkDaemonThroughKafka drains a topic of 20-feature events through the
// whole daemon (Kafka source, decoding, windows, checks, commits) and reports its
// rate as a share of a bare kafka-go reader draining the same topic. Goal: a
// ratio of at least 0.5. The broker shares the machine, so one drain varies by
// 10-15%: each iteration alternates five bare and five daemon drains and
// reports the medians.
func BenchmarkDaemonThroughKafka(b *testing.B) {
	c := kafkatest.Start(b, kafkatest.Topic{Name: "events", Partitions: 4})
	c.Seed(b, "events", benchEvents, kafkatest.Event)
	m := eventModel(b)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	const rounds = 5
	var rates, bares, ratios []float64
	group := 0
	for b.Loop() {
		for range rounds {
			bare := float64(benchEvents-1) / c.DrainBare(b, "events", benchEvents).Seconds()
			group++
			rate := float64(benchEvents-1) / drainDaemon(b, c, m, log, fmt.Sprintf("bench-%d", group)).Seconds()
			rates, bares, ratios = append(rates, rate), append(bares, bare), append(ratios, rate/bare)
		}
	}
	b.ReportMetric(median(rates), "events/s")
	b.ReportMetric(median(bares), "bare_events/s")
	b.ReportMetric(median(ratios), "ratio")
}

// drainDaemon runs a daemon on a new consumer group until it has admitted
// the whole topic, and returns the time from its first event to its last.
func drainDaemon(b *testing.B, c *kafkatest.Cluster, m *model.Model, log *slog.Logger, groupID string) time.Duration {
	return drainDaemonInto(b, c, m, log, groupID, newMemStore(), benchEvents)
}

// drainDaemonInto is drainDaemon writing to st, until n events are admitted.
func drainDaemonInto(b *testing.B, c *kafkatest.Cluster, m *model.Model, log *slog.Logger, groupID string, st Store, n float64) time.Duration {
	reg := prometheus.NewRegistry()
	group, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: ingest.KafkaConn{Brokers: c.Brokers()},
		GroupID: groupID, Topics: []string{"events"}, Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	defer group.Close()
	d, err := New(Options{
		Pipeline: pipeline.Options{Models: []*model.Model{m}, Window: time.Minute, Lateness: 5 * time.Second,
			ReferencePeriod: time.Hour, MinSamples: 100, MaxMessageBytes: 1 << 20, Now: time.Now, Registerer: reg, Logger: log},
		Group: group, Store: st, TickEvery: time.Second, CommitEvery: time.Second, Logger: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	events := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "sentinel_events_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	for events() == 0 {
		time.Sleep(100 * time.Microsecond)
	}
	first := time.Now()
	for events() < n {
		time.Sleep(100 * time.Microsecond)
	}
	last := time.Now()
	if err := d.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	return last.Sub(first)
}

// slowStore discards batches after taking delay over each, as a store far
// away or busy does.
type slowStore struct {
	memStore
	delay time.Duration
}

func (s slowStore) Write(ctx context.Context, _ store.Batch) error {
	select {
	case <-time.After(s.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BenchmarkDaemonSlowStore drains 100,000 events of the 20-feature model at
// 1,500 events per one-minute window (67 windows, over 4 partitions) through
// the daemon, with a store that takes 50 ms over every write and with one that
// discards, and reports both rates and their ratio: writes overlap checking,
// so the store's latency must not stall consumption. Goal: a ratio of at
// least 0.9. Each iteration alternates five drains of each; medians.
func BenchmarkDaemonSlowStore(b *testing.B) {
	c := kafkatest.Start(b, kafkatest.Topic{Name: "events", Partitions: 4})
	// An event every 40 ms of event time: 1,500 a minute.
	c.Seed(b, "events", benchEvents, func(i int, buf []byte) []byte { return kafkatest.Event(40*i, buf) })
	m := eventModel(b)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	const rounds = 5
	var fast, slow, ratios []float64
	group := 0
	for b.Loop() {
		for range rounds {
			group++
			f := float64(benchEvents-1) / drainDaemonInto(b, c, m, log, fmt.Sprintf("fast-%d", group), newMemStore(), benchEvents).Seconds()
			s := float64(benchEvents-1) / drainDaemonInto(b, c, m, log, fmt.Sprintf("slow-%d", group),
				slowStore{newMemStore(), 50 * time.Millisecond}, benchEvents).Seconds()
			fast, slow, ratios = append(fast, f), append(slow, s), append(ratios, s/f)
		}
	}
	b.ReportMetric(median(slow), "events/s")
	b.ReportMetric(median(fast), "discarding_events/s")
	b.ReportMetric(median(ratios), "ratio")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
