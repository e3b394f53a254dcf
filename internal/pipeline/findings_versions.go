package pipeline

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// WindowSummary is, for replay, a window's shadow comparison or version mix
// in one line, breached or not: what a person comparing two versions on
// yesterday's traffic reads beside the findings.
type WindowSummary struct {
	// Summary is "shadow" (Values by metric) or "versions" (Values: events
	// by version label).
	Summary     string            `json:"summary"`
	Model       string            `json:"model"`
	WindowStart time.Time         `json:"window_start"`
	WindowEnd   time.Time         `json:"window_end"`
	Values      map[string]Number `json:"values"`
}

// writeSummaries prints a line per window and model of the batch that has
// shadow results, and one per window and model with a version mix.
func (f *FindingsWriter) writeSummaries(enc *json.Encoder, results []check.Result) error {
	var lines []*WindowSummary
	at := map[string]*WindowSummary{}
	for i := range results {
		r := &results[i]
		var kind, key string
		switch {
		case r.Kind == check.Shadow:
			kind, key = "shadow", r.Metric
		case r.Kind == check.Availability && r.Metric == check.Events:
			kind = "versions"
			key, _ = check.VersionOf(r.Feature)
		default:
			continue
		}
		id := kind + "\x00" + r.Model + "\x00" + r.WindowStart.String()
		s := at[id]
		if s == nil {
			s = &WindowSummary{Summary: kind, Model: r.Model, WindowStart: r.WindowStart, WindowEnd: r.WindowEnd, Values: map[string]Number{}}
			at[id] = s
			lines = append(lines, s)
		}
		s.Values[key] = Number(r.Value)
	}
	for _, s := range lines {
		if err := enc.Encode(s); err != nil {
			return fmt.Errorf("writing window summary: %w", err)
		}
	}
	return nil
}
