// Package stats holds the distribution statistics shared by compare, skew and drift:
// binning, PSI, Jensen-Shannon, L-infinity, chi-square, Kolmogorov-Smirnov and
// Wasserstein. The definitions follow the scipy functions named on each, so that
// results can be checked against an independent implementation
// (testdata/reference).
package stats

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/mathext"
)

// ZeroProportion replaces an empty bin's proportion in PSI, whose logarithm would
// otherwise be infinite. 1e-4 is the usual choice in credit-scoring practice.
const ZeroProportion = 1e-4

// MergeEdges returns the sorted edges with equal values merged, so that a feature
// with heavy ties (say, a count that is 0 for 40% of rows) gets fewer, non-empty
// bins rather than zero-width ones.
func MergeEdges(edges []float64) []float64 {
	out := make([]float64, 0, len(edges))
	for _, e := range edges {
		if len(out) == 0 || e != out[len(out)-1] {
			out = append(out, e)
		}
	}
	return out
}

// BinIndex returns the bin of x for right-closed bins over inner edges e:
// (-inf, e[0]], (e[0], e[1]], …, (e[k-1], +inf). It matches numpy's
// searchsorted(edges, x, side="left"). Linear search beats binary search for the
// ten or so edges of a decile binning.
func BinIndex(edges []float64, x float64) int {
	for i, e := range edges {
		if x <= e {
			return i
		}
	}
	return len(edges)
}

// proportionsInto writes into p, of counts' length, counts divided by their
// sum; all zeros when the sum is zero.
func proportionsInto(p, counts []float64) []float64 {
	var total float64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		clear(p)
		return p
	}
	for i, c := range counts {
		p[i] = c / total
	}
	return p
}

