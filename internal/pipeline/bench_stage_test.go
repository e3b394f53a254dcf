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
