package stats

import (
	"math"
	"slices"
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
	if n := len(ref.Bins); n == len(cur.Bins) && n > 0 {
		var eb, ab [onStack]float64
		e, a := proportionsInto(room(eb[:], n), ref.Bins), proportionsInto(room(ab[:], n), cur.Bins)
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

// onStack is the number of bins or categories whose working arrays a
// comparison keeps on its stack: every window compares each feature with the
// baseline and earlier windows, and arrays made for each comparison were most
// of what a steady stream's checks allocated.
const onStack = 64

// room is buf's first n elements, or a new array when buf is shorter.
func room[T any](buf []T, n int) []T {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]T, n)
}

// CompareCategorical compares category counts over the union of categories, in
// the order of their names; the categories past the bound count as one,
// OtherCategory, in place of any category of that name.
func CompareCategorical(ref, cur Distribution) Comparison {
	c := Undefined()
	other := ref.Other > 0 || cur.Other > 0
	var nb [onStack]string
	names := nb[:0]
	for k, n := range ref.Categories {
		if n > 0 && !(other && k == OtherCategory) {
			names = append(names, k)
		}
	}
	for k, n := range cur.Categories {
		if n == 0 || (other && k == OtherCategory) {
			continue
		}
		if ref.Categories[k] == 0 {
			names = append(names, k)
			c.NewCategories = append(c.NewCategories, k)
		}
	}
	if other {
		names = append(names, OtherCategory)
	}
	slices.Sort(c.NewCategories)
	slices.Sort(names)
	var rb, cb, eb, ab [onStack]float64
	rc, cc := room(rb[:], len(names)), room(cb[:], len(names))
	var totalR, totalC float64
	for i, k := range names {
		if other && k == OtherCategory {
			rc[i], cc[i] = ref.Other, cur.Other
		} else {
			rc[i], cc[i] = ref.Categories[k], cur.Categories[k]
		}
		totalR += rc[i]
		totalC += cc[i]
	}
	if totalR == 0 || totalC == 0 {
		return c
	}
	e, a := proportionsInto(room(eb[:], len(names)), rc), proportionsInto(room(ab[:], len(names)), cc)
	c.PSI, c.JSDivergence = PSI(e, a), JSDivergence(e, a)
	var at int
	c.LInfinity, at = LInfinity(e, a)
	c.LInfinityValue = names[at]
	c.Chi2Statistic, c.Chi2PValue, _ = ChiSquare(rc, cc)
	return c
}
