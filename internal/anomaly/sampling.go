package anomaly

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// SamplingKind names the sampling distribution of a window statistic: what
// spread the statistic has from the window's finite sample alone, when nothing
// changed.
type SamplingKind uint8

// The sampling kinds the detector models. The fields of Sampling each kind reads
// are given with it; the others are ignored.
const (
	// SamplingUnknown: nothing is known about how the value was measured; the
	// metric is judged on its history alone, as by Fit and Score.
	SamplingUnknown SamplingKind = iota
	// SamplingCount: the value counts independent events in the window (the
	// window's events): Poisson, with a variance equal to the expected count,
	// and never below one. No field is read.
	SamplingCount
	// SamplingRate: the value is the share of N items that have some property
	// (null, out-of-range, unknown-category or error ratios; accuracy):
	// binomial. N is the number of items.
	SamplingRate
	// SamplingMean: the mean of N values whose standard deviation in the window
	// is Scale.
	SamplingMean
	// SamplingQuantile: a quantile of N values. Scale is √(q(1−q))/f(x_q), the
	// quantile's standard error times √N; from a sketch, √(q(1−q))·(x_{q+h} −
	// x_{q−h})/(2h) for a small h such as 0.005.
	SamplingQuantile
	// SamplingPSI: the population stability index over Scale+1 bins (Scale
	// degrees of freedom) between N window values and M reference values; M = 0
	// when the reference is known exactly (a large training baseline). Its
	// expected value on unchanged data is about Scale·(1/N + 1/M).
	SamplingPSI
	// SamplingJS: the Jensen–Shannon divergence in bits, fields as for PSI: on
	// small differences it is PSI/(8 ln 2).
	SamplingJS
	// SamplingChiSquare: Pearson's χ² statistic (not its p-value) with Scale
	// degrees of freedom. N and M are not read: the statistic is already in
	// units of its sampling noise.
	SamplingChiSquare
	// SamplingKS: the Kolmogorov–Smirnov distance (not its p-value) between N
	// window values and M reference values, M = 0 for an exact reference.
	SamplingKS
)

// String names the kind as a cause's detail does.
func (k SamplingKind) String() string {
	switch k {
	case SamplingUnknown:
		return "unknown"
	case SamplingCount:
		return "count"
	case SamplingRate:
		return "rate"
	case SamplingMean:
		return "mean"
	case SamplingQuantile:
		return "quantile"
	case SamplingPSI:
		return "psi"
	case SamplingJS:
		return "js"
	case SamplingChiSquare:
		return "chi2"
	case SamplingKS:
		return "ks"
	}
	return fmt.Sprintf("SamplingKind(%d)", uint8(k))
}

// Sampling says how a window's value of one metric was measured, so that the
// detector can tell sampling noise from change. The zero value is
// SamplingUnknown.
//
// From it and the value it expects, the detector derives the spread that the
// window's finite sample alone gives the value and uses it as a floor under the
// spread it expects of that metric in that window: one out-of-range value in
// 600 events is not an anomaly, 5% is. It removes the positive bias of distance
// statistics (PSI, JS, χ², KS), which grows as N shrinks with the traffic's
// daily cycle, and judges skewed statistics (small counts, distances) by their
// own tails rather than a normal one. A Sampling whose fields do not make sense
// for its kind (N below 1, negative or NaN fields, fewer than one degree of
// freedom) counts as unknown.
type Sampling struct {
	Kind SamplingKind
	// N is the sample size the value was computed from: the window's events,
	// its non-null values of the feature, or its labelled predictions.
	N float64
	// M is the other sample's size for two-sample statistics (the baseline's or
	// the previous window's values); 0 means infinite.
	M float64
	// Scale is kind-specific: the window's standard deviation for Mean, the
	// scaled standard error for Quantile, the degrees of freedom (bins − 1) for
	// PSI, JS and ChiSquare.
	Scale float64
}

// Constants of the Kolmogorov distribution, the limit of √n·D on unchanged
// data: its mean √(π/2)·ln 2 and its variance π²/12 − (π/2)(ln 2)².
const (
	ksMean = 0.8687311606361592
	ksVar  = 0.06777320396386689
)

// jsPerPSI converts PSI to the Jensen–Shannon divergence in bits on small
// differences: both are quadratic in p−q there, JS with 1/8 of PSI's weight in
// nats.
var jsPerPSI = 1 / (8 * math.Ln2)

