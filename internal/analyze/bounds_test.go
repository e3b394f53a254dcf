package analyze

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/cbpe"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func exampleModel(t testing.TB) *model.Model { return modeltest.Example(t, "../../examples/fraud") }

// worstWindow is a window in which every check has something to report.
func worstWindow(t *testing.T, m *model.Model, start time.Time) *window.Window {
	t.Helper()
	w, err := window.New(m, start, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, cf := range m.Contract.Features {
		f := w.Features.Features[i]
		f.AddNull()
		f.AddMissing()
		f.AddWrongType()
		for j := range 20 {
			switch cf.Type {
			case config.Numeric:
				f.AddNumber(float64(20 + j))
			case config.Categorical:
				f.AddString([]byte(cf.Categories[j%len(cf.Categories)]))
			default:
				f.AddBool(j%2 == 0)
			}
		}
		switch cf.Type {
		case config.Numeric:
			f.AddNumber(math.NaN())
			f.AddNumber(math.Inf(1))
			f.AddNumber(1e9) // out of range
		case config.Categorical:
			f.AddString([]byte("never-seen"))
		}
	}
	w.Features.UnexpectedOther = 1
	for _, x := range []float64{math.NaN(), math.Inf(1), 1.5, 0.2, 0.7} {
		w.Prediction.AddNumber(x)
		w.Events++
	}
	w.ProbabilityOutOfRange = 1
	w.Prediction.AddMissing()
	w.Latency.AddNumber(12)
	// Enough labels of each class for the gaps between estimated and
	// realised quality.
	for i := range 2 * minGapLabelled {
		w.AddPair(m, labels.Pair{Prediction: labels.Value{Num: float64(i%8) / 8}, Label: labels.Value{Num: float64(i % 2)}})
	}
	w.BadLabels = 1
	w.KeyedCompared = make([]uint64, len(m.Contract.Features))
	w.KeyedMismatch = make([]uint64, len(m.Contract.Features))
	for i := range w.KeyedCompared {
		w.KeyedCompared[i], w.KeyedMismatch[i] = 2, 1
	}
	return w
}

// TestBounds: a window in which every check has something to report stays
// within the catalogue's bounds, feature by feature and for the model's own
// metrics, and reaches them: the catalogue knows every result the checks make.
func TestBounds(t *testing.T) {
	t.Run("example", func(t *testing.T) { testBounds(t, exampleModel(t)) })
	t.Run("calibrated", func(t *testing.T) {
		m := exampleModel(t)
		m.Baseline.Calibration = &profile.Calibration{Calibration: cbpe.Calibration{Method: cbpe.Uncalibrated, Rows: 1000, Positives: 300}}
		results := testBounds(t, m)
		for _, metric := range []string{check.EstimatedAccuracy, check.EstimatedAUC, check.AccuracyGap, check.AUCGap} {
			if !slices.ContainsFunc(results, func(r check.Result) bool { return r.Metric == metric }) {
				t.Errorf("no %s among the results of a calibrated model's window", metric)
			}
		}
	})
}

// testBounds checks two windows of m against the catalogue's bounds and
// returns the second one's results.
func testBounds(t *testing.T, m *model.Model) []check.Result {
	a, err := New(Options{Models: []*model.Model{m}, Window: time.Minute, ReferencePeriod: time.Minute, MinSamples: 1,
		MaxMismatchRatio: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	// The second window has a previous window and a completed reference period.
	var b store.Batch
	if err := a.Check(context.Background(), m, worstWindow(t, m, t0), &b); err != nil {
		t.Fatal(err)
	}
	b = store.Batch{}
	if err := a.Check(context.Background(), m, worstWindow(t, m, t0.Add(time.Minute)), &b); err != nil {
		t.Fatal(err)
	}
	// The detector's score joins the published results.
	results := append(b.Results, check.Result{Kind: check.Anomaly, Metric: check.Score, Value: 1, Threshold: 3})

	type count struct{ watched, thresholded int }
	counts := map[string]*count{}
	for i := range results {
		r := &results[i]
		if _, ok := a.cat.Lookup(r); !ok {
			t.Errorf("%s %s %s is not in the catalogue", r.Kind, r.Feature, r.Metric)
		}
		part := r.Feature
		if part == check.PredictionFeature {
			part = ""
		}
		c := counts[part]
		if c == nil {
			c = &count{}
			counts[part] = c
		}
		if a.cat.Watched(r) {
			c.watched++
		}
		if r.HasThreshold() {
			c.thresholded++
		}
	}
	pred := m.PredictionDrift().Method
	ownW, ownT := a.cat.Bounds(nil, pred)
	if c := counts[""]; c == nil || c.watched > ownW || c.thresholded > ownT {
		t.Errorf("model: %+v, bounds %d, %d", c, ownW, ownT)
	}
	for _, f := range m.Contract.Features {
		w, th := a.cat.Bounds([]config.Feature{f}, pred)
		w, th = w-ownW, th-ownT
		c := counts[f.Name]
		if c == nil || c.watched > w || c.thresholded > th {
			t.Errorf("%s: %+v, bounds %d, %d", f.Name, c, w, th)
		}
		// A numeric feature with a range reports everything it can.
		if f.Name == "amount" && (c.watched != w || c.thresholded != th) {
			t.Errorf("%s: %+v, want the bounds %d, %d reached", f.Name, c, w, th)
		}
	}
	if len(counts) != len(m.Contract.Features)+1 {
		t.Errorf("results for %d parts, want every feature and the model: %v", len(counts), fmt.Sprint(counts))
	}
	return results
}
