package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// wideModel is the benchmark model of the issue: 20 features, 12 numeric and 8
// categorical.
func wideModel(b testing.TB) *model.Model {
	return modeltest.Generated(b, "wide", 12, 8, 8, "nullable: true, min: -1000, max: 1000", "categories: [c0, c1, c2, c3, c4, c5, c6, c7]")
}

// wideEvents returns n events of the wide model, 1,000 per second of event time.
func wideEvents(n int) [][]byte {
	r := rand.New(rand.NewPCG(2, 2))
	out := make([][]byte, n)
	var sb strings.Builder
	for k := range out {
		sb.Reset()
		at := t0.Add(time.Duration(k) * time.Millisecond)
		fmt.Fprintf(&sb, `{"model": "wide", "model_version": "v1", "request_id": "r-%d", "timestamp": %q, "features": {`, k, at.Format(time.RFC3339Nano))
		for i := 0; i < 20; i++ {
			if i > 0 {
				sb.WriteString(", ")
			}
			if i < 12 {
				fmt.Fprintf(&sb, `"n%d": %.3f`, i, r.NormFloat64()*float64(i+1))
			} else {
				fmt.Fprintf(&sb, `"c%d": "c%d"`, i-12, r.IntN(8))
			}
		}
		fmt.Fprintf(&sb, `}, "prediction": %.4f, "latency_ms": %.1f}`, r.Float64(), 5+r.Float64()*20)
		out[k] = []byte(sb.String())
	}
	return out
}

type discard struct{}

func (discard) Write(context.Context, store.Batch) error { return nil }

// BenchmarkReplay is the pipeline's cost per event: decode, validate, profile 20
// features, and the checks of each closed one-minute window. Goal: 500,000
// events/s on one core.
func BenchmarkReplay(b *testing.B) {
	m := wideModel(b)
	events := wideEvents(200_000)
	// Traced, spans go through the SDK's batcher to an exporter that drops
	// them: the cost of tracing on, less the network. Goal: within 2% of
	// untraced.
	for _, variant := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"untraced", nil},
		{"traced", sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))},
	} {
		b.Run(variant.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := New(Options{Models: []*model.Model{m}, Window: time.Minute, Lateness: 5 * time.Second, ReferencePeriod: time.Hour,
					MinSamples: 100, MaxMessageBytes: 1 << 20, Writer: discard{}, Now: time.Now,
					Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
					TracerProvider: variant.tp})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				for k, e := range events {
					if err := p.Process(ctx, ingest.Message{Topic: "events", Offset: int64(k), Value: e}); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
