package labels

import (
	"fmt"
	"math"
	"slices"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// DefaultExactAUCLimit is how many pairs a window holds for the exact AUC before it
// folds them into buckets: 100,000 pairs take 800 kB, a little less than the
// buckets (1.2 MB for probabilities, 1.5 MB for scores), so memory per window stays
// under 1.5 MB whatever its size.
const DefaultExactAUCLimit = 100_000

// logLossEps clips probabilities as sklearn's log_loss did with eps=1e-15, so that a
// confident miss costs about 34.5 rather than +Inf.
const logLossEps = 1e-15

// PerformanceConfig says how a window's predictions are scored against labels.
type PerformanceConfig struct {
	Kind config.PredictionKind
	// Threshold turns probabilities and scores into classes for accuracy: a
	// prediction ≥ Threshold predicts the positive class. Nil means 0.5 for
	// probabilities and 0 for scores (the sign of a margin or logit).
	Threshold *float64
	// ExactAUCLimit is the number of pairs kept for the exact AUC; beyond it the AUC
	// comes from buckets with a reported error bound. Zero means DefaultExactAUCLimit.
	ExactAUCLimit int
}

// Performance accumulates one model's quality over one window from joined pairs.
// Windows of the same model from different partitions combine with Merge. It is not
// safe for concurrent use.
type Performance struct {
	kind      config.PredictionKind
	threshold float64
	limit     int
	bucket    func(float64) (int, int)

	n, correct, positives int64
	sumPred, logLoss      sum
	absErr, sqErr, err    sum

	// pos and neg hold the scores for the exact AUC until limit pairs are seen;
	// then they are folded into bins and released.
	pos, neg []float64
	bins     aucBins
	binned   bool
}

// Metrics is a window's quality. Metrics that are undefined for the window (an
// empty window, an AUC with one class) or do not apply to the kind are nil, so
// that JSON never carries NaN.
type Metrics struct {
	Kind  config.PredictionKind `json:"kind"`
	Count int64                 `json:"count"`
	// Accuracy is the share of predictions equal to their label; probabilities and
	// scores are compared after thresholding.
	Accuracy *float64 `json:"accuracy,omitempty"`
	// AUC is the ROC AUC with ties counted ½, as sklearn's roc_auc_score.
	AUC *float64 `json:"auc,omitempty"`
	// AUCErrorBound is set when the AUC came from buckets: the reported AUC is
	// within this distance of the exact one.
	AUCErrorBound *float64 `json:"auc_error_bound,omitempty"`
	// LogLoss is the mean binary cross-entropy (natural log), probabilities only.
	LogLoss *float64 `json:"log_loss,omitempty"`
	// LabelPositiveRate is the share of positive labels.
	LabelPositiveRate *float64 `json:"label_positive_rate,omitempty"`
	// MeanPrediction is the mean probability or score.
	MeanPrediction *float64 `json:"mean_prediction,omitempty"`
	MAE            *float64 `json:"mae,omitempty"`
	RMSE           *float64 `json:"rmse,omitempty"`
	// MeanError is the mean of prediction − label: positive when the model
	// over-predicts.
	MeanError *float64 `json:"mean_error,omitempty"`
}

// NewPerformance returns an empty accumulator.
func NewPerformance(cfg PerformanceConfig) (*Performance, error) {
	p := &Performance{kind: cfg.Kind, limit: cfg.ExactAUCLimit}
	if p.limit == 0 {
		p.limit = DefaultExactAUCLimit
	}
	if p.limit < 0 {
		return nil, fmt.Errorf("drift: exact AUC limit %d is negative", cfg.ExactAUCLimit)
	}
	switch cfg.Kind {
	case config.Probability:
		p.threshold, p.bucket = 0.5, bucketProb
	case config.Score:
		p.threshold, p.bucket = 0, bucketScore
	case config.Class, config.Regression:
		if cfg.Threshold != nil {
			return nil, fmt.Errorf("drift: a threshold does not apply to %s predictions", cfg.Kind)
		}
	default:
		return nil, fmt.Errorf("drift: unknown prediction kind %q", cfg.Kind)
	}
	if cfg.Threshold != nil {
		if math.IsNaN(*cfg.Threshold) || math.IsInf(*cfg.Threshold, 0) {
			return nil, fmt.Errorf("drift: threshold %g is not finite", *cfg.Threshold)
		}
		p.threshold = *cfg.Threshold
	}
	return p, nil
}

// Reset empties p for another window of the same configuration, keeping the
// memory of the scores held for the exact AUC: a window recycled through its
// pool then scores its pairs without growing that again.
func (p *Performance) Reset() {
	p.n, p.correct, p.positives = 0, 0, 0
	p.sumPred, p.logLoss, p.absErr, p.sqErr, p.err = sum{}, sum{}, sum{}, sum{}, sum{}
	p.pos, p.neg = p.pos[:0], p.neg[:0]
	// Buckets are a window's past its exact limit, a megabyte or more: they
	// are let go rather than kept for the rare window that needs them again.
	p.bins, p.binned = aucBins{}, false
}

// Add scores one prediction against its label. It returns an error wrapping
// ErrInvalidValue, and counts nothing, when the pair does not fit the kind (values
// from a ValueParser always fit).
func (p *Performance) Add(prediction, label Value) error {
	switch p.kind {
	case config.Probability, config.Score:
		x, y := prediction.Num, label.Num
		if math.IsNaN(x) || math.IsInf(x, 0) || (p.kind == config.Probability && (x < 0 || x > 1)) {
			return fmt.Errorf("%w: %s prediction %g", ErrInvalidValue, p.kind, x)
		}
		if y != 0 && y != 1 {
			return fmt.Errorf("%w: %s label %g is not 0 or 1", ErrInvalidValue, p.kind, y)
		}
		positive := y == 1
		p.n++
		p.sumPred.add(x)
		if (x >= p.threshold) == positive {
			p.correct++
		}
		if positive {
			p.positives++
		}
		if p.kind == config.Probability {
			q := min(max(x, logLossEps), 1-logLossEps)
			if positive {
				p.logLoss.add(-math.Log(q))
			} else {
				p.logLoss.add(-math.Log(1 - q))
			}
		}
		p.addScore(x, positive)
	case config.Class:
		p.n++
		if prediction.Class == label.Class {
			p.correct++
		}
	case config.Regression:
		x, y := prediction.Num, label.Num
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
			return fmt.Errorf("%w: regression pair (%g, %g) is not finite", ErrInvalidValue, x, y)
		}
		p.n++
		d := x - y
		p.err.add(d)
		p.absErr.add(math.Abs(d))
		p.sqErr.add(d * d)
	}
	return nil
}