// known reports whether s carries usable information.
func (s Sampling) known() bool {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	twoSample := s.M == 0 || (s.M >= 1 && !math.IsInf(s.M, 0))
	switch s.Kind {
	case SamplingCount:
		return true
	case SamplingRate:
		return s.N >= 1 && finite(s.N)
	case SamplingMean, SamplingQuantile:
		return s.N >= 1 && finite(s.N) && s.Scale >= 0 && finite(s.Scale)
	case SamplingPSI, SamplingJS:
		return s.N >= 1 && finite(s.N) && twoSample && s.Scale >= 1 && finite(s.Scale)
	case SamplingChiSquare:
		return s.Scale >= 1 && finite(s.Scale)
	case SamplingKS:
		return s.N >= 1 && finite(s.N) && twoSample
	}
	return false
}

// invN is 1/N + 1/M, the variance factor of a one- or two-sample statistic:
// the inverse of the effective sample size.
func (s Sampling) invN() float64 {
	if s.M > 0 {
		return 1/s.N + 1/s.M
	}
	return 1 / s.N
}

// bias is how far the statistic's expected value on a finite sample exceeds
// level, its value on the whole population.
func (s Sampling) bias(level float64) float64 {
	switch s.Kind {
	case SamplingPSI:
		// To second order in 1/N, with the bins' shares taken as equal: the
		// logarithm's curvature adds df(df+1)/2 per N², a tenth of the first
		// term at 100 values in ten bins.
		f := s.invN()
		return s.Scale*f + s.Scale*(s.Scale+1)/2*f*f
	case SamplingJS:
		return jsPerPSI * s.Scale * s.invN()
	case SamplingChiSquare:
		return s.Scale
	case SamplingKS:
		// √n·D has mean ksMean on unchanged data; at a true distance of a
		// few 1/√n the bias falls to about a third of that, then slowly on.
		// The curve is fitted to simulated location shifts of a normal
		// distribution (see TestSamplingCalibration).
		f := s.invN()
		a := max(level, 0) / math.Sqrt(f)
		return (0.25 + 0.15*math.Exp(-a/4) + (ksMean-0.4)*math.Exp(-2*a)) * math.Sqrt(f)
	}
	return 0
}

// variance is the statistic's sampling variance around its expected value when
// its population value is level (for distances, level is the population
// distance without the bias).
func (s Sampling) variance(level float64) float64 {
	switch s.Kind {
	case SamplingCount:
		// Poisson, with at least one event's worth of spread, so that a count
		// that is usually zero may be one without alarm.
		return max(level, 1)
	case SamplingRate:
		// Binomial on the rarer outcome, which is at least one item in N for
		// the same reason: a rate that is 0 in training has not been shown to
		// be impossible.
		n := s.N
		p := min(max(level, 0), 1)
		q := max(min(p, 1-p), 1/n)
		q = min(q, 0.5)
		return q * (1 - q) / n
	case SamplingMean, SamplingQuantile:
		return s.Scale * s.Scale / s.N
	case SamplingPSI, SamplingJS:
		// N·PSI is about non-central χ² with Scale degrees of freedom and
		// non-centrality N·D, whose variance is 2(df + 2λ).
		f := s.invN()
		c := 1.0
		if s.Kind == SamplingJS {
			c = jsPerPSI
		}
		d := max(level, 0) / c
		// The logarithm also lengthens the right tail when bins hold few
		// values (ten each at 100 values in ten bins); a wider spread keeps a
		// normal score of it calibrated there and costs little elsewhere.
		small := 1 + 3*s.Scale*f
		return c * c * (2*s.Scale*small + 4*d/f) * f * f
	case SamplingChiSquare:
		return 2*s.Scale + 4*max(level, 0)
	case SamplingKS:
		// ksVar/n on unchanged data; at a clear difference D is about the
		// difference of two empirical distribution functions near one point,
		// whose variance is at most 1/(4n): 1/(5n) in simulations.
		f := s.invN()
		a := max(level, 0) / math.Sqrt(f)
		return (ksVar + (0.2-ksVar)*(1-math.Exp(-1.5*a))) * f
	}
	return 0
}

// maxZ bounds the normal scores of tails, where a probability underflows.
const maxZ = 38

