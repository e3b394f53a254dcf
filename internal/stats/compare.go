package stats

import (
	"math"
	"sort"
)

// Distribution is one side of a comparison: a numeric feature's counts in shared
// bins and its sketch as atoms, or a categorical feature's counts. Skew compares a
// window with the training baseline and drift a window with an earlier one; both
// reduce their profiles to this.
type Distribution struct {
	// Bins counts the values in bins whose edges both sides share.
	Bins []float64
	// Atoms are the sorted point masses of the values (KS, Wasserstein).
	Atoms []Atom
	// N is the number of values distributed.
	N float64
	// StdDev is the sample standard deviation; the reference's scales Wasserstein.
	StdDev float64
	// Categories counts categorical values. Other counts those past the bound.
	Categories map[string]float64
	Other      float64
}

// OtherCategory names the bucket of categories past the bound.
const OtherCategory = "__other__"

// Comparison holds the statistics of a current distribution against a reference.
// A statistic that does not apply, or that the data cannot define, is NaN.
type Comparison struct {
	PSI, JSDivergence              float64
	KSStatistic, KSPValue          float64
	Wasserstein, WassersteinNormed float64
	LInfinity                      float64
	LInfinityValue                 string
	Chi2Statistic, Chi2PValue      float64
	// NewCategories are current categories the reference never saw, sorted.
	NewCategories []string
}

// Undefined is the comparison of distributions too small or empty to compare:
// every statistic NaN.
func Undefined() Comparison {
	nan := math.NaN()
	return Comparison{PSI: nan, JSDivergence: nan, KSStatistic: nan, KSPValue: nan, Wasserstein: nan,
		WassersteinNormed: nan, LInfinity: nan, Chi2Statistic: nan, Chi2PValue: nan}
}

// CompareNumeric compares numeric distributions: PSI and JS over the bins, KS and
// Wasserstein over the atoms.
func CompareNumeric(ref, cur Distribution) Comparison {
	c := Undefined()
	if ref.N == 0 || cur.N == 0 {
		return c
	}
	if len(ref.Bins) == len(cur.Bins) && len(ref.Bins) > 0 {
		e, a := Proportions(ref.Bins), Proportions(cur.Bins)
		c.PSI, c.JSDivergence = PSI(e, a), JSDivergence(e, a)
	}
	// A side summarised without its shape (only bin counts) leaves the
	// statistics of shape undefined.
	if len(ref.Atoms) == 0 || len(cur.Atoms) == 0 {
		return c
	}
	c.KSStatistic = KS(ref.Atoms, cur.Atoms)
	c.KSPValue = KSPValue(c.KSStatistic, ref.N, cur.N)
	c.Wasserstein = Wasserstein(ref.Atoms, cur.Atoms)
	if ref.StdDev > 0 {
		c.WassersteinNormed = c.Wasserstein / ref.StdDev
	}
	return c
}

// CompareCategorical compares category counts over the union of categories.
func CompareCategorical(ref, cur Distribution) Comparison {
	c := Undefined()
	counts := make(map[string][2]float64, len(ref.Categories)+1)
	for k, n := range ref.Categories {
		if n > 0 {
			counts[k] = [2]float64{n, 0}
		}
	}
	for k, n := range cur.Categories {
		if n == 0 {
			continue
		}
		v, seen := counts[k]
		if !seen {
			c.NewCategories = append(c.NewCategories, k)
		}
		v[1] += n
		counts[k] = v
	}
	if ref.Other > 0 || cur.Other > 0 {
		counts[OtherCategory] = [2]float64{ref.Other, cur.Other}
	}
	sort.Strings(c.NewCategories)
	names := make([]string, 0, len(counts))
	for k := range counts {
		names = append(names, k)
	}
	sort.Strings(names)
	rc, cc := make([]float64, len(names)), make([]float64, len(names))
	var totalR, totalC float64
	for i, k := range names {
		rc[i], cc[i] = counts[k][0], counts[k][1]
		totalR += rc[i]
		totalC += cc[i]
	}
	if totalR == 0 || totalC == 0 {
		return c
	}
	e, a := Proportions(rc), Proportions(cc)
	c.PSI, c.JSDivergence = PSI(e, a), JSDivergence(e, a)
	var at int
	c.LInfinity, at = LInfinity(e, a)
	c.LInfinityValue = names[at]
	c.Chi2Statistic, c.Chi2PValue, _ = ChiSquare(rc, cc)
	return c
}