func (p *Performance) addScore(x float64, positive bool) {
	if !p.binned && len(p.pos)+len(p.neg) >= p.limit {
		p.fold()
	}
	switch {
	case p.binned:
		p.bins.add(p.bucket, x, positive, 1)
	case positive:
		p.pos = append(p.pos, x)
	default:
		p.neg = append(p.neg, x)
	}
}

func (p *Performance) fold() {
	for _, x := range p.pos {
		p.bins.add(p.bucket, x, true, 1)
	}
	for _, x := range p.neg {
		p.bins.add(p.bucket, x, false, 1)
	}
	p.pos, p.neg, p.binned = nil, nil, true
}

// Merge adds o's pairs to p, as for one model's window summed over partitions. The
// AUC stays exact while the two together hold at most p's limit of pairs. o is not
// changed.
func (p *Performance) Merge(o *Performance) error {
	if p.kind != o.kind || p.threshold != o.threshold {
		return fmt.Errorf("drift: cannot merge %s performance (threshold %g) into %s (threshold %g)",
			o.kind, o.threshold, p.kind, p.threshold)
	}
	p.n += o.n
	p.correct += o.correct
	p.positives += o.positives
	p.sumPred.merge(o.sumPred)
	p.logLoss.merge(o.logLoss)
	p.absErr.merge(o.absErr)
	p.sqErr.merge(o.sqErr)
	p.err.merge(o.err)
	if !p.binned && !o.binned && len(p.pos)+len(p.neg)+len(o.pos)+len(o.neg) <= p.limit {
		p.pos = append(p.pos, o.pos...)
		p.neg = append(p.neg, o.neg...)
		return nil
	}
	if !p.binned {
		p.fold()
	}
	p.bins.merge(&o.bins)
	for _, x := range o.pos {
		p.bins.add(p.bucket, x, true, 1)
	}
	for _, x := range o.neg {
		p.bins.add(p.bucket, x, false, 1)
	}
	return nil
}

