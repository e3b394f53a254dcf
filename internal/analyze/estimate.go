package analyze

import (
	"fmt"
	"math"

	"github.com/sentinel-ml/sentinel/internal/cbpe"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/stats"
)

// Least labels a window needs before its realised quality is compared with
// the estimate: the tests would not breach on fewer anyway, and a gap over a
// dozen labels is noise on a dashboard. The AUC needs both classes, which
// Hanley and McNeil's variance, a normal approximation, wants in numbers.
const (
	minGapLabelled = 30
	minGapClass    = 10
)

// estimator estimates the quality of a calibrated probability model's
// windows before their labels arrive (package cbpe), and compares the
// estimate with the labels that do.
type estimator struct {
	cal *cbpe.Calibration
	// alpha is the relative accuracy of the windows' prediction sketches.
	alpha float64
	// gap is the contract's prediction.max_quality_gap.
	gap float64
	// atoms is scratch for the window's probabilities.
	atoms []stats.Atom
}

// newEstimator returns the model's estimator, or nil when its baseline has
// no calibration.
func newEstimator(m *model.Model) (*estimator, error) {
	c := m.Baseline.Calibration
	if c == nil {
		return nil, nil
	}
	if k := m.PredictionKind(); k != config.Probability {
		return nil, fmt.Errorf("model %s: the baseline calibrates probabilities, but the contract's predictions are %s", m.Name(), k)
	}
	return &estimator{cal: &c.Calibration, alpha: m.Baseline.RelativeAccuracy, gap: m.Contract.Prediction.QualityGap()}, nil
}

// check reports the window's estimated accuracy and AUC from its
// predictions' atoms (ascending, from the window's sketch) and, when labels
// joined in the window (perf, over the pairs of labelled), how far the
// realised values fall short of the estimate for the same predictions.
// Labels join in the window their message arrives in, so with delayed labels
// the window's own predictions are other traffic than the labelled ones: the
// gap compares like with like, and a shift in the inputs that changes what
// the model can do (which the estimate follows) is not taken for concept
// drift (which it cannot).
func (e *estimator) check(r *results, predictions []stats.Atom, labelled *labels.Performance, perf *labels.Metrics) {
	e.atoms = cbpe.ProbabilityAtoms(append(e.atoms[:0], predictions...), e.alpha)
	est := e.cal.Estimate(e.atoms)
	if est.Predictions == 0 {
		return
	}
	const name = check.PredictionFeature
	r.add(check.Performance, name, check.EstimatedAccuracy, est.Accuracy, check.NoThreshold(), check.Above)
	r.add(check.Performance, name, check.EstimatedAUC, est.AUC, check.NoThreshold(), check.Above)
	if perf == nil || perf.Accuracy == nil || perf.Count < minGapLabelled {
		return
	}
	e.atoms = e.atoms[:0]
	labelled.Scores(func(score float64, n uint64) {
		e.atoms = append(e.atoms, stats.Atom{X: score, W: float64(n)})
	})
	e.atoms = cbpe.ProbabilityAtoms(e.atoms, 0)
	if est = e.cal.Estimate(e.atoms); est.Predictions == 0 {
		return
	}
	n := perf.Count
	correct := int64(math.Round(*perf.Accuracy * float64(n)))
	r.add(check.Performance, name, check.AccuracyGap, est.Accuracy-*perf.Accuracy, e.gap, check.Above)
	last := &r.out[len(r.out)-1]
	last.Breached = last.Breached && cbpe.AccuracyFellShort(est, correct, n, e.gap, rateAlpha)
	if perf.AUC == nil || perf.LabelPositiveRate == nil || math.IsNaN(est.AUC) {
		return
	}
	pos := int64(math.Round(*perf.LabelPositiveRate * float64(n)))
	if min(pos, n-pos) < minGapClass {
		return
	}
	r.add(check.Performance, name, check.AUCGap, est.AUC-*perf.AUC, e.gap, check.Above)
	last = &r.out[len(r.out)-1]
	last.Breached = last.Breached && cbpe.AUCFellShort(est, *perf.AUC, pos, n-pos, e.gap, rateAlpha)
}
