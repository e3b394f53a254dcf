package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// memStore is a Store that keeps nothing: the benchmark measures the daemon,
// not ClickHouse.
type memStore struct{}

func (memStore) Write(context.Context, store.Batch) error { return nil }
func (memStore) ClosedWindows(context.Context) (map[string]time.Time, error) {
	return map[string]time.Time{}, nil
}
func (memStore) Results(context.Context, string, time.Time) ([]check.Result, error) {
	return nil, nil
}
func (memStore) Profiles(context.Context, string, time.Time) ([]store.WindowProfile, error) {
	return nil, nil
}
func (memStore) References(context.Context, string, time.Time) ([]store.ReferenceSummary, error) {
	return nil, nil
}
func (memStore) Ping(context.Context) error { return nil }

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

// counting is a Source that signals when n messages have been delivered.
type counting struct {
	Source
	n     int
	seen  int
	first time.Time
	last  time.Time
	once  sync.Once
	done  chan struct{}
}

func (c *counting) Fetch(ctx context.Context) (ingest.Message, error) {
	m, err := c.Source.Fetch(ctx)
	if err == nil {
		c.seen++
		switch c.seen {
		case 1:
			c.first = time.Now()
		case c.n:
			c.last = time.Now()
			c.once.Do(func() { close(c.done) })
		}
	}
	return m, err
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

// drainDaemon runs a daemon on a new consumer group until it has fetched the
// whole topic, and returns the time from its first message to its last.
func drainDaemon(b *testing.B, c *kafkatest.Cluster, m *model.Model, log *slog.Logger, group string) time.Duration {
	src, err := ingest.NewKafkaSource(ingest.KafkaOptions{KafkaConn: ingest.KafkaConn{Brokers: c.Brokers()},
		GroupID: group, Topics: []string{"events"}})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	cs := &counting{Source: src, n: benchEvents, done: make(chan struct{})}
	d, err := New(Options{
		Pipeline: pipeline.Options{Models: []*model.Model{m}, Window: time.Minute, Lateness: 5 * time.Second,
			ReferencePeriod: time.Hour, MinSamples: 100, MaxMessageBytes: 1 << 20, Now: time.Now, Registerer: prometheus.NewRegistry(), Logger: log},
		Source: cs, Store: memStore{}, TickEvery: time.Second, CommitEvery: time.Second, Logger: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	<-cs.done
	if err := d.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	return cs.last.Sub(cs.first)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
