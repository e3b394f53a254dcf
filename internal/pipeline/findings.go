package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// Finding is one breached check or flagged anomaly, as replay prints it.
type Finding struct {
	Model       string         `json:"model"`
	WindowStart time.Time      `json:"window_start"`
	WindowEnd   time.Time      `json:"window_end"`
	Kind        check.Kind     `json:"kind"`
	Feature     string         `json:"feature"`
	Metric      string         `json:"metric"`
	Value       float64        `json:"value"`
	Threshold   *float64       `json:"threshold"`
	Causes      []FindingCause `json:"causes,omitempty"`
}

// FindingCause is a metric blamed for an anomaly.
type FindingCause struct {
	Metric   string  `json:"metric"`
	Actual   float64 `json:"actual"`
	Expected float64 `json:"expected"`
}

// FindingsWriter is a store.Writer that prints findings as JSON lines: what a
// person trying thresholds on yesterday's traffic wants to read.
type FindingsWriter struct {
	w        *bufio.Writer
	Findings uint64
}

// NewFindingsWriter writes to w; call Flush at the end.
func NewFindingsWriter(w io.Writer) *FindingsWriter {
	return &FindingsWriter{w: bufio.NewWriter(w)}
}

// Write prints the batch's breached results and anomalies.
func (f *FindingsWriter) Write(_ context.Context, b store.Batch) error {
	enc := json.NewEncoder(f.w)
	anomalyThreshold := make(map[string]float64)
	for _, r := range b.Results {
		if r.Kind == check.Anomaly {
			anomalyThreshold[r.Model+r.WindowStart.String()] = r.Threshold
		}
	}
	for _, r := range b.Results {
		// Anomalies are printed from b.Anomalies, with their causes.
		if !r.Breached || r.Kind == check.Anomaly || math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			continue
		}
		fd := Finding{Model: r.Model, WindowStart: r.WindowStart, WindowEnd: r.WindowEnd, Kind: r.Kind,
			Feature: r.Feature, Metric: r.Metric, Value: r.Value}
		if !math.IsNaN(r.Threshold) {
			t := r.Threshold
			fd.Threshold = &t
		}
		if err := enc.Encode(fd); err != nil {
			return fmt.Errorf("writing finding: %w", err)
		}
		f.Findings++
	}
	for _, a := range b.Anomalies {
		if !a.Anomaly {
			continue
		}
		fd := Finding{Model: a.Model, WindowStart: a.WindowStart, WindowEnd: a.WindowEnd, Kind: check.Anomaly,
			Metric: check.Score, Value: a.Score}
		if t, ok := anomalyThreshold[a.Model+a.WindowStart.String()]; ok {
			fd.Threshold = &t
		}
		for _, c := range a.Causes {
			fd.Causes = append(fd.Causes, FindingCause{Metric: c.Metric, Actual: c.Actual, Expected: c.Expected})
		}
		if err := enc.Encode(fd); err != nil {
			return fmt.Errorf("writing finding: %w", err)
		}
		f.Findings++
	}
	return nil
}

// Flush writes out what is buffered.
func (f *FindingsWriter) Flush() error { return f.w.Flush() }

// WriteRaw appends a line that is not a finding, such as replay's summary.
func (f *FindingsWriter) WriteRaw(b []byte) (int, error) { return f.w.Write(b) }
