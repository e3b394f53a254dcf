package stats

import "math"

// The null distribution of wasserstein_normed = W1(ref, cur) / ref.StdDev.
//
// For samples of sizes n and m from one distribution F, W1·sqrt(nm/(n+m)) tends
// to ∫|B(F(x))| dx for a Brownian bridge B. Its mean is sqrt(2/π)·∫sqrt(F(1−F)) dx,
// but its upper tail is not set by the mean: it is the integral of |B| against
// dx, a norm of a Gaussian process, whose tail follows the direction of largest
// variance, the constant one, ∫B(F(x)) dx, which is the difference of the two
// sample means scaled by sqrt(nm/(n+m)) and has variance σ². Since W1 is at least
// the distance between the means, its quantile at small alpha is that of the
// mean difference, |N(0, σ²(1/n+1/m))|, plus a small surplus: simulating the
// bridge functional for normal, uniform, exponential, lognormal and discrete F,
// the 99.9% quantile is σ·z_{α/2}·(1.00 to 1.03), z_{α/2} = 3.29, whatever the
// shape of F, where the mean-based scaling (mean times a constant) would be off
// by a factor that depends on F.
//
// At window sizes two things move the tail away from that limit, and the
// quantile corrects both:
//
//   - the statistic is divided by the reference sample's standard deviation, and
//     for a heavy-tailed F that is noisy and low exactly when the reference lacks
//     the extreme values that make W1 large: for lognormal(0, 1) samples of 100
//     against 100, the limit's quantile is exceeded in 1.9% of comparisons rather
//     than 0.1%. The quantile is taken for W1 with the pooled samples' standard
//     deviation (which sees the values either sample drew), then expressed in the
//     reference's: q = q_W1 / ref.StdDev;
//   - the mean of a small sample from a skewed F is skewed: the mean difference
//     has skewness γ·(1/n²−1/m²)/(1/n+1/m)^{3/2} for F's skewness γ, and its
//     heavier tail gets the Cornish-Fisher quantile z + |γ_D|·(z²−1)/6, the other
//     tail's share of alpha left unused (a bias of at most half of alpha, to the
//     safe side).
//
// The surplus of W1's quantile over the mean difference's is 0–7% at 99.9% and
// 0.5–8% at 99%, simulating normal, uniform, lognormal, Poisson and zero-inflated
// samples of 100 to 20,000; it is taken as bridgeSurplus, which leaves the
// quantiles of W1 over the pooled standard deviation in
// testdata/reference/null_quantiles.json within −4% and +11% of simulation.
// Moments come from the atoms (the sketches), one pass over each side.

// bridgeSurplus is the factor by which W1's tail quantile exceeds that of the
// distance between the means (see above).
const bridgeSurplus = 1.03

// wassersteinNormedNull is the null quantile of wasserstein_normed.
func wassersteinNormedNull(ref, cur Distribution, alpha float64) float64 {
	n, m := cur.N, ref.N
	if !(n > 0 && m > 0 && ref.StdDev > 0) || len(ref.Atoms) == 0 || len(cur.Atoms) == 0 {
		return math.NaN()
	}
	// The pooled distribution weighs each side by its size; a population (m = +Inf)
	// is the reference alone.
	wr, wc := m/(n+m), n/(n+m)
	if math.IsInf(m, 1) {
		wr, wc = 1, 0
	}
	tr, tc := totalWeight(ref.Atoms), totalWeight(cur.Atoms)
	if tr == 0 || tc == 0 {
		return math.NaN()
	}
	wr, wc = wr/tr, wc/tc
	var mean float64
	for _, a := range ref.Atoms {
		mean += wr * a.W * a.X
	}
	for _, a := range cur.Atoms {
		mean += wc * a.W * a.X
	}
	var m2, m3 float64
	for _, a := range ref.Atoms {
		d := a.X - mean
		m2 += wr * a.W * d * d
		m3 += wr * a.W * d * d * d
	}
	for _, a := range cur.Atoms {
		d := a.X - mean
		m2 += wc * a.W * d * d
		m3 += wc * a.W * d * d * d
	}
	if m2 <= 0 {
		return 0 // one value: W1 is 0
	}
	sd := math.Sqrt(m2)
	v, v2 := 1/n, 1/(n*n)
	if !math.IsInf(m, 1) {
		v += 1 / m
		v2 -= 1 / (m * m)
	}
	skew := math.Abs(m3/(m2*sd)) * math.Abs(v2) / (v * math.Sqrt(v))
	z := math.Sqrt2 * math.Erfcinv(alpha)
	x := z + skew*(z*z-1)/6
	return bridgeSurplus * x * sd * math.Sqrt(v) / ref.StdDev
}