// Metrics reports the window so far. For an exact AUC it sorts the held scores,
// O(n log n) in the window's size, so it is meant for window close, not per event.
func (p *Performance) Metrics() Metrics {
	m := Metrics{Kind: p.kind, Count: p.n}
	if p.n == 0 {
		return m
	}
	n := float64(p.n)
	switch p.kind {
	case config.Probability, config.Score:
		m.Accuracy = ptr(float64(p.correct) / n)
		m.LabelPositiveRate = ptr(float64(p.positives) / n)
		m.MeanPrediction = ptr(p.sumPred.value() / n)
		if p.kind == config.Probability {
			m.LogLoss = ptr(p.logLoss.value() / n)
		}
		if p.binned {
			if auc, bound, ok := p.bins.auc(); ok {
				m.AUC, m.AUCErrorBound = ptr(auc), ptr(bound)
			}
		} else if auc, ok := exactAUC(p.pos, p.neg); ok {
			m.AUC = ptr(auc)
		}
	case config.Class:
		m.Accuracy = ptr(float64(p.correct) / n)
	case config.Regression:
		m.MAE = ptr(p.absErr.value() / n)
		m.RMSE = ptr(math.Sqrt(p.sqErr.value() / n))
		m.MeanError = ptr(p.err.value() / n)
	}
	return m
}

func ptr(x float64) *float64 { return &x }

// sum is Neumaier's compensated sum: a window can hold millions of log-loss terms
// of very different sizes, and plain summation would drift from the reference.
type sum struct{ s, c float64 }

func (k *sum) add(x float64) {
	t := k.s + x
	if math.Abs(k.s) >= math.Abs(x) {
		k.c += (k.s - t) + x
	} else {
		k.c += (x - t) + k.s
	}
	k.s = t
}

func (k *sum) merge(o sum) {
	k.add(o.s)
	k.add(o.c)
}

func (k sum) value() float64 { return k.s + k.c }

// Scores calls fn with the scores of the labelled predictions, in ascending
// order, and how many predictions had each: exactly while the window holds
// them one by one, then one score per bucket (the first one the bucket saw,
// within its 2^-9 relative width of the others). A probability model's
// estimated quality is compared with its realised quality over these, the
// same predictions, whenever their labels arrived.
func (p *Performance) Scores(fn func(score float64, n uint64)) {
	if p.binned {
		for i := range p.bins.pos {
			if n := p.bins.pos[i] + p.bins.neg[i]; n > 0 {
				fn(p.bins.value[i], n)
			}
		}
		return
	}
	// Sorted in place, as Metrics sorts them for the exact AUC (the order
	// they are held in means nothing), and walked together: a window's close
	// then allocates nothing for them.
	slices.Sort(p.pos)
	slices.Sort(p.neg)
	pos, neg := p.pos, p.neg
	for len(pos) > 0 || len(neg) > 0 {
		var x float64
		switch {
		case len(neg) == 0 || (len(pos) > 0 && pos[0] <= neg[0]):
			x = pos[0]
		default:
			x = neg[0]
		}
		var n uint64
		for len(pos) > 0 && pos[0] == x {
			pos, n = pos[1:], n+1
		}
		for len(neg) > 0 && neg[0] == x {
			neg, n = neg[1:], n+1
		}
		fn(x, n)
	}
}
