package analyze

import (
	"math"

	"gonum.org/v1/gonum/mathext"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// rateAlpha is how unlikely a window's count must be, were the true rate at
// its tolerance, before the rate is breached: a per-check false-finding budget
// of one window in a thousand, so that healthy traffic across a few dozen
// checks rarely breaches any.
const rateAlpha = 0.001

// addRate records a rate of k events in n whose contract tolerates up to
// limit: its value is k/n against threshold limit, and it breaches only when
// k is significantly above limit × n (a one-sided binomial test at
// rateAlpha), so that one value in a few hundred is sampling noise under a
// tolerance of one in a thousand, and a flood is not. A zero tolerance breaches
// at the first event. A NaN limit is kept without threshold.
func (r *results) addRate(kind check.Kind, feature, metric string, k, n uint64, limit float64) {
	if n == 0 {
		return
	}
	value := float64(k) / float64(n)
	r.add(kind, feature, metric, value, limit, check.Above)
	if math.IsNaN(limit) || len(r.window()) == 0 {
		return
	}
	res := &r.out[len(r.out)-1]
	res.Breached = res.Breached && binomialTail(k, n, limit) < rateAlpha
}

// binomialTail is P(X ≥ k) for X ~ Binomial(n, p).
func binomialTail(k, n uint64, p float64) float64 {
	switch {
	case k == 0:
		return 1
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	// P(X ≥ k) = I_p(k, n−k+1), the regularised incomplete beta function.
	return mathext.RegIncBeta(float64(k), float64(n-k+1), p)
}
