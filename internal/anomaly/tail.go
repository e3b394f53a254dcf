package anomaly

import (
	"math"
	"slices"
)

// maxScore caps scores so that they stay finite in JSON: 300 means "rarer than one
// in 10^300", far past anything that matters.
const maxScore = 300

// tail turns a non-negative statistic into a score, -log10 of the estimated
// probability of a value at least as large on a clean window.
//
// Above a high threshold u the excess is modelled as exponential (a generalised
// Pareto tail with shape zero, the usual peaks-over-threshold choice), which fits
// the squared, χ²-like statistics used here and extrapolates past the handful of
// extreme values a training history holds; below u the score only needs to be
// monotone, so it ramps linearly up to u's level.
type tail struct {
	u     float64 // threshold: the (1-frac) quantile of the calibration values
	frac  float64 // share of calibration values above u
	scale float64 // mean excess over u
}

func fitTail(values []float64) tail {
	v := make([]float64, 0, len(values))
	for _, x := range values {
		if x == x {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return tail{frac: 1, scale: math.Inf(1)}
	}
	slices.Sort(v)
	// At least ten exceedances for the mean excess, but never the lower half.
	frac := min(max(0.1, 10/float64(len(v))), 0.5)
	i := min(int(math.Floor(float64(len(v))*(1-frac))), len(v)-1)
	u := v[i]
	sum, n := 0.0, 0
	for _, x := range v[i+1:] {
		sum += x - u
		n++
	}
	scale := 0.0
	if n > 0 {
		scale = sum / float64(n)
	}
	// A statistic that never varied in training (a model without residual, say)
	// still gets a finite scale, so that a departure scores high but finite.
	scale = max(scale, 1e-9*(1+math.Abs(u)))
	return tail{u: u, frac: float64(len(v)-1-i) / float64(len(v)), scale: scale}
}

func (t tail) score(s float64) float64 {
	base := -math.Log10(max(t.frac, 1e-300))
	if s <= t.u {
		if t.u <= 0 {
			return 0
		}
		return base * max(s, 0) / t.u
	}
	return min(base+(s-t.u)/(t.scale*math.Ln10), maxScore)
}

// value is the statistic at which the score reaches s: score's inverse.
func (t tail) value(s float64) float64 {
	base := -math.Log10(max(t.frac, 1e-300))
	if s <= base {
		return t.u * max(s, 0) / base
	}
	return t.u + (s-base)*t.scale*math.Ln10
}

// stretch is the tail of the statistic multiplied by r.
func (t tail) stretch(r float64) tail {
	t.u *= r
	t.scale *= r
	return t
}
