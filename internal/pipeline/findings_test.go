package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// TestFindingsExplain: every finding says in words what its numbers are, in
// the metric's direction and units, and an anomaly's causes label value,
// expectation, deviation and contribution.
func TestFindingsExplain(t *testing.T) {
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	res := func(kind check.Kind, feature, metric string, value, threshold float64) check.Result {
		return check.Result{Model: "fraud", WindowStart: start, WindowEnd: start.Add(5 * time.Minute), Kind: kind,
			Feature: feature, Metric: metric, Value: value, Threshold: threshold, Breached: true}
	}
	for _, tc := range []struct {
		name string
		b    store.Batch
		want []string // one explanation per finding
	}{
		{"ratio above its threshold", store.Batch{Results: []check.Result{res(check.Quality, "age", check.NullRatio, 0.1733, 0.05)}},
			[]string{"quality check of feature age: null_ratio is 0.1733 (17.33%), above the threshold 0.05 (5%). Share of the window's events whose value of the feature is null"}},
		{"p-value below its threshold", store.Batch{Results: []check.Result{res(check.Skew, "country", "chi2_p_value", 1e-9, 0.001)}},
			[]string{"skew check of feature country: chi2_p_value is 1e-09, below the threshold 0.001. p-value of the chi-square test"}},
		{"seconds of the model", store.Batch{Results: []check.Result{res(check.Staleness, "", check.SecondsSinceEvent, 912, 300)}},
			[]string{"staleness check of the model: seconds_since_last_event is 912 s, above the threshold 300 s. Wall-clock seconds"}},
		{"a metric the catalogue does not know", store.Batch{Results: []check.Result{res(check.Quality, check.PredictionFeature, "frobs", 3, math.NaN())}},
			[]string{"quality check of the predictions: frobs is 3."}},
		{"anomaly with its threshold", store.Batch{
			Results: []check.Result{res(check.Anomaly, "", check.Score, 300, 3.4771)},
			Anomalies: []check.Verdict{{Model: "fraud", WindowStart: start, Score: 300, Anomaly: true, Statistic: "constant",
				Causes: []check.Cause{{Metric: "schema.errors", Actual: 4, Expected: 0, Contribution: 1}}}},
		}, []string{"anomaly score 300 (the cap) is at or above the threshold 3.48: the window is flagged. The score is -log10 of the estimated chance " +
			"that a healthy window looks this unusual, capped at 300: here below 1 in 10^300; a healthy window reaches the threshold about once " +
			`in 3,000 windows. Highest on "constant": a metric that never changed in training changed.`}},
		{"unflagged verdicts print nothing", store.Batch{Anomalies: []check.Verdict{{Model: "fraud", WindowStart: start, Score: 1}}}, nil},
		// A window with no events has no latency: JSON has no NaN, so the
		// cause's value and deviation are null.
		{"a cause without a value", store.Batch{
			Results: []check.Result{res(check.Anomaly, "", check.Score, 44.87, 3.54)},
			Anomalies: []check.Verdict{{Model: "fraud", WindowStart: start, Score: 44.87, Anomaly: true, Statistic: "residual",
				Causes: []check.Cause{{Metric: "latency_ms_p99", Actual: math.NaN(), Expected: 28.93, Contribution: 0.05}}}},
		}, []string{"anomaly score 44.87 is at or above the threshold 3.54"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			f := NewFindingsWriter(&out)
			if err := f.Write(context.Background(), tc.b); err != nil {
				t.Fatal(err)
			}
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if out.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("%d findings, want %d:\n%s", len(lines), len(tc.want), out.String())
			}
			for i, line := range lines {
				var fd Finding
				if err := json.Unmarshal([]byte(line), &fd); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(fd.Explanation, tc.want[i]) {
					t.Errorf("explanation %q\nwant it to start %q", fd.Explanation, tc.want[i])
				}
				for _, c := range fd.Causes {
					if c.Metric == "latency_ms_p99" {
						if !strings.Contains(line, `"actual":null,"expected":28.93,"deviation":null`) || !math.IsNaN(float64(c.Actual)) {
							t.Errorf("a cause without a value written %s, read back %+v", line, c)
						}
						continue
					}
					want := "schema.errors: value 4, expected 0, deviation +4; contribution 100% of the anomaly's evidence"
					if c.Deviation != c.Actual-c.Expected || c.Contribution != 1 || c.Explanation != want {
						t.Errorf("cause %+v, want deviation 4, contribution 1 and %q", c, want)
					}
				}
			}
		})
	}
}
