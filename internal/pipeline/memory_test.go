package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
)

// manyModels returns n models of 50 features each (35 numeric, 15 categorical)
// sharing one baseline, as a daemon monitoring a fleet holds them.
func manyModels(b *testing.B, n int) []*model.Model {
	b.Helper()
	base := modeltest.Generated(b, "m", 35, 15, 20, "nullable: true", "nullable: false")
	models := make([]*model.Model, n)
	for i := range models {
		c := *base.Contract
		c.Model = fmt.Sprintf("model-%03d", i)
		bl := *base.Baseline
		bl.Model = c.Model
		var err error
		if models[i], err = model.New(&c, &bl); err != nil {
			b.Fatal(err)
		}
	}
	return models
}

// heap is the heap after a collection: live is what is reachable, inUse the
// spans holding it, which also counts the free slots among live objects that
// churn leaves (the allocator does not move objects).
type heap struct{ live, inUse float64 }

func measureHeap() heap {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return heap{live: float64(m.HeapAlloc) / (1 << 20), inUse: float64(m.HeapInuse) / (1 << 20)}
}

// BenchmarkMemory100Models runs ten minutes of event time for 100 models of 50
// features (one-minute windows, 100 events per model and minute) and reports the
// heap in use and the live heap after the first minute, the second and the
// tenth. Goal: no growth — what the pipeline keeps per model is sized when the
// model is configured (summaries, published results, the detector's history
// until its first fit), so after the first minute, before any window has
// closed, it is all there; later windows are allocated among the freed memory
// of earlier ones. The heap in use also counts the free slots that this churn
// leaves among live objects: it moves by a few percent from run to run.
func BenchmarkMemory100Models(b *testing.B) {
	models := manyModels(b, 100)
	r := rand.New(rand.NewPCG(5, 5))
	var buf []byte
	event := func(model string, at time.Time) []byte {
		buf = append(buf[:0], `{"model": "`...)
		buf = append(buf, model...)
		buf = append(buf, `", "timestamp": "`...)
		buf = at.AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, `", "features": {`...)
		for i := 0; i < 50; i++ {
			if i > 0 {
				buf = append(buf, ", "...)
			}
			if i < 35 {
				buf = fmt.Appendf(buf, `"n%d": %.3f`, i, r.NormFloat64()*float64(i+1))
			} else {
				buf = fmt.Appendf(buf, `"c%d": "c%d"`, i-35, r.IntN(20))
			}
		}
		buf = fmt.Appendf(buf, `}, "prediction": %.3f}`, r.Float64())
		return buf
	}
	var first, second, last heap
	for b.Loop() {
		p, err := New(Options{Models: models, Window: time.Minute, Lateness: 5 * time.Second, ReferencePeriod: time.Hour,
			MinSamples: 50, MaxMessageBytes: 1 << 20, Writer: discard{}, Now: time.Now,
			Anomaly:    &analyze.AnomalyOptions{FitAfter: 60, HistoryWindows: 2880, FalseAlarmRate: 0.002},
			Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		offset := int64(0)
		for minute := 0; minute < 10; minute++ {
			for k := 0; k < 100; k++ {
				at := t0.Add(time.Duration(minute)*time.Minute + time.Duration(k)*600*time.Millisecond)
				for _, m := range models {
					offset++
					if err := p.Process(ctx, ingest.Message{Topic: "events", Offset: offset, Value: event(m.Name(), at)}); err != nil {
						b.Fatal(err)
					}
				}
			}
			switch minute {
			case 0:
				first = measureHeap()
			case 1:
				second = measureHeap()
			case 9:
				last = measureHeap()

			}
		}
		runtime.KeepAlive(p)
	}
	b.ReportMetric(first.inUse, "MB_after_1min")
	b.ReportMetric(second.inUse, "MB_after_2min")
	b.ReportMetric(last.inUse, "MB_after_10min")
	b.ReportMetric(last.inUse/first.inUse, "growth")
	b.ReportMetric(first.live, "live_MB_after_1min")
	b.ReportMetric(second.live, "live_MB_after_2min")
	b.ReportMetric(last.live, "live_MB_after_10min")
	b.ReportMetric(last.live/first.live, "live_growth")
}
