package stats

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// The null distribution of PSI, Jensen-Shannon and Pearson's χ².
//
// Under the null the current counts are a multinomial draw of n, and the reference
// counts an independent one of m, from the pooled proportions p. To second order
// both statistics are a Pearson χ² of the 2×k table scaled by the effective size
// nm/(n+m): PSI·nm/(n+m) and JS·8·ln2·nm/(n+m) (JS in bits) tend to χ² with k−1
// degrees of freedom. That limit is poor exactly where a null quantile matters,
// at small counts: with ten bins of 100 values against a baseline, the 99.9%
// quantile of PSI is 0.33, not the limit's 0.28; with twenty it is 0.86 against
// 0.44, because a bin left empty by chance is floored to ZeroProportion and adds
// p·ln(p/1e-4) ≈ 0.3 by itself. Neither is a quadratic form then.
//
// So the quantile is taken from the statistic's own first three cumulants, fitted
// with a shifted, scaled χ² (a + c·χ²_ν, ν = 8/skewness², which has the same
// three): exact in the χ² limit and, over the cases of
// testdata/reference/null_quantiles.json, exceeded in 0.35 to 1.4 times alpha of
// simulated draws for PSI (the low end at windows of 100 against a large
// reference, where the statistic takes few values), 0.5 to 1.3 for JS and for
// Pearson's χ². The statistic is a sum over bins, so each cumulant is the sum of
// the bins' marginal ones plus the bins' covariances:
//
//   - marginally a bin's counts are binomial, independent between the sides, and
//     its term's first three moments are computed from them: exactly (every count
//     within 5 standard deviations and 3 of the mean) where a side expects fewer
//     than exactBelow values in or out of the bin, where empty bins and the floor
//     live; elsewhere with a five-point Gauss-Hermite rule whose nodes are moved
//     to the binomial's skewness, plus the empty bin while it is likely enough to
//     matter;
//   - the multinomial covariances between bins are taken at their χ²-limit values,
//     the differences between the χ²_{k−1} cumulants (k−1, 2(k−1), 8(k−1), times
//     powers of c·(1/n+1/m)) and the sums of the marginal limits (1−p_i, 2(1−p_i)²,
//     8(1−p_i)³). Bins with few counts have small p_i, and so small covariances.
//
// PSI's moments factor into one sum per side (the term is (x_a−x_e)·(L_a−L_e),
// x and L functions of one side each); JS's and χ²'s take a sum over pairs of the
// two sides' points. Pearson's χ² is here for chi2_p_value (see NullQuantile).

// exactBelow is the expected count (in or out of a bin) below which a side's
// binomial is summed exactly rather than by quadrature: from 8 the quadrature's
// nodes stay in [0, 1] and its results match the exact sums.
const exactBelow = 8

// maxNodes bounds a side's points: the counts within 5 standard deviations (of at
// most sqrt(exactBelow)) and 3 of the mean.
const maxNodes = 2*(5*3+3) + 2

// Probabilists' Gauss-Hermite rule of five points, weights summing to 1: exact
// for polynomials of degree 9 in a normal variable, and the leading term of
// either statistic is of degree 6 in its third moment.
var (
	ghNodes   = [5]float64{-2.8569700138728056, -1.355626179974266, 0, 1.355626179974266, 2.8569700138728056}
	ghWeights = [5]float64{0.011257411327720677, 0.22207592200561257, 0.5333333333333335, 0.22207592200561257, 0.011257411327720677}
)

// side holds one side's distribution of a bin's proportion as weighted points.
type side struct {
	k    int
	a, w [maxNodes]float64
}

