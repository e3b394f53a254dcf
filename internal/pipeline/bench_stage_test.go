package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
)

// releasing is a sink that makes every share durable at once: the profile
// stage alone, without the checks.
type releasing struct{}

func (releasing) Deliver(_ context.Context, d *Delta) error {
	d.Done()
	return nil
}

func (releasing) Progress(_ context.Context, p *Progress) error {
	p.Done()
	return nil
}

// BenchmarkProfileStage is the admission side's rate with 1 and 2 workers,
// each on its own goroutine and partition, fed from memory: decode,
// validate, profile 20 features, hand shares over. What two workers reach
// over one is how far a process scales with the cores it has (run it with
// -cpu 2; the goal is 1.7× on two cores).
func BenchmarkProfileStage(b *testing.B) {
	m := wideModel(b)
	events := wideEvents(100_000)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := NewSides(Options{Models: []*model.Model{m}, Window: time.Minute, Lateness: 5 * time.Second, ReferencePeriod: time.Hour,
					MinSamples: 100, MaxMessageBytes: 1 << 20, Writer: discard{}, Now: time.Now, Partitions: workers,
					Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				errs := make(chan error, workers)
				for p := range workers {
					w, err := s.NewWorker(p, releasing{})
					if err != nil {
						b.Fatal(err)
					}
					wg.Go(func() {
						ctx := context.Background()
						now := time.Now()
						for k, e := range events {
							if err := w.Process(ctx, ingest.Message{Topic: "events", Partition: p, Offset: int64(k), Value: e}, now); err != nil {
								errs <- err
								return
							}
						}
						errs <- w.Flush(ctx)
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(events)*workers)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// twoStageShape is a stream BenchmarkTwoStageCost runs through both paths.
type twoStageShape struct {
	name   string
	models []*model.Model
	lane   []string // the models' names, which a report read back closes
	events [][]byte
	// warm is how many of events, from the first, go before the clock
	// starts: two windows.
	warm int
}

// twoStageShapes are one model at 60,000 events a window, where a share's
// record is spread over many events, and 100 models of 50 features at 50
// events a window, where every window's share costs about what its events
// do.
func twoStageShapes(b *testing.B) []twoStageShape {
	fl := fleet(b, "fleet", 100, 40, 10)
	shapes := []twoStageShape{
		{name: "wide", models: []*model.Model{wideModel(b)}, events: wideEvents(240_000), warm: 120_000},
		{name: "fleet", models: fl, events: shape{models: fl, numeric: 40, categorical: 10, perMinute: 50}.events(100 * 50 * 12), warm: 100 * 50 * 2},
	}
	for k := range shapes {
		for _, m := range shapes[k].models {
			shapes[k].lane = append(shapes[k].lane, m.Name())
		}
	}
	return shapes
}

// runTwoStage processes the shape's events once, directly or (staged)
// through the partials records, and returns the CPU the events after the
// warm ones took; the timer runs for them alone. With none it builds the
// pipeline and processes nothing: what a count of a whole process's
// instructions subtracts.
func runTwoStage(b *testing.B, sh twoStageShape, staged, none bool) time.Duration {
	b.StopTimer()
	s, err := NewSides(Options{Models: sh.models, Window: time.Minute, Lateness: 5 * time.Second, ReferencePeriod: time.Hour,
		MinSamples: 100, MaxMessageBytes: 1 << 20, Writer: discard{}, Now: time.Now, Partitions: 1, SharedWindows: staged,
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	var sink Sink = s.Checker
	if staged {
		sink = &viaRecords{s: s, tb: b, lane: sh.lane}
	}
	w, err := s.NewWorker(0, sink)
	if err != nil {
		b.Fatal(err)
	}
	if none {
		b.StartTimer()
		return 0
	}
	ctx := context.Background()
	now := time.Now().UTC().Round(0) // as a record reads it back
	var began time.Duration
	for k, e := range sh.events {
		if k == sh.warm {
			b.StartTimer()
			began = cpuTime(b)
		}
		if err := w.Process(ctx, ingest.Message{Topic: "events", Offset: int64(k), Value: e}, now); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.Checker.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return cpuTime(b) - began
}

// BenchmarkTwoStageCost is the whole of one partition's work, admission to
// windows checked and written (to a store that discards), on one worker:
// direct, as a single process does, and through the records of the
// partials topic, as the two stages do without the broker between them,
// on each of twoStageShapes. Each iteration runs both, one after the other
// and in alternating order, so that a machine whose speed swings from one
// minute to the next (as shared ones do by a third) swings both alike;
// records-extra-% is the two-stage path's CPU over the direct one's. The
// goal is under 10% (run with -cpu 1). The first windows' events are
// processed before the clock starts: a daemon runs for days, and what its
// first windows allocate (every model's windows, on each side) is not a
// cost per event.
func BenchmarkTwoStageCost(b *testing.B) {
	for _, sh := range twoStageShapes(b) {
		b.Run(sh.name, func(b *testing.B) {
			b.ReportAllocs()
			var direct, staged time.Duration
			first := false
			for b.Loop() {
				first = !first
				for _, records := range []bool{!first, first} {
					if took := runTwoStage(b, sh, records, false); records {
						staged += took
					} else {
						direct += took
					}
				}
			}
			n := float64(len(sh.events)-sh.warm) * float64(b.N)
			b.ReportMetric(float64(direct.Nanoseconds())/n, "direct-cpu-ns/event")
			b.ReportMetric(float64(staged.Nanoseconds())/n, "records-cpu-ns/event")
			b.ReportMetric(100*(staged.Seconds()/direct.Seconds()-1), "records-extra-%")
		})
	}
}

// BenchmarkTwoStagePath runs one path of BenchmarkTwoStageCost, or only
// builds the pipeline (setup), an iteration: for a count of the
// instructions each path takes (scripts/twostage-instructions.sh), which
// a machine's swings in speed do not blur. A count of the whole process
// less setup's is one path's work on every window, the first ones too.
func BenchmarkTwoStagePath(b *testing.B) {
	for _, sh := range twoStageShapes(b) {
		for _, path := range []string{"setup", "direct", "records"} {
			b.Run(sh.name+"/"+path, func(b *testing.B) {
				for b.Loop() {
					runTwoStage(b, sh, path == "records", path == "setup")
				}
			})
		}
	}
}