// PSI is the population stability index Σ (a−e)·ln(a/e) of actual proportions a
// against expected proportions e, with zero proportions replaced by ZeroProportion.
func PSI(expected, actual []float64) float64 {
	var psi float64
	for i := range expected {
		e, a := expected[i], actual[i]
		if e == 0 {
			e = ZeroProportion
		}
		if a == 0 {
			a = ZeroProportion
		}
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// JSDivergence is the Jensen-Shannon divergence in bits, in [0, 1]; it equals
// scipy.spatial.distance.jensenshannon(p, q, base=2)**2.
func JSDivergence(p, q []float64) float64 {
	var js float64
	for i := range p {
		m := (p[i] + q[i]) / 2
		if p[i] > 0 {
			js += p[i] * math.Log2(p[i]/m)
		}
		if q[i] > 0 {
			js += q[i] * math.Log2(q[i]/m)
		}
	}
	js /= 2
	// Rounding can leave a hair outside the mathematical range.
	return math.Min(math.Max(js, 0), 1)
}

// LInfinity returns max |p[i] − q[i]| and the first index where it is reached, or
// -1 for empty input.
func LInfinity(p, q []float64) (float64, int) {
	best, at := 0.0, -1
	for i := range p {
		if d := math.Abs(p[i] - q[i]); at < 0 || d > best {
			best, at = d, i
		}
	}
	return best, at
}

// ChiSquare tests the 2×k contingency table of counts a and b (scipy's
// chi2_contingency without continuity correction). Columns empty in both rows carry
// no information and are left out; the p-value has k−1 degrees of freedom over the
// remaining columns. With fewer than two such columns there is nothing to test and
// the statistic is 0 with p-value 1.
func ChiSquare(a, b []float64) (stat, p float64, df int) {
	var ta, tb float64
	k := 0
	for i := range a {
		ta += a[i]
		tb += b[i]
		if a[i]+b[i] > 0 {
			k++
		}
	}
	n := ta + tb
	if k < 2 || ta == 0 || tb == 0 {
		return 0, 1, max(k-1, 0)
	}
	for i := range a {
		col := a[i] + b[i]
		if col == 0 {
			continue
		}
		ea, eb := ta*col/n, tb*col/n
		stat += (a[i]-ea)*(a[i]-ea)/ea + (b[i]-eb)*(b[i]-eb)/eb
	}
	df = k - 1
	return stat, ChiSquareSF(stat, df), df
}

// ChiSquareSF is the survival function of the χ² distribution with df degrees of
// freedom.
func ChiSquareSF(x float64, df int) float64 {
	if x <= 0 {
		return 1
	}
	return mathext.GammaIncRegComp(float64(df)/2, x/2)
}

// KolmogorovSF is the survival function of the Kolmogorov distribution,
// P(K > x) = 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²x²} (scipy.special.kolmogorov).
func KolmogorovSF(x float64) float64 {
	if x <= 0 {
		return 1
	}
	if x < 0.2 {
		// The alternating series converges slowly here; use the Jacobi theta form of
		// the CDF, 1 − sqrt(2π)/x Σ e^{−(2k−1)²π²/(8x²)}, which converges fast.
		var s float64
		for k := 1; k <= 20; k++ {
			t := float64(2*k - 1)
			s += math.Exp(-t * t * math.Pi * math.Pi / (8 * x * x))
		}
		return 1 - math.Sqrt(2*math.Pi)/x*s
	}
	var s float64
	for k := 1; k <= 100; k++ {
		term := math.Exp(-2 * float64(k*k) * x * x)
		if k%2 == 1 {
			s += term
		} else {
			s -= term
		}
		if term < 1e-17 {
			break
		}
	}
	return math.Min(math.Max(2*s, 0), 1)
}

// KSPValue is the asymptotic p-value of a two-sample KS statistic d for samples of
// sizes n and m, with effective size n·m/(n+m).
func KSPValue(d float64, n, m float64) float64 {
	if n == 0 || m == 0 {
		return 1
	}
	en := n * m / (n + m)
	return KolmogorovSF(d * math.Sqrt(en))
}

// Atom is a point mass: a value and its weight. A distribution summarised by a
// sketch or a histogram is a sorted slice of atoms.
type Atom struct {
	X, W float64
}

// SortAtoms sorts atoms by value; KS and Wasserstein expect sorted input.
func SortAtoms(a []Atom) {
	sort.Slice(a, func(i, j int) bool { return a[i].X < a[j].X })
}

// walk merges two sorted atom lists and calls f with each distinct value, the gap to
// the next value, and both CDFs just after the value.
func walk(a, b []Atom, f func(x, gap, fa, fb float64)) {
	wa, wb := totalWeight(a), totalWeight(b)
	if wa == 0 || wb == 0 {
		return
	}
	var ca, cb float64
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var x float64
		switch {
		case j >= len(b) || (i < len(a) && a[i].X <= b[j].X):
			x = a[i].X
		default:
			x = b[j].X
		}
		for i < len(a) && a[i].X == x {
			ca += a[i].W
			i++
		}
		for j < len(b) && b[j].X == x {
			cb += b[j].W
			j++
		}
		next := math.Inf(1)
		if i < len(a) {
			next = a[i].X
		}
		if j < len(b) && b[j].X < next {
			next = b[j].X
		}
		gap := 0.0
		if !math.IsInf(next, 1) {
			gap = next - x
		}
		f(x, gap, ca/wa, cb/wb)
	}
}

func totalWeight(a []Atom) float64 {
	var w float64
	for _, x := range a {
		w += x.W
	}
	return w
}

// KS is the two-sample Kolmogorov-Smirnov statistic sup |F_a − F_b| of two sorted
// atom lists. For raw samples (unit weights) it equals scipy.stats.ks_2samp.
func KS(a, b []Atom) float64 {
	var d float64
	walk(a, b, func(_, _ float64, fa, fb float64) {
		d = math.Max(d, math.Abs(fa-fb))
	})
	return d
}

// Wasserstein is the first Wasserstein distance ∫ |F_a − F_b| dx of two sorted atom
// lists (scipy.stats.wasserstein_distance for raw samples).
func Wasserstein(a, b []Atom) float64 {
	var w float64
	walk(a, b, func(_, gap, fa, fb float64) {
		w += math.Abs(fa-fb) * gap
	})
	return w
}
