package analyze

import "math"

// heavyTailed reports whether a feature's training distribution, given by
// its mean, standard deviation and QuantilePoints quantiles of finite
// values, has tails so heavy that a window's mean moves with its largest
// value more than with the feature's level: one value in a thousand windows
// of a few hundred Cauchy-like ratios lies past 10⁵ and moves its window's
// mean by a few hundred, where the training values' standard deviation
// (itself set by the sample's largest few) puts the mean's sampling spread
// at about one, and on healthy traffic the anomaly detector flagged such
// means at 10–50σ. Their detector watches the feature's distribution
// statistics instead, which no single value moves far.
//
// The test: the spread that the tails alone give the mean of heavyAt values
// (meanTail.scale) is more than the standard deviation, which the central
// limit theorem makes the mean's where the tails are light. Log-normal
// amounts (σ = 1.1: 1.7–2.4 times), Pareto incomes (shape 2.5) and Cauchy
// ratios pass it; normal, uniform, exponential and geometric values (at most
// 0.6 times) do not.
func heavyTailed(mean, std float64, quantiles []float64, finite float64) bool {
	t := newMeanTail(mean, quantiles, finite)
	return t.scale(heavyAt) > std
}

// heavyAt is the window size at which heavyTailed compares: drift.min_samples'
// default, the fewest values a window's distribution statistics are judged
// on, where the tails weigh most.
const heavyAt = 100

// meanTail is what a feature's training distribution says of how far the
// mean of a window's n values strays by chance through its largest value.
// Each tail beyond the baseline's quantiles is a generalised Pareto
// distribution, its shape by Pickands' estimator from three upper (lower)
// quantiles; the zero value has no tails.
type meanTail struct {
	mean         float64
	upper, lower paretoTail
}

// paretoTail extrapolates a tail's quantiles past a sample's reach: beyond u,
// exceeded with probability pu, the excess is generalised Pareto with scale
// beta and shape xi.
type paretoTail struct {
	u, pu, beta, xi float64
}

// Pickands' estimator reads the quantiles at 1−p, 1−p/4 and 1−p/16 of the
// upper tail (p, p/4, p/16 of the lower): a far tail holds more of what
// shapes it, but the quantiles must stay where the sample has values to
// spare, at least tailValues beyond the farthest, and their spacings wide
// enough that a sample's noise does not decide the shape (with steps of 2
// rather than 4, a Pareto tail of shape 0.4 read from 20,000 values came out
// at 0).
const (
	tailShare  = 0.04
	tailValues = 25
)

// Bounds on the tail's shape: a light tail is extrapolated as an exponential
// one (whose far quantiles still stay within a few standard deviations of
// the mean, where the standard deviation rules), and noise in a short
// sample's quantiles cannot make the mean of a window infinite.
const (
	minShape = 0
	maxShape = 1.5
)

// newMeanTail reads the tails from the baseline's quantiles (QuantilePoints
// of them, evenly spaced from 0 to 1) of finite values.
func newMeanTail(mean float64, quantiles []float64, finite float64) meanTail {
	if len(quantiles) < 3 || finite < 8*tailValues {
		return meanTail{}
	}
	p := min(max(tailShare, 16*tailValues/finite), 0.5)
	q := func(x float64) float64 { return interpolate(quantiles, x) }
	t := meanTail{mean: mean}
	t.upper = newParetoTail(q(1-p), q(1-p/4), q(1-p/16), p/4)
	t.lower = newParetoTail(-q(p), -q(p/4), -q(p/16), p/4)
	return t
}

// newParetoTail fits the tail beyond x2 (exceeded with probability p2) from
// the quantiles x1 ≤ x2 ≤ x3 exceeded with probability 4·p2, p2 and p2/4.
func newParetoTail(x1, x2, x3, p2 float64) paretoTail {
	a, b := x2-x1, x3-x2
	if !(a > 0 && b > 0) {
		// Ties: a discrete tail, or a bounded one reached; the sample's
		// spacing says nothing of a shape, and the exponential stands.
		return paretoTail{u: x2, pu: p2, beta: math.Max(math.Max(a, b), 0) / (2 * math.Ln2)}
	}
	xi := min(max(math.Log2(b/a)/2, minShape), maxShape)
	beta := b / (2 * math.Ln2)
	if xi > 0 {
		beta = xi * b / (math.Pow(4, xi) - 1)
	}
	return paretoTail{u: x2, pu: p2, beta: beta, xi: xi}
}

// quantile is the value exceeded with probability p < pu.
func (t paretoTail) quantile(p float64) float64 {
	r := t.pu / p
	if t.xi == 0 {
		return t.u + t.beta*math.Log(r)
	}
	return t.u + t.beta/t.xi*(math.Pow(r, t.xi)-1)
}

// meanTailZ is the normal score at which the scale is matched to the tails:
// the mean's spread is judged where the detector's alarms lie, a few
// standard errors out, not at its centre.
const meanTailZ = 4

// scale returns the standard deviation a window's mean of n values has as
// far as its tails go: that at which a normal mean strays meanTailZ
// standard errors as often as one value alone, at the tail's quantile of
// that chance in n, moves the mean of the n as far. It is 0 without tails.
func (t meanTail) scale(n float64) float64 {
	if (t.upper.beta == 0 && t.lower.beta == 0) || !(n >= 1) {
		return 0
	}
	chance := 0.5 * math.Erfc(meanTailZ/math.Sqrt2) / n
	far := 0.0
	if t.upper.beta > 0 && chance < t.upper.pu {
		far = t.upper.quantile(chance) - t.mean
	}
	if t.lower.beta > 0 && chance < t.lower.pu {
		far = max(far, t.lower.quantile(chance)+t.mean)
	}
	return max(far, 0) / n * math.Sqrt(n) / meanTailZ
}

// interpolate reads the quantile at x in [0, 1] from evenly spaced
// quantiles.
func interpolate(quantiles []float64, x float64) float64 {
	pos := x * float64(len(quantiles)-1)
	i := int(pos)
	if i >= len(quantiles)-1 {
		return quantiles[len(quantiles)-1]
	}
	f := pos - float64(i)
	return quantiles[i] + f*(quantiles[i+1]-quantiles[i])
}