// binomial sets the points of a proportion Binomial(size, p)/size; a size of +Inf
// is the single point p.
func (s *side) binomial(p, size float64) {
	if math.IsInf(size, 1) {
		s.k, s.a[0], s.w[0] = 1, p, 1
		return
	}
	q := 1 - p
	mean, sd := size*p, math.Sqrt(size*p*q)
	if math.Min(mean, size-mean) >= exactBelow {
		// Cornish-Fisher: the nodes of a normal moved so that the points have the
		// binomial's skewness (q−p)/sd. An empty bin, floored by PSI, is a point of
		// its own while it is likely enough to weigh in the third moment.
		h := (q - p) / (6 * sd)
		s.k = len(ghNodes)
		var p0 float64 // P(empty) ≤ e^{−mean}
		if mean < 30 {
			p0 = math.Exp(size * math.Log1p(-p))
		}
		for i, z := range ghNodes {
			s.a[i] = math.Min(math.Max(p+sd/size*(z+h*(z*z-1)), 0), 1)
			s.w[i] = ghWeights[i] * (1 - p0)
		}
		if p0 > 0 {
			s.a[s.k], s.w[s.k] = 0, p0
			s.k++
		}
		return
	}
	lo := math.Max(0, math.Floor(mean-5*sd-3))
	hi := math.Min(size, math.Ceil(mean+5*sd+3))
	lgSize, _ := math.Lgamma(size + 1)
	lgLo, _ := math.Lgamma(lo + 1)
	lgRest, _ := math.Lgamma(size - lo + 1)
	pmf := math.Exp(lgSize - lgLo - lgRest + lo*math.Log(p) + (size-lo)*math.Log1p(-p))
	odds := p / q
	var total float64
	s.k = 0
	for c := lo; c <= hi && s.k < maxNodes; c++ {
		s.a[s.k], s.w[s.k] = c/size, pmf
		total += pmf
		s.k++
		pmf *= (size - c) / (c + 1) * odds
	}
	for i := range s.k {
		s.w[i] /= total
	}
}

// psiSide returns the side's moments M[i][j] = E[x^i·L^j], with x = a−p and
// L = ln a − ln p of the proportion a floored as PSI floors it.
func (s *side) psiSide(p float64) (m [4][4]float64) {
	lp := math.Log(p)
	for i := range s.k {
		a := s.a[i]
		if a == 0 {
			a = ZeroProportion
		}
		x, l := a-p, math.Log(a)-lp
		xi := s.w[i]
		for ii := range 4 {
			t := xi
			for jj := range 4 {
				m[ii][jj] += t
				t *= l
			}
			xi *= x
		}
	}
	return m
}

var binomials = [4][4]float64{{1}, {1, 1}, {1, 2, 1}, {1, 3, 3, 1}}

// psiBin returns the first three raw moments of a bin's PSI term
// (x_a−x_e)·(L_a−L_e) from the two sides' factors: expanding both powers, each
// product's expectation is one side's moment times the other's.
func psiBin(ma, me *[4][4]float64) (m1, m2, m3 float64) {
	var raw [4]float64
	for r := 1; r <= 3; r++ {
		for i := 0; i <= r; i++ {
			for j := 0; j <= r; j++ {
				t := binomials[r][i] * binomials[r][j] * ma[i][j] * me[r-i][r-j]
				if (i+j)%2 == 1 {
					t = -t
				}
				raw[r] += t
			}
		}
	}
	return raw[1], raw[2], raw[3]
}

// xlnx is x·ln(x), 0 at 0.
func xlnx(x float64) float64 {
	if x <= 0 {
		return 0
	}
	return x * math.Log(x)
}

// negligible is the weight of a pair of points below which it is left out of a
// bin's moments: the pairs far in both tails, which are most of a grid of exact
// counts and hold none of its mass.
const negligible = 1e-15

