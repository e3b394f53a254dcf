package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// Finding is one breached check or flagged anomaly, as replay prints it.
type Finding struct {
	Model       string     `json:"model"`
	WindowStart time.Time  `json:"window_start"`
	WindowEnd   time.Time  `json:"window_end"`
	Kind        check.Kind `json:"kind"`
	Feature     string     `json:"feature"`
	Metric      string     `json:"metric"`
	Value       float64    `json:"value"`
	Threshold   *float64   `json:"threshold"`
	// Statistic is, for an anomaly, what scored the window highest.
	Statistic string `json:"statistic,omitempty"`
	// Explanation says in words what the value is and why it is a finding,
	// so that a line is read without the documentation at hand.
	Explanation string         `json:"explanation"`
	Causes      []FindingCause `json:"causes,omitempty"`
}

// FindingCause is a metric blamed for an anomaly: its value and the
// detector's forecast in the metric's units, how far apart they are, and its
// share of the blame.
type FindingCause struct {
	Metric string `json:"metric"`
	// Actual is null when the window has no value of the metric (a window
	// without events has no latency), and Deviation then too.
	Actual   Number `json:"actual"`
	Expected Number `json:"expected"`
	// Deviation is Actual - Expected.
	Deviation Number `json:"deviation"`
	// Contribution is the metric's share of the anomaly's evidence, in [0, 1]:
	// how much of the score is blamed on it, not how far it moved.
	Contribution float64 `json:"contribution"`
	Explanation  string  `json:"explanation"`
}

// FindingsWriter is a store.Writer that prints findings as JSON lines: what a
// person trying thresholds on yesterday's traffic wants to read.
type FindingsWriter struct {
	w        *bufio.Writer
	cat      *check.Catalogue
	Findings uint64
}

// NewFindingsWriter writes to w; call Flush at the end.
func NewFindingsWriter(w io.Writer) *FindingsWriter {
	return &FindingsWriter{w: bufio.NewWriter(w), cat: check.NewCatalogue()}
}

// Write prints the batch's breached results and anomalies, and the shadow
// comparison and version mix of its windows.
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
		fd.Explanation = f.explainCheck(&r)
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
			Metric: check.Score, Value: a.Score, Statistic: a.Statistic}
		facts := anomaly.VerdictFacts{Score: a.Score, Threshold: math.NaN(), Anomaly: a.Anomaly, Statistic: a.Statistic}
		if t, ok := anomalyThreshold[a.Model+a.WindowStart.String()]; ok {
			fd.Threshold, facts.Threshold = &t, t
		}
		fd.Explanation = facts.Explain()
		for _, c := range a.Causes {
			fd.Causes = append(fd.Causes, FindingCause{Metric: c.Metric, Actual: Number(c.Actual), Expected: Number(c.Expected),
				Deviation: Number(c.Actual - c.Expected), Contribution: c.Contribution,
				Explanation: anomaly.CauseFacts{Metric: c.Metric, Actual: c.Actual, Expected: c.Expected, Contribution: c.Contribution, Detail: c.Detail}.Explain()})
		}
		if err := enc.Encode(fd); err != nil {
			return fmt.Errorf("writing finding: %w", err)
		}
		f.Findings++
	}
	return f.writeSummaries(enc, b.Results)
}

// explainCheck says what a breached check measured, its value and threshold
// in the metric's units, and which side of the threshold breaks it:
// "quality check of feature age: null_ratio is 0.1733 (17.33%), above the
// threshold 0.05 (5%). Share of …".
func (f *FindingsWriter) explainCheck(r *check.Result) string {
	m, known := f.cat.Lookup(r)
	unit := ""
	if known {
		unit = m.Unit
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s check of %s: %s is %s", r.Kind, subject(r.Feature), r.Metric, valueText(r.Value, unit))
	if !math.IsNaN(r.Threshold) {
		side := "above"
		if known && m.Breach == check.Below {
			side = "below"
		}
		fmt.Fprintf(&b, ", %s the threshold %s", side, valueText(r.Threshold, unit))
	}
	b.WriteString(".")
	if r.Detail != "" {
		fmt.Fprintf(&b, " %s.", r.Detail)
	}
	if known {
		fmt.Fprintf(&b, " %s", m.Help)
	}
	return b.String()
}

// subject names what a result is about.
func subject(feature string) string {
	if v, ok := check.VersionOf(feature); ok {
		return "version " + v
	}
	switch feature {
	case "":
		return "the model"
	case check.PredictionFeature:
		return "the predictions"
	}
	return "feature " + feature
}

// valueText writes a value to four significant digits in the catalogue's
// unit: ratios also as percentages, durations with their unit.
func valueText(v float64, unit string) string {
	s := strconv.FormatFloat(v, 'g', 4, 64)
	switch unit {
	case "ratio":
		if v != 0 {
			s += " (" + strconv.FormatFloat(100*v, 'g', 4, 64) + "%)"
		}
	case "milliseconds":
		s += " ms"
	case "seconds":
		s += " s"
	}
	return s
}

// Flush writes out what is buffered.
func (f *FindingsWriter) Flush() error { return f.w.Flush() }

// WriteRaw appends a line that is not a finding, such as replay's summary.
func (f *FindingsWriter) WriteRaw(b []byte) (int, error) { return f.w.Write(b) }

// Number is a float64 that JSON writes as null when it is missing (NaN) or
// infinite, which JSON has no number for, and reads back from null as NaN.
type Number float64

// MarshalJSON writes n as encoding/json writes a float64, or null.
func (n Number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads a number, or null as NaN.
func (n *Number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Number(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Number(f)
	return nil
}
