package profile

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/stats"
)

// TestSummaryReuse: a summary refills one distribution in place; after a reset
// and a window of other values it must equal a fresh summary of that window, and
// the window's own distribution, with nothing left of the earlier window.
func TestSummaryReuse(t *testing.T) {
	specs := []struct {
		spec  Spec
		shape bool
		add   func(f *Feature, i, round int)
	}{
		{numericSpec([]float64{-1, 0, 1}), true, func(f *Feature, i, round int) { f.AddNumber(float64(i*(round+1)) / 10) }},
		{numericSpec([]float64{-1, 0, 1}), false, func(f *Feature, i, round int) { f.AddNumber(float64(i-round*50) / 7) }},
		{Spec{Name: "c", Type: config.Categorical, Tracked: []string{"a", "b"}, MaxCategories: 3}, false, func(f *Feature, i, round int) {
			f.AddString(fmt.Appendf(nil, "v%d", (i+round*5)%(4+round*3)))
		}},
	}
	for _, tc := range specs {
		t.Run(fmt.Sprintf("%s/shape=%v", tc.spec.Type, tc.shape), func(t *testing.T) {
			reused, err := NewSummary(tc.spec, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			for round := range 3 {
				f, err := NewFeature(tc.spec)
				if err != nil {
					t.Fatal(err)
				}
				for i := range 40 + round*30 {
					tc.add(f, i, round)
				}
				fresh, err := NewSummary(tc.spec, tc.shape)
				if err != nil {
					t.Fatal(err)
				}
				if err := fresh.Add(f); err != nil {
					t.Fatal(err)
				}
				reused.Reset()
				if err := reused.Add(f); err != nil {
					t.Fatal(err)
				}
				got, want := reused.Distribution(), fresh.Distribution()
				if !equalDistributions(got, want) {
					t.Fatalf("round %d: reused %+v, fresh %+v", round, got, want)
				}
				own := f.Distribution()
				if !tc.shape {
					own.Atoms = nil
				}
				if got.N != own.N || !reflect.DeepEqual(got.Bins, own.Bins) || !reflect.DeepEqual(got.Categories, own.Categories) ||
					got.Other != own.Other || !reflect.DeepEqual(got.Atoms, own.Atoms) {
					t.Fatalf("round %d: summary %+v, window %+v", round, got, own)
				}
			}
		})
	}
}

// equalDistributions treats nil and empty alike: a reused buffer is empty, a
// fresh one may be nil.
func equalDistributions(a, b stats.Distribution) bool {
	same := func(x, y []stats.Atom) bool { return len(x) == 0 && len(y) == 0 || reflect.DeepEqual(x, y) }
	return a.N == b.N && a.Other == b.Other && reflect.DeepEqual(a.Bins, b.Bins) && reflect.DeepEqual(a.Categories, b.Categories) &&
		same(a.Atoms, b.Atoms) && (a.StdDev == b.StdDev || math.IsNaN(a.StdDev) && math.IsNaN(b.StdDev))
}
