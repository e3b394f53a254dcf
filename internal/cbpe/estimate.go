package cbpe

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/sentinel-ml/sentinel/internal/stats"
)

// Threshold is the decision threshold of the predicted class: a probability
// at or above it predicts the positive class, as the realised accuracy
// counts it.
const Threshold = 0.5

// Estimate is the expected quality of a set of predictions.
type Estimate struct {
	// Predictions counts the predictions it is over.
	Predictions float64
	// Accuracy is the expected share of predictions that will match their
	// label: a prediction at or above Threshold is right with its calibrated
	// probability, one below it with one minus that.
	Accuracy float64
	// AUC is the area under the expected ROC curve, each prediction counting
	// as p̂ of a positive and 1−p̂ of a negative at its calibrated probability
	// p̂; NaN when no positive or no negative is expected.
	AUC float64
	// Positives and Negatives are the expected counts, Σp̂ and Σ(1−p̂).
	Positives, Negatives float64
	// CorrectVariance is the variance, over the predictions, of each one's
	// chance of being right: the estimated accuracy's sampling error, as a
	// sample of the traffic, is its square root over √Predictions.
	CorrectVariance float64
}

// Estimate computes the expected quality of predictions given as atoms:
// distinct probabilities in ascending order, each with its count (a window's
// sketch, or exact values). It is one pass over the atoms, with the map's
// thresholds walked alongside. Ranking by calibrated probability, as NannyML
// does, orders the atoms as their raw values do, because the map never
// decreases; atoms it maps to one value are ties, which the area counts ½,
// and that is what ordering them would give too, since each is p̂ positive
// and 1−p̂ negative alike.
//
// The area is the trapezoids' under the expected curve from (0, 0) to
// (1, 1). NannyML's estimate_roc_auc appends a threshold of 1, a phantom
// positive that moves the area by O(1/n); the reference script computes both.
func (c *Calibration) Estimate(atoms []stats.Atom) Estimate {
	cur := cursor{xs: c.X, ys: c.Y}
	var e Estimate
	var correct, correctSq, pairs float64
	for _, a := range atoms {
		q := min(max(a.X, 0), 1)
		if c.Method == Isotonic {
			q = cur.at(a.X)
		}
		right := q
		if a.X < Threshold {
			right = 1 - q
		}
		pos, neg := a.W*q, a.W*(1-q)
		// This atom's positives rank above the negatives seen so far and tie
		// with its own.
		pairs += pos * (e.Negatives + neg/2)
		e.Positives += pos
		e.Negatives += neg
		e.Predictions += a.W
		correct += a.W * right
		correctSq += a.W * right * right
	}
	if e.Predictions == 0 {
		return Estimate{Accuracy: math.NaN(), AUC: math.NaN(), CorrectVariance: math.NaN()}
	}
	e.Accuracy = correct / e.Predictions
	e.CorrectVariance = max(correctSq/e.Predictions-e.Accuracy*e.Accuracy, 0)
	e.AUC = math.NaN()
	if e.Positives > 0 && e.Negatives > 0 {
		e.AUC = pairs / (e.Positives * e.Negatives)
	}
	return e
}

// ExactAtoms returns probabilities as atoms: their distinct values in
// ascending order, each with its count. It sorts p.
func ExactAtoms(p []float64) []stats.Atom {
	slices.Sort(p)
	var out []stats.Atom
	for _, x := range p {
		if n := len(out); n > 0 && out[n-1].X == x {
			out[n-1].W++
			continue
		}
		out = append(out, stats.Atom{X: x, W: 1})
	}
	return out
}

// ProbabilityAtoms keeps, in place, the atoms of a sketch of relative
// accuracy alpha that can hold probabilities: negative values are not
// probabilities, and an atom above 1 holds values in [0, 1] only when it is
// within alpha of 1 (the bucket that holds 1 may be represented above it);
// such atoms are taken as 1. Values outside [0, 1] are the numerical checks'
// business, and the realised metrics skip them too.
func ProbabilityAtoms(atoms []stats.Atom, alpha float64) []stats.Atom {
	out := atoms[:0]
	for _, a := range atoms {
		switch {
		case a.X < 0 || a.X > 1+alpha || a.W <= 0:
			continue
		case a.X > 1:
			a.X = 1
		}
		if n := len(out); n > 0 && out[n-1].X == a.X {
			out[n-1].W += a.W
			continue
		}
		out = append(out, a)
	}
	return out
}

// AccuracyFellShort reports whether correct right predictions of n labelled
// are significantly fewer (at level alpha) than an accuracy of the estimate
// less tolerance would give. The estimate's own sampling error is allowed
// for by testing against its lower confidence limit at the same level, so
// that a quiet window's uncertain estimate does not make a finding. The test
// is the exact binomial one: a handful of labels cannot breach.
func AccuracyFellShort(e Estimate, correct, n int64, tolerance, alpha float64) bool {
	if n <= 0 || math.IsNaN(e.Accuracy) {
		return false
	}
	z := distuv.UnitNormal.Quantile(1 - alpha)
	p0 := e.Accuracy - tolerance - z*math.Sqrt(e.CorrectVariance/e.Predictions)
	if p0 <= 0 || float64(correct) >= p0*float64(n) {
		return false
	}
	return binomialAtMost(correct, n, min(p0, 1)) < alpha
}

// binomialAtMost is P(X ≤ k) for X ~ Binomial(n, p), 0 < p ≤ 1.
func binomialAtMost(k, n int64, p float64) float64 {
	if k >= n {
		return 1
	}
	if p >= 1 {
		return 0
	}
	// P(X ≤ k) = I_{1−p}(n−k, k+1), the regularised incomplete beta function.
	return mathext.RegIncBeta(float64(n-k), float64(k+1), 1-p)
}

// AUCFellShort reports whether a realised AUC over positives and negatives
// labelled is significantly (at level alpha) below the estimate less
// tolerance: a one-sided z-test whose variance is the realised AUC's at the
// tested value plus the estimate's own, each by Hanley and McNeil's formula
// (the estimate's over its expected positives and negatives).
func AUCFellShort(e Estimate, auc float64, positives, negatives int64, tolerance, alpha float64) bool {
	if positives <= 0 || negatives <= 0 || math.IsNaN(e.AUC) || math.IsNaN(auc) {
		return false
	}
	limit := e.AUC - tolerance
	if !(auc < limit) {
		return false
	}
	v := aucVariance(min(max(limit, 0.5), 1), float64(positives), float64(negatives)) +
		aucVariance(e.AUC, e.Positives, e.Negatives)
	if !(v > 0) {
		return false
	}
	return (limit-auc)/math.Sqrt(v) > distuv.UnitNormal.Quantile(1-alpha)
}

// aucVariance is Hanley and McNeil's (1982) variance of an AUC of a measured
// over p positives and n negatives.
func aucVariance(a, p, n float64) float64 {
	if p <= 0 || n <= 0 {
		return math.Inf(1)
	}
	q1, q2 := a/(2-a), 2*a*a/(1+a)
	return (a*(1-a) + (p-1)*(q1-a*a) + (n-1)*(q2-a*a)) / (p * n)
}
