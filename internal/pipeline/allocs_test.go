package pipeline

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
)

// TestEventsAllocateNothing: once its windows are recycled, the pipeline
// admits events — decoding, profiling, the label join — without allocating
// for them: in the steady state, closing a window allocates (its checks and
// rows, shared by its events), and a window's sketches widen now and then to
// a value beyond any seen: 4 times in these 500 events of the third minute,
// in every run, while the recycled windows' ranges are still widening, once
// by the sixth. The label join takes a chunk of slots per 4,096 requests a
// model holds, and the ten models' joins each take their second in the
// span measured: 4 more per run. (When windows were kept in a sync.Pool,
// which garbage collections emptied, and each made a new Performance for
// its labels, it was 4 to 9 from run to run.) An allocation per event would
// show as a thousand here. The shape is BenchmarkReplayLabelJoin's, with ten models:
// 25 events a second each, request ids, a third labelled.
func TestEventsAllocateNothing(t *testing.T) {
	const n = 10
	models := fleet(t, "wide", n, 12, 8)
	// Three minutes: the first windows close and are recycled by the third.
	events := shape{models: models, numeric: 12, categorical: 8, perMinute: 25 * 60, labelled: true}.events(3 * n * 25 * 60 * 4 / 3)
	p, err := New(Options{Models: models, Window: time.Minute, Lateness: 5 * time.Second, ReferencePeriod: time.Hour,
		MinSamples: 100, MaxMessageBytes: 1 << 20, Labels: &labels.JoinerConfig{MaxDelay: 24 * time.Hour, MaxPending: 1_000_000},
		Writer: discard{}, Now: time.Now, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	process := func(k int) {
		if err := p.Process(ctx, ingest.Message{Topic: "events", Offset: int64(k), Value: events[k]}); err != nil {
			t.Fatal(err)
		}
	}
	// Up to the middle of the third minute; its windows opened recycled.
	mid := len(events) * 5 / 6
	for k := range mid {
		process(k)
	}
	k := mid
	const batch = 500
	allocs := testing.AllocsPerRun(5, func() {
		for range batch {
			process(k)
			k++
		}
	})
	if allocs > 10 {
		t.Errorf("%v allocations per %d events within a window", allocs, batch)
	}
	t.Logf("%v allocations per %d events within a window", allocs, batch)
}
