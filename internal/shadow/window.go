package shadow

import (
	"fmt"
	"math"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

// Window is what one event-time window knows of a model's shadow pair: the
// pairs completed in it and the requests given up unpaired in it. Windows of
// one model from several partitions merge exactly.
type Window struct {
	kind config.PredictionKind
	// Pairs counts the pairs; Disagree those whose decisions differ.
	Pairs, Disagree uint64
	// sum and comp are a compensated sum of the absolute differences, so that
	// the mean of a million pairs is not off by their rounding; diffs holds
	// them for quantiles. Both only for numeric kinds.
	sum, comp float64
	diffs     *profile.Sketch
	Unpaired
}

// NewWindow returns an empty window of a model whose predictions are of kind.
func NewWindow(kind config.PredictionKind) *Window {
	w := &Window{kind: kind}
	if kind != config.Class {
		// The accuracy is valid, so NewSketch cannot fail.
		w.diffs, _ = profile.NewSketch(profile.DefaultRelativeAccuracy)
	}
	return w
}

// decisionThreshold turns probabilities and scores into decisions, as the
// label join's accuracy does: at or above it is the positive class.
func decisionThreshold(kind config.PredictionKind) (float64, bool) {
	switch kind {
	case config.Probability:
		return 0.5, true
	case config.Score:
		return 0, true
	}
	return 0, false
}

// Add counts a pair.
func (w *Window) Add(p Pair) {
	w.Pairs++
	if w.kind == config.Class {
		if p.Reference.Class != p.Candidate.Class {
			w.Disagree++
		}
		return
	}
	if t, ok := decisionThreshold(w.kind); ok && (p.Reference.Num >= t) != (p.Candidate.Num >= t) {
		w.Disagree++
	}
	d := math.Abs(p.Candidate.Num - p.Reference.Num)
	// Neumaier's summation: the compensation carries what each addition drops.
	s := w.sum + d
	if math.Abs(w.sum) >= d {
		w.comp += (w.sum - s) + d
	} else {
		w.comp += (d - s) + w.sum
	}
	w.sum = s
	w.diffs.Add(d)
}

// AddUnpaired counts requests given up unpaired.
func (w *Window) AddUnpaired(u Unpaired) {
	w.ReferenceOnly += u.ReferenceOnly
	w.CandidateOnly += u.CandidateOnly
	w.Evicted += u.Evicted
}

// Merge adds o, the same model's share of the same window, to w.
func (w *Window) Merge(o *Window) error {
	if o.kind != w.kind {
		return fmt.Errorf("merging shadow pairs of %s predictions into %s ones", o.kind, w.kind)
	}
	w.Pairs += o.Pairs
	w.Disagree += o.Disagree
	w.AddUnpaired(o.Unpaired)
	if w.diffs != nil {
		// Adding the other's compensated sum as two terms keeps both parts.
		w.sum, w.comp = w.sum+o.sum, w.comp+o.comp
		return w.diffs.Merge(o.diffs)
	}
	return nil
}

// MeanDifference is the mean absolute difference of the pairs' predictions;
// NaN without pairs or for classes.
func (w *Window) MeanDifference() float64 {
	if w.diffs == nil || w.Pairs == 0 {
		return math.NaN()
	}
	return (w.sum + w.comp) / float64(w.Pairs)
}

// DifferenceQuantile is the q-quantile of the absolute differences (by the
// lower rank, within the sketch's relative accuracy); NaN without pairs or
// for classes.
func (w *Window) DifferenceQuantile(q float64) float64 {
	if w.diffs == nil {
		return math.NaN()
	}
	return w.diffs.Quantile(q)
}

// Results reports the window as check results of kind shadow, thresholds
// from the contract's shadow block. A window with neither pairs nor requests
// given up reports nothing: the versions did not both serve.
func (w *Window) Results(model string, start, end time.Time, s *config.Shadow) []check.Result {
	unpaired := w.ReferenceOnly + w.CandidateOnly
	if w.Pairs+unpaired+w.Evicted == 0 {
		return nil
	}
	out := make([]check.Result, 0, 9)
	add := func(metric string, v, threshold float64) {
		out = append(out, check.Result{Model: model, WindowStart: start, WindowEnd: end, Kind: check.Shadow, Metric: metric,
			Value: v, Threshold: threshold, Breached: check.Breaches(v, threshold, check.Above)})
	}
	add(check.Pairs, float64(w.Pairs), check.NoThreshold())
	if _, ok := decisionThreshold(w.kind); (ok || w.kind == config.Class) && w.Pairs > 0 {
		limit := check.NoThreshold()
		if s.MaxDisagreement != nil {
			limit = *s.MaxDisagreement
		}
		add(check.DisagreementRatio, float64(w.Disagree)/float64(w.Pairs), limit)
	}
	if w.diffs != nil && w.Pairs > 0 {
		add(check.AbsDifferenceMean, w.MeanDifference(), check.NoThreshold())
		add(check.AbsDifferenceP50, w.DifferenceQuantile(0.5), check.NoThreshold())
		add(check.AbsDifferenceP95, w.DifferenceQuantile(0.95), check.NoThreshold())
	}
	if seen := w.Pairs + unpaired; seen > 0 {
		limit := config.DefaultMaxUnpairedRatio
		if s.MaxUnpairedRatio != nil {
			limit = *s.MaxUnpairedRatio
		}
		add(check.UnpairedRatio, float64(unpaired)/float64(seen), limit)
	}
	add(check.ReferenceOnly, float64(w.ReferenceOnly), check.NoThreshold())
	add(check.CandidateOnly, float64(w.CandidateOnly), check.NoThreshold())
	add(check.Evicted, float64(w.Evicted), check.NoThreshold())
	return out
}
