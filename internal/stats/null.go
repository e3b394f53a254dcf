package stats

import (
	"math"
	"slices"
)

// Method names the statistic a skew or drift rule compares with its threshold. The
// values are config.DriftMethod's: this package keeps its own name for them so that
// the statistics depend on no configuration.
type Method string

// The methods NullQuantile knows.
const (
	MethodPSI               Method = "psi"
	MethodJSDivergence      Method = "js_divergence"
	MethodLInfinity         Method = "l_infinity"
	MethodKSPValue          Method = "ks_p_value"
	MethodWassersteinNormed Method = "wasserstein_normed"
	MethodChi2PValue        Method = "chi2_p_value"
)

// PValue reports whether the method's statistic is a p-value, which flags drift
// below its threshold rather than above.
func (m Method) PValue() bool { return m == MethodKSPValue || m == MethodChi2PValue }

// NullQuantile returns the value that the method's statistic of cur against ref
// exceeds with probability alpha when nothing changed: when both are samples, of
// their sizes, of one distribution, estimated by pooling them. A threshold fixed
// in the contract ignores that two samples of a few hundred values differ by
// chance: PSI between two samples of 100 over ten bins averages (k−1)·(1/n+1/m) =
// 0.18 and passes its usual 0.2 in about a third of comparisons. A check that
// compares with max(threshold, NullQuantile) flags about alpha of healthy windows
// (the tests say how closely), whatever their size, and keeps the contract's
// threshold as the smallest change worth reporting.
//
// ref is the reference side of the comparison (baseline, previous window, reference
// period); a ref whose N is +Inf is taken as the population itself, without
// sampling noise. Sizes are the sides' counts (bins or categories, Other
// included), and N for Wasserstein. The distributions are those CompareNumeric and
// CompareCategorical take: PSI, JS and L∞ over the bins of a numeric feature (when
// ref or cur carries Bins) or over the union of categories; Wasserstein over the
// atoms, scaled by ref.StdDev as the statistic is.
//
// For a p-value, which flags drift below its threshold, the null quantile is the
// level it falls below with probability alpha. A p-value that is exact has alpha
// itself, and so has the KS p-value: with the asymptotic Kolmogorov distribution
// at n·m/(n+m) it is below 0.001 in 0.06–0.14% of simulated healthy comparisons
// of continuous data (nominal, within the simulation's noise) and 0.01–0.02% with
// ties, which a sketch's buckets only add (testdata/reference/null_quantiles.json).
// The χ²
// p-value is not: against a larger reference, a rare category's expected count in
// a small window is far below one, and one occurrence makes Pearson's statistic
// large; p < 0.001 then happens in 0.5–1.0% of healthy windows of 100 with
// long-tailed or rare categories. Its null quantile is the χ² p-value of the
// statistic's own null quantile, computed as PSI's is.
//
// NaN when the statistic is undefined (an empty side, no atoms, no spread) or the
// method unknown.
func NullQuantile(method Method, ref, cur Distribution, alpha float64) float64 {
	if !(alpha > 0 && alpha < 1) {
		return math.NaN()
	}
	switch method {
	case MethodKSPValue:
		return alpha
	case MethodWassersteinNormed:
		return wassersteinNormedNull(ref, cur, alpha)
	case MethodPSI, MethodJSDivergence, MethodLInfinity, MethodChi2PValue:
		var buf [stackBins]float64
		p, n, m := pooledProportions(ref, cur, buf[:0])
		if n == 0 || m == 0 {
			return math.NaN()
		}
		switch method {
		case MethodLInfinity:
			return lInfinityNull(p, n, m, alpha)
		case MethodChi2PValue:
			if len(p) < 2 {
				return alpha // ChiSquare has nothing to test and reports p = 1
			}
			return ChiSquareSF(binnedNull(method, p, n, m, alpha), len(p)-1)
		}
		return binnedNull(method, p, n, m, alpha)
	}
	return math.NaN()
}

// EffectiveThreshold is the threshold a check should compare the statistic with:
// the contract's, raised to the null quantile at alpha for a distance, lowered to
// it for a p-value, so that chance alone breaches it in at most alpha of healthy
// comparisons. The contract's threshold is returned when the null quantile is
// undefined.
func EffectiveThreshold(method Method, threshold float64, ref, cur Distribution, alpha float64) float64 {
	q := NullQuantile(method, ref, cur, alpha)
	if method.PValue() {
		if q < threshold { // false for NaN
			return q
		}
		return threshold
	}
	if q > threshold {
		return q
	}
	return threshold
}

// stackBins is the number of bins or categories pooled without allocating: the
// hundred categories a contract keeps by default, and their Other.
const stackBins = 128

// pooledProportions returns the proportions, over the bins or categories both sides
// share (as CompareNumeric and CompareCategorical see them), of the two samples
// pooled — the null's best estimate of their common distribution — leaving out
// those empty on both sides, with the sides' sizes n (cur) and m (ref, +Inf when
// ref.N is). Categories are sorted by proportion so that sums over them do not
// depend on map order.
func pooledProportions(ref, cur Distribution, buf []float64) (p []float64, n, m float64) {
	infinite := math.IsInf(ref.N, 1)
	p = buf
	if ref.Categories == nil && cur.Categories == nil {
		if len(ref.Bins) != len(cur.Bins) {
			return nil, 0, 0
		}
		for i := range ref.Bins {
			m += ref.Bins[i]
			n += cur.Bins[i]
		}
		for i := range ref.Bins {
			p = appendPooled(p, ref.Bins[i], cur.Bins[i], m, n, infinite)
		}
	} else {
		for _, c := range ref.Categories {
			m += c
		}
		for _, c := range cur.Categories {
			n += c
		}
		m += ref.Other
		n += cur.Other
		for k, r := range ref.Categories {
			p = appendPooled(p, r, cur.Categories[k], m, n, infinite)
		}
		for k, c := range cur.Categories {
			if _, ok := ref.Categories[k]; !ok {
				p = appendPooled(p, 0, c, m, n, infinite)
			}
		}
		p = appendPooled(p, ref.Other, cur.Other, m, n, infinite)
		slices.Sort(p)
	}
	if infinite {
		m = math.Inf(1)
	}
	return p, n, m
}

func appendPooled(p []float64, r, c, m, n float64, infinite bool) []float64 {
	if infinite {
		if r > 0 {
			p = append(p, r/m)
		}
		return p
	}
	if r+c > 0 {
		p = append(p, (r+c)/(m+n))
	}
	return p
}
