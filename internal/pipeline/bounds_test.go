package pipeline

import (
	"fmt"
	"math"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/drift"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// TestResultBounds: a window in which every check has something to report stays
// within resultBounds, feature by feature and for the model's own metrics, and
// a numeric feature reaches its bound (the window is the worst case).
func TestResultBounds(t *testing.T) {
	m := exampleModel(t)
	opts := testOptions(m, &recorder{})
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ms := p.models[m.Name()]
	worst := func() *window {
		w, err := newWindow(m, t0, opts.Window)
		if err != nil {
			t.Fatal(err)
		}
		for i, cf := range m.Contract.Features {
			f := w.features.Features[i]
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
		w.features.UnexpectedOther = 1
		for _, x := range []float64{math.NaN(), math.Inf(1), 1.5, 0.2, 0.7} {
			w.prediction.AddNumber(x)
			w.events++
		}
		w.probabilityOutOfRange = 1
		w.prediction.AddMissing()
		w.latency.AddNumber(12)
		for i := range 4 {
			w.addPair(m, drift.Pair{Prediction: drift.Value{Num: float64(i) / 4}, Label: drift.Value{Num: float64(i % 2)}})
		}
		w.badLabels = 1
		w.keyedCompared = make([]uint64, len(m.Contract.Features))
		w.keyedMismatch = make([]uint64, len(m.Contract.Features))
		for i := range w.keyedCompared {
			w.keyedCompared[i], w.keyedMismatch[i] = 2, 1
		}
		return w
	}
	if err := ms.prev.add(worst()); err != nil {
		t.Fatal(err)
	}
	if err := ms.ref.add(worst()); err != nil {
		t.Fatal(err)
	}
	ms.prev.empty, ms.ref.empty = false, false
	results := check(m, worst(), ms.prev.orNil(), ms.ref.orNil(), ms.baseline, 1)
	results = keyedResults(m, worst(), 0.1, results)
	// The detector's score joins the published results.
	results = append(results, store.CheckResult{Kind: KindAnomaly, Metric: "score", Value: 1, Threshold: 3})

	type count struct{ watched, thresholded int }
	counts := map[string]*count{}
	for _, r := range results {
		part := r.Feature
		if part == "prediction" {
			part = ""
		}
		c := counts[part]
		if c == nil {
			c = &count{}
			counts[part] = c
		}
		if watched(r) {
			c.watched++
		}
		if !math.IsNaN(r.Threshold) {
			c.thresholded++
		}
	}
	// A bound of the model's own metrics is what is left of the bounds of a
	// model without features.
	ownWatched, ownThresholded := resultBounds(&Model{Contract: &config.Contract{}})
	featureWatched, featureThresholded := resultBounds(&Model{Contract: &config.Contract{Features: make([]config.Feature, 1)}})
	featureWatched, featureThresholded = featureWatched-ownWatched, featureThresholded-ownThresholded
	for part, c := range counts {
		wantW, wantT := featureWatched, featureThresholded
		if part == "" {
			wantW, wantT = ownWatched, ownThresholded
		}
		if c.watched > wantW || c.thresholded > wantT {
			t.Errorf("%q: %d watched, %d thresholded; bounds %d, %d", part, c.watched, c.thresholded, wantW, wantT)
		}
	}
	if c := counts["amount"]; c == nil || c.watched != featureWatched || c.thresholded != featureThresholded {
		t.Errorf("amount: %+v, want the bounds %d, %d reached", c, featureWatched, featureThresholded)
	}
	if len(counts) != len(m.Contract.Features)+1 {
		t.Errorf("results for %d parts, want every feature and the model: %v", len(counts), fmt.Sprint(counts))
	}
}
