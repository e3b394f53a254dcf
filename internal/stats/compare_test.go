package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
)

// compareCategoricalMaps is CompareCategorical as it was written first, over a
// map of the union: the reference the in-place form is held to.
func compareCategoricalMaps(ref, cur Distribution) Comparison {
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
	e, a := proportions(rc), proportions(cc)
	c.PSI, c.JSDivergence = PSI(e, a), JSDivergence(e, a)
	var at int
	c.LInfinity, at = LInfinity(e, a)
	c.LInfinityValue = names[at]
	c.Chi2Statistic, c.Chi2PValue, _ = ChiSquare(rc, cc)
	return c
}

// TestCompareCategorical: the comparison made in place equals the one made
// over a map, for category sets of every size around the arrays kept on the
// stack, with zero counts, new categories, empty sides and the bucket of
// categories past the bound.
func TestCompareCategorical(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	dist := func(k int, universe int) Distribution {
		d := Distribution{Categories: map[string]float64{}}
		for range k {
			d.Categories[fmt.Sprintf("c%03d", r.IntN(universe))] = float64(r.IntN(4) * r.IntN(50))
		}
		if r.IntN(3) == 0 {
			d.Other = float64(r.IntN(20))
		}
		return d
	}
	// A category of the bucket's name is the bucket, not a new category.
	bucket := CompareCategorical(Distribution{Categories: map[string]float64{"a": 1}, Other: 2},
		Distribution{Categories: map[string]float64{"a": 1, OtherCategory: 5}, Other: 1})
	if bucket.NewCategories != nil {
		t.Errorf("new categories %q, want none", bucket.NewCategories)
	}
	same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
	for i := range 3000 {
		universe := 1 + r.IntN(2*onStack+10)
		ref, cur := dist(r.IntN(universe+1), universe), dist(r.IntN(universe+1), universe)
		got, want := CompareCategorical(ref, cur), compareCategoricalMaps(ref, cur)
		ok := got.LInfinityValue == want.LInfinityValue && reflect.DeepEqual(got.NewCategories, want.NewCategories)
		for _, p := range [][2]float64{{got.PSI, want.PSI}, {got.JSDivergence, want.JSDivergence}, {got.LInfinity, want.LInfinity},
			{got.Chi2Statistic, want.Chi2Statistic}, {got.Chi2PValue, want.Chi2PValue}, {got.KSStatistic, want.KSStatistic}} {
			ok = ok && same(p[0], p[1])
		}
		if !ok {
			t.Fatalf("case %d: %v against %v\ngot  %+v\nwant %+v", i, ref, cur, got, want)
		}
	}
}

// TestComparisonsAllocateNothing: comparing a window's distributions with a
// reference allocates nothing while their bins and categories fit the arrays
// on the stack (a new category is kept in the comparison and allocates).
func TestComparisonsAllocateNothing(t *testing.T) {
	ref := Distribution{Categories: map[string]float64{"a": 3, "b": 5, "c": 1}, Other: 2, N: 11,
		Bins: []float64{1, 2, 3, 4}, Atoms: []Atom{{X: 1, W: 5}, {X: 2, W: 6}}, StdDev: 1}
	cur := Distribution{Categories: map[string]float64{"a": 1, "b": 7}, Other: 1, N: 9,
		Bins: []float64{2, 2, 2, 3}, Atoms: []Atom{{X: 1.5, W: 9}}}
	if n := testing.AllocsPerRun(100, func() { CompareCategorical(ref, cur) }); n != 0 {
		t.Errorf("CompareCategorical: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { CompareNumeric(ref, cur) }); n != 0 {
		t.Errorf("CompareNumeric: %v allocations", n)
	}
}