// tailZ is the normal score of value x under the statistic's own sampling
// distribution when its population value is level: the z of a normal variable
// with the same tail probability. It reports false for kinds whose sampling
// distribution is close enough to normal (means, quantiles, large counts).
// Counts take the mid-p tail of the binomial or Poisson distribution, distances
// a gamma distribution with the statistic's mean and variance (for PSI on
// unchanged data, exactly the scaled χ² it tends to).
func (s Sampling) tailZ(x, level float64) (float64, bool) {
	switch s.Kind {
	case SamplingCount:
		lambda := max(level, 1e-9)
		if lambda > 400 {
			return 0, false
		}
		return poissonZ(math.Round(max(x, 0)), lambda), true
	case SamplingRate:
		n := math.Round(s.N)
		p := min(max(level, 0), 1)
		k := math.Round(min(max(x, 0), 1) * n)
		sign := 1.0
		if p > 0.5 {
			// Count the rarer outcome, whose tail is the skewed one.
			p, k, sign = 1-p, n-k, -1
		}
		if n*p*(1-p) > 400 {
			return 0, false
		}
		return sign * binomialZ(k, n, max(p, 1e-12)), true
	case SamplingPSI, SamplingJS, SamplingChiSquare, SamplingKS:
		m := max(level, 0) + s.bias(level)
		v := s.variance(level)
		if !(m > 0 && v > 0) {
			return 0, false
		}
		return gammaZ(x, m*m/v, v/m), true
	}
	return 0, false
}

// upperZ turns an upper tail probability into a normal score.
func upperZ(q float64) float64 {
	if q <= 0 {
		return maxZ
	}
	return min(-mathext.NormalQuantile(min(q, 1)), maxZ)
}

// lowerZ turns a lower tail probability into a normal score.
func lowerZ(p float64) float64 {
	if p <= 0 {
		return -maxZ
	}
	return max(mathext.NormalQuantile(min(p, 1)), -maxZ)
}

// poissonZ is the mid-p normal score of count k under Poisson(lambda).
func poissonZ(k, lambda float64) float64 {
	pk := math.Exp(k*math.Log(lambda) - lambda - lgamma(k+1))
	if k >= lambda {
		// P(X > k) = P(X ≤ k) complement = regularised lower gamma at k+1.
		return upperZ(mathext.GammaIncReg(k+1, lambda) + pk/2)
	}
	below := 0.0 // P(X < k)
	if k > 0 {
		below = mathext.GammaIncRegComp(k, lambda)
	}
	return lowerZ(below + pk/2)
}

// binomialZ is the mid-p normal score of k successes in n trials of chance p.
func binomialZ(k, n, p float64) float64 {
	pk := math.Exp(lgamma(n+1) - lgamma(k+1) - lgamma(n-k+1) + k*math.Log(p) + (n-k)*math.Log1p(-p))
	if k >= n*p {
		above := 0.0 // P(X > k) = I_p(k+1, n−k)
		if k < n {
			above = mathext.RegIncBeta(k+1, n-k, p)
		}
		return upperZ(above + pk/2)
	}
	below := 0.0 // P(X < k) = I_{1−p}(n−k+1, k)
	if k > 0 {
		below = mathext.RegIncBeta(n-k+1, k, 1-p)
	}
	return lowerZ(below + pk/2)
}

// gammaZ is the normal score of x under a gamma distribution of the given shape
// and scale.
func gammaZ(x, shape, scale float64) float64 {
	if x <= 0 {
		return -maxZ
	}
	y := x / scale
	if y >= shape {
		return upperZ(mathext.GammaIncRegComp(shape, y))
	}
	return lowerZ(mathext.GammaIncReg(shape, y))
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// tame combines a normal-theory score with the statistic's own tail score: the
// one closer to zero, when both point the same way. The normal score carries
// the spread the model has learned beyond sampling (which the tail score does
// not know), the tail score the skew of small counts and distances (which
// makes a normal one too ready to alarm).
func tame(zNormal, zTail float64) float64 {
	if zNormal*zTail > 0 && math.Abs(zTail) < math.Abs(zNormal) {
		return zTail
	}
	return zNormal
}

// z is the score of value x of a statistic whose population value is level,
// when the model expects spread of variance extra beyond sampling: the normal
// score over the combined spread, tamed by the statistic's own tail.
func (s Sampling) z(x, level, extra float64) float64 {
	sd := math.Sqrt(s.variance(level) + extra)
	zn := (x - s.bias(level) - level) / sd
	if sd == 0 {
		switch {
		case zn > 0:
			zn = maxZ
		case zn < 0:
			zn = -maxZ
		default:
			zn = 0
		}
	}
	if zt, ok := s.tailZ(x, level); ok {
		return tame(zn, zt)
	}
	return max(min(zn, maxZ), -maxZ)
}
