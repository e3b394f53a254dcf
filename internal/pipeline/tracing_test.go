package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/tracing"
)

// TestTracesWindows: a span per window checked, with the checks and the
// detector under it, named for its model and window, and the trace id in the
// log line of the same window.
func TestTracesWindows(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	var logs bytes.Buffer
	opts := testOptions(exampleModel(t), &recorder{})
	opts.Window = 5 * time.Minute
	opts.Anomaly = &analyze.AnomalyOptions{FitAfter: 3, HistoryWindows: 10, FalseAlarmRate: 0.002}
	opts.TracerProvider, opts.Logger = tp, slog.New(slog.NewJSONHandler(&logs, nil))
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: example + "/events.jsonl", MaxLineBytes: 4097})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := Replay(context.Background(), src, p); err != nil {
		t.Fatal(err)
	}
	windows, children := 0, map[string]int{}
	ids := map[string]bool{}
	for _, s := range exp.GetSpans() {
		switch s.Name {
		case tracing.SpanWindow:
			windows++
			ids[s.SpanContext.TraceID().String()] = true
			model := ""
			for _, a := range s.Attributes {
				if a.Key == "sentinel.model" {
					model = a.Value.AsString()
				}
			}
			if model != "fraud" {
				t.Errorf("window span of model %q", model)
			}
		case tracing.SpanChecks, tracing.SpanAnomaly:
			children[s.Name]++
			if !s.Parent.IsValid() {
				t.Errorf("%s span without a parent", s.Name)
			}
		}
	}
	st := p.Stats()
	if uint64(windows) != st.Windows || children[tracing.SpanChecks] != windows || children[tracing.SpanAnomaly] != windows {
		t.Errorf("%d window spans, %v children, for %d windows", windows, children, st.Windows)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"window closed"`) {
			i := strings.Index(line, `"trace_id":"`)
			if i < 0 || !ids[line[i+12:i+44]] {
				t.Errorf("log line without the trace id of its window's span: %s", line)
			}
		}
	}
}