// jsBin returns the first three raw moments of a bin's Jensen-Shannon term in
// bits, (f(a)+f(e))/2 − f((a+e)/2) for f(x) = x·log2(x), over the pairs of points.
func jsBin(sa, se *side) (m1, m2, m3 float64) {
	var fe [maxNodes]float64
	for j := range se.k {
		fe[j] = xlnx(se.a[j])
	}
	for i := range sa.k {
		a, fa := sa.a[i], xlnx(sa.a[i])
		for j := range se.k {
			w := sa.w[i] * se.w[j]
			if w < negligible {
				continue
			}
			g := (fa+fe[j])/2 - xlnx((a+se.a[j])/2)
			if g < 0 {
				g = 0 // rounding
			}
			m1 += w * g
			m2 += w * g * g
			m3 += w * g * g * g
		}
	}
	const b = 1 / math.Ln2
	return m1 * b, m2 * b * b, m3 * b * b * b
}

// chi2Bin returns the first three raw moments of a bin's term in Pearson's
// statistic of the 2×k table, (A·m − E·n)²/(n·m·(A+E)) = n·m·(a−e)²/(n·a + m·e)
// for proportions a and e, over the pairs of points; against a population it
// is n·(a−p)²/p.
func chi2Bin(sa, se *side, n, m float64) (m1, m2, m3 float64) {
	for i := range sa.k {
		a := sa.a[i]
		for j := range se.k {
			w := sa.w[i] * se.w[j]
			if w < negligible {
				continue
			}
			e, d := se.a[j], sa.a[i]-se.a[j]
			var g float64
			switch {
			case math.IsInf(m, 1):
				g = n * d * d / e
			case a+e > 0:
				g = n * m * d * d / (n*a + m*e)
			}
			m1 += w * g
			m2 += w * g * g
			m3 += w * g * g * g
		}
	}
	return m1, m2, m3
}

// binnedNull is the null quantile of PSI, JS or Pearson's χ² statistic (method
// MethodChi2PValue) for pooled proportions p and sample sizes n (current) and m
// (reference, +Inf for a population).
func binnedNull(method Method, p []float64, n, m, alpha float64) float64 {
	if len(p) < 2 {
		return 0 // one bin: both sides are identical
	}
	var k1, k2, k3, s2, s3 float64
	var sa, se side
	for _, pi := range p {
		sa.binomial(pi, n)
		se.binomial(pi, m)
		var m1, m2, m3 float64
		switch method {
		case MethodPSI:
			ma, me := sa.psiSide(pi), se.psiSide(pi)
			m1, m2, m3 = psiBin(&ma, &me)
		case MethodJSDivergence:
			m1, m2, m3 = jsBin(&sa, &se)
		default:
			m1, m2, m3 = chi2Bin(&sa, &se, n, m)
		}
		k1 += m1
		k2 += m2 - m1*m1
		k3 += m3 - 3*m1*m2 + 2*m1*m1*m1
		s2 += pi * pi
		s3 += pi * pi * pi
	}
	// The scale c·(1/n+1/m) of the χ² limit: the statistic divided by it tends to
	// χ²_{k−1}.
	scale := 1.0
	if method != MethodChi2PValue {
		scale = 1 / n
		if !math.IsInf(m, 1) {
			scale += 1 / m
		}
		if method == MethodJSDivergence {
			scale /= 8 * math.Ln2
		}
	}
	k2 += 2 * scale * scale * (1 - s2)
	k3 += 8 * scale * scale * scale * (2 - 3*s2 + s3)
	return shiftedChi2Quantile(k1, k2, k3, alpha)
}

// shiftedChi2Quantile is the 1−alpha quantile of a + c·χ²_ν with cumulants k1, k2,
// k3: ν = 8/γ², c = γ·sqrt(k2)/4 for skewness γ. A nearly symmetric statistic
// (γ → 0, ν → ∞) is normal.
func shiftedChi2Quantile(k1, k2, k3, alpha float64) float64 {
	if !(k2 > 0) {
		return k1
	}
	sd := math.Sqrt(k2)
	g := k3 / (k2 * sd)
	if g < 1e-3 {
		return k1 + sd*math.Sqrt2*math.Erfcinv(2*alpha)
	}
	nu := 8 / (g * g)
	c := g * sd / 4
	return k1 - c*nu + c*2*mathext.GammaIncRegCompInv(nu/2, alpha)
}
