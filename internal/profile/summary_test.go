package profile

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
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

// equalDistributions treats nil and empty alike (a reused buffer is empty, a
// fresh one may be nil) and a NaN standard deviation as equal to itself (the
// moments of values near the float64 limit overflow).
func equalDistributions(a, b stats.Distribution) bool {
	same := func(x, y []stats.Atom) bool { return len(x) == 0 && len(y) == 0 || reflect.DeepEqual(x, y) }
	return a.N == b.N && a.Other == b.Other && reflect.DeepEqual(a.Bins, b.Bins) && reflect.DeepEqual(a.Categories, b.Categories) &&
		same(a.Atoms, b.Atoms) && (a.StdDev == b.StdDev || math.IsNaN(a.StdDev) && math.IsNaN(b.StdDev))
}

// summaryOf is a summary of spec holding one window of values made by add.
func summaryOf(t testing.TB, spec Spec, shape bool, n int, add func(f *Feature, i int)) *Summary {
	t.Helper()
	f, err := NewFeature(spec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		add(f, i)
	}
	s, err := NewSummary(spec, shape)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(f); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSummaryStateRoundTrip: a summary read back from its state compares as
// the original does.
func TestSummaryStateRoundTrip(t *testing.T) {
	numeric := numericSpec([]float64{-1, 0, 1})
	categorical := Spec{Name: "c", Type: config.Categorical, Tracked: []string{"a", "b"}, MaxCategories: 3}
	for _, tc := range []struct {
		name  string
		spec  Spec
		shape bool
		add   func(f *Feature, i int)
	}{
		{"numeric shape", numeric, true, func(f *Feature, i int) { f.AddNumber(float64(i*i%97) - 40.5) }},
		{"numeric bins", numeric, false, func(f *Feature, i int) { f.AddNumber(math.Sin(float64(i))) }},
		{"numeric non-finite moments", numeric, true, func(f *Feature, i int) { f.AddNumber(math.MaxFloat64 / float64(i%3+1)) }},
		{"categorical", categorical, false, func(f *Feature, i int) { f.AddString(fmt.Appendf(nil, "v%d", i%9)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := summaryOf(t, tc.spec, tc.shape, 500, tc.add)
			state, err := orig.MarshalState()
			if err != nil {
				t.Fatal(err)
			}
			back, err := NewSummary(tc.spec, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			if err := back.AddState(state); err != nil {
				t.Fatal(err)
			}
			if got, want := back.Distribution(), orig.Distribution(); !equalDistributions(got, want) {
				t.Fatalf("read back %+v, want %+v", got, want)
			}
		})
	}
}

// TestSummaryStateRefused: a state counted under another spec, or not a state,
// is refused and changes nothing.
func TestSummaryStateRefused(t *testing.T) {
	numeric := numericSpec([]float64{-1, 0, 1})
	add := func(f *Feature, i int) { f.AddNumber(float64(i%5) - 2) }
	stateOf := func(spec Spec, shape bool) []byte {
		b, err := summaryOf(t, spec, shape, 100, add).MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	otherName := numeric
	otherName.Name = "y"
	otherEdges := numericSpec([]float64{-1, 0, 2})
	otherAlpha := numeric
	otherAlpha.RelativeAccuracy = 0.02
	for _, tc := range []struct {
		name     string
		state    []byte
		shape    bool
		mismatch bool
	}{
		{"other feature", stateOf(otherName, false), false, true},
		{"other edges", stateOf(otherEdges, false), false, true},
		{"no sketch for a shape rule", stateOf(numeric, false), true, true},
		{"other sketch accuracy", stateOf(otherAlpha, true), true, true},
		{"categorical", stateOf(Spec{Name: "x", Type: config.Categorical}, false), false, true},
		{"other version", []byte(`{"v": 2, "name": "x", "type": "numeric"}`), false, false},
		{"not JSON", []byte(`{"v": 1,`), false, false},
		{"sketch far away", fmt.Appendf(nil, `{"v": 1, "name": "x", "type": "numeric", "edges": [-1, 0, 1], "bins": [0, 0, 0, 0], "alpha": %v,
			"sketch": {"positive_offset": 1099511627776, "positive": [1], "negative_offset": 0, "negative": [], "zero": 0}}`, DefaultRelativeAccuracy), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := summaryOf(t, numeric, tc.shape, 50, add)
			before := s.Distribution()
			before.Bins = slices.Clone(before.Bins)
			before.Atoms = slices.Clone(before.Atoms)
			err := s.AddState(tc.state)
			if err == nil {
				t.Fatal("state accepted")
			}
			if got := errors.Is(err, ErrStateMismatch); got != tc.mismatch {
				t.Errorf("error %v: mismatch %v, want %v", err, got, tc.mismatch)
			}
			if after := s.Distribution(); !equalDistributions(after, before) {
				t.Errorf("refused state changed the summary: %+v, was %+v", after, before)
			}
		})
	}
}

// FuzzSummaryState: any bytes read as a stored summary are refused or added
// without panicking, and what was added serialises again.
func FuzzSummaryState(f *testing.F) {
	spec := numericSpec([]float64{-1, 0, 1})
	for _, shape := range []bool{false, true} {
		b, err := summaryOf(f, spec, shape, 100, func(f *Feature, i int) { f.AddNumber(float64(i) - 50) }).MarshalState()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v": 1, "name": "x", "type": "numeric", "edges": [-1, 0, 1], "bins": [1, 2, 3, 4], "finite": 3, "mean": "NaN"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, shape := range []bool{false, true} {
			s, err := NewSummary(spec, shape)
			if err != nil {
				t.Fatal(err)
			}
			if s.AddState(data) != nil {
				continue
			}
			if _, err := s.MarshalState(); err != nil {
				t.Fatalf("an accepted state does not serialise again: %v", err)
			}
			s.Distribution()
		}
	})
}

// TestSamples: Samples is the N of Distribution, for profiles and summaries
// of every type, values beyond the category bound and non-finite ones
// included.
func TestSamples(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		add  func(f *Feature, i int)
	}{
		{numericSpec([]float64{-1, 0, 1}), func(f *Feature, i int) {
			f.AddNumber([]float64{float64(i) / 3, math.NaN(), math.Inf(1)}[i%3])
		}},
		{Spec{Name: "c", Type: config.Categorical, Tracked: []string{"a"}, MaxCategories: 2}, func(f *Feature, i int) {
			f.AddString(fmt.Appendf(nil, "v%d", i%5))
		}},
		{Spec{Name: "b", Type: config.Boolean}, func(f *Feature, i int) { f.AddBool(i%3 == 0) }},
	} {
		for _, n := range []int{0, 1, 37} {
			f, err := NewFeature(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				tc.add(f, i)
			}
			if got, want := f.Samples(), f.Distribution().N; got != want {
				t.Errorf("%s, %d values: profile's Samples %v, its distribution's N %v", tc.spec.Type, n, got, want)
			}
			s, err := NewSummary(tc.spec, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Add(f); err != nil {
				t.Fatal(err)
			}
			if got, want := s.Samples(), s.Distribution().N; got != want {
				t.Errorf("%s, %d values: summary's Samples %v, its distribution's N %v", tc.spec.Type, n, got, want)
			}
			// Twice: read back from its state into a summary that holds it already.
			state, err := s.MarshalState()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AddState(state); err != nil {
				t.Fatal(err)
			}
			if got, want := s.Samples(), s.Distribution().N; got != want {
				t.Errorf("%s, %d values twice: summary's Samples %v, its distribution's N %v", tc.spec.Type, n, got, want)
			}
			if s.Reset(); s.Samples() != 0 {
				t.Errorf("%s, %d values: reset summary's Samples %v", tc.spec.Type, n, s.Samples())
			}
		}
	}
}

// TestFeatureDistributionReuse: a window's profile makes its distribution in
// memory it keeps, without allocating once it has: after a reset and other
// values it equals a fresh profile's, with nothing left of the earlier window.
func TestFeatureDistributionReuse(t *testing.T) {
	for _, spec := range []Spec{
		numericSpec([]float64{-1, 0, 1}),
		{Name: "c", Type: config.Categorical, Tracked: []string{"a", "b"}, MaxCategories: 5},
	} {
		add := func(f *Feature, i, round int) {
			if spec.Type == config.Numeric {
				f.AddNumber(float64(i*(3-round)) / 7)
			} else {
				f.AddString(fmt.Appendf(nil, "v%d", (i+round*5)%(7-round*2)))
			}
		}
		reused, err := NewFeature(spec)
		if err != nil {
			t.Fatal(err)
		}
		for round := range 3 {
			reused.Reset()
			fresh, err := NewFeature(spec)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 60 - round*20 {
				add(reused, i, round)
				add(fresh, i, round)
			}
			if got, want := reused.Distribution(), fresh.Distribution(); !equalDistributions(got, want) {
				t.Fatalf("%s, round %d: reused %+v, fresh %+v", spec.Type, round, got, want)
			}
		}
		if n := testing.AllocsPerRun(50, func() { reused.Distribution() }); n != 0 {
			t.Errorf("%s: %v allocations a distribution", spec.Type, n)
		}
	}
}
