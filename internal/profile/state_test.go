package profile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
)

// TestStretchConstant: the constant that spares every sketch the grid is the
// grid's value to the last bit, so bucket indexes in stored states keep their
// meaning.
func TestStretchConstant(t *testing.T) {
	if got := maxStretch(); got != stretch {
		t.Fatalf("maxStretch() = %x, constant %x", got, stretch)
	}
}

// stateCase is a profile filled with a mix of the values a window sees.
type stateCase struct {
	name string
	spec Spec
	fill func(f *Feature, r *rand.Rand)
}

func stateCases() []stateCase {
	edges := []float64{-1, 0, 0.5, 2, 10}
	return []stateCase{
		{"empty numeric", numericSpec(edges), func(*Feature, *rand.Rand) {}},
		{"numeric", Spec{Name: "x", Type: config.Numeric, Nullable: true, Edges: edges, Min: ptr(-50), Max: ptr(50)}, func(f *Feature, r *rand.Rand) {
			for i := range 2000 {
				switch i % 97 {
				case 0:
					f.AddNull()
				case 1:
					f.AddNumber(math.NaN())
				case 2:
					f.AddNumber(math.Inf(1 - 2*(i&1)))
				case 3:
					f.AddNumber(0)
				case 4:
					f.AddString([]byte("oops"))
				default:
					f.AddNumber(r.NormFloat64() * 30)
				}
			}
		}},
		{"numeric, a small window's", numericSpec(edges), func(f *Feature, r *rand.Rand) {
			for range 40 {
				f.AddNumber(r.NormFloat64() * 3)
			}
		}},
		{"numeric without bins, extreme", numericSpec(nil), func(f *Feature, r *rand.Rand) {
			for range 300 {
				f.AddNumber(math.MaxFloat64 / float64(1+r.IntN(3)))
				f.AddNumber(-math.Exp(r.NormFloat64() * 30))
			}
		}},
		{"categorical", Spec{Name: "c", Type: config.Categorical, Categories: []string{"a", "b", "c"}, Tracked: []string{"a", "z"}, MaxCategories: 5},
			func(f *Feature, r *rand.Rand) {
				for range 1500 {
					f.AddString(fmt.Appendf(nil, "v%d", int(math.Abs(r.NormFloat64()*6))))
					f.AddString([]byte{"abc"[r.IntN(3)]})
				}
				f.AddNumber(42)
				f.AddMissing()
			}},
		{"boolean", Spec{Name: "b", Type: config.Boolean}, func(f *Feature, r *rand.Rand) {
			for range 50 {
				f.AddBool(r.IntN(3) == 0)
			}
			f.AddNumber(2)
		}},
	}
}

func filled(t testing.TB, c stateCase, seed uint64) *Feature {
	t.Helper()
	f, err := NewFeature(c.spec)
	if err != nil {
		t.Fatal(err)
	}
	c.fill(f, rand.New(rand.NewPCG(seed, 5)))
	return f
}

// sameProfile compares everything a profile reports and merges.
func sameProfile(t *testing.T, what string, got, want *Feature) {
	t.Helper()
	g, w := got.AppendState(nil), want.AppendState(nil)
	if !bytes.Equal(g, w) {
		t.Errorf("%s: states differ:\n%x\n%x", what, g, w)
	}
	if got.Rows != want.Rows || got.Violations != want.Violations || got.Finite != want.Finite || got.Other != want.Other ||
		!sameFloat(got.Min, want.Min) || !sameFloat(got.Max, want.Max) || !sameFloat(got.Mean, want.Mean) || !sameFloat(got.m2, want.m2) ||
		!sameRegisters(&got.Distinct, &want.Distinct) || fmt.Sprint(got.CategoryCounts()) != fmt.Sprint(want.CategoryCounts()) {
		t.Errorf("%s: profiles differ", what)
	}
	if (got.Sketch == nil) != (want.Sketch == nil) {
		t.Fatalf("%s: one has a sketch", what)
	}
	if got.Sketch != nil {
		if got.Sketch.Count() != want.Sketch.Count() || fmt.Sprint(got.Sketch.Atoms()) != fmt.Sprint(want.Sketch.Atoms()) {
			t.Errorf("%s: sketches differ", what)
		}
	}
}

func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// TestStateBinaryRoundTrip: a profile read back from its binary state is the
// same profile, exactly, and merges as the original does: the merge of two
// halves read back from the store is the profile of the whole.
func TestStateBinaryRoundTrip(t *testing.T) {
	for _, c := range stateCases() {
		t.Run(c.name, func(t *testing.T) {
			a, b := filled(t, c, 1), filled(t, c, 2)
			for _, f := range []*Feature{a, b} {
				data, err := f.MarshalState()
				if err != nil {
					t.Fatal(err)
				}
				if data[0] != stateVersion {
					t.Fatalf("state begins with %d", data[0])
				}
				back, err := UnmarshalState(c.spec, data)
				if err != nil {
					t.Fatal(err)
				}
				sameProfile(t, "round trip", back, f)
			}
			whole := filled(t, c, 1)
			if err := whole.Merge(b); err != nil {
				t.Fatal(err)
			}
			ra, _ := UnmarshalState(c.spec, a.AppendState(nil))
			rb, _ := UnmarshalState(c.spec, b.AppendState(nil))
			if err := ra.Merge(rb); err != nil {
				t.Fatal(err)
			}
			sameProfile(t, "merged from states", ra, whole)
		})
	}
}

// marshalJSONState is the JSON form MarshalState wrote before the binary one,
// kept to test that stored states of that form are still read.
func marshalJSONState(f *Feature) ([]byte, error) {
	// The JSON form holds every register.
	f.Distinct.drain()
	f.Distinct.dense()
	s := state{Version: jsonStateVersion, Name: f.spec.Name, Type: f.spec.Type, Rows: f.Rows, Nulls: f.Nulls,
		NaN: f.NaN, PosInf: f.PosInf, NegInf: f.NegInf, Violations: f.Violations[:], Finite: f.Finite,
		Mean: jsonFloat(f.Mean), M2: jsonFloat(f.m2), Edges: f.spec.Edges, Bins: f.Bins, Other: f.Other, HLL: f.Distinct.reg[:]}
	if f.Finite > 0 {
		lo, hi := jsonFloat(f.Min), jsonFloat(f.Max)
		s.Min, s.Max = &lo, &hi
	}
	if f.Sketch != nil {
		s.Alpha = f.Sketch.alpha
		s.Sketch = f.Sketch.stored()
	}
	if f.categories != nil {
		s.Categories = f.CategoryCounts()
	}
	return json.Marshal(s)
}

// TestStateReadsJSON: states the store holds in the JSON form read back as the
// profile they were written from.
func TestStateReadsJSON(t *testing.T) {
	for _, c := range stateCases() {
		t.Run(c.name, func(t *testing.T) {
			f := filled(t, c, 3)
			data, err := marshalJSONState(f)
			if err != nil {
				t.Fatal(err)
			}
			back, err := UnmarshalState(c.spec, data)
			if err != nil {
				t.Fatal(err)
			}
			sameProfile(t, "from JSON", back, f)
		})
	}
}

// TestStateRefused: states of another feature, version or shape, and truncated
// ones, are errors.
func TestStateRefused(t *testing.T) {
	c := stateCases()[1]
	good := filled(t, c, 4).AppendState(nil)
	other := c.spec
	other.Name = "y"
	cat := Spec{Name: "x", Type: config.Categorical}
	for name, tc := range map[string]struct {
		spec Spec
		data []byte
	}{
		"other feature":  {other, good},
		"other type":     {cat, good},
		"other version":  {c.spec, append([]byte{3}, good[1:]...)},
		"trailing bytes": {c.spec, append(good[:len(good):len(good)], 0)},
		"empty":          {c.spec, nil},
	} {
		if _, err := UnmarshalState(tc.spec, tc.data); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
	for n := range len(good) {
		if _, err := UnmarshalState(c.spec, good[:n]); err == nil {
			t.Fatalf("state cut at %d of %d bytes read without error", n, len(good))
		}
	}
}

// TestReadStateInPlace: a profile that held other values, more or fewer,
// reads a state in place as the profile it was written from, and refuses,
// left empty, a state of another accuracy or other edges, or cut short.
func TestReadStateInPlace(t *testing.T) {
	cases := stateCases()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := filled(t, c, 1)
			data := want.AppendState(nil)
			for _, held := range cases {
				if held.spec.Type != c.spec.Type || !slices.Equal(held.spec.Edges, c.spec.Edges) {
					continue
				}
				f := filled(t, stateCase{spec: c.spec, fill: held.fill}, 2)
				if err := f.ReadState(data); err != nil {
					t.Fatal(err)
				}
				sameProfile(t, "over "+held.name, f, want)
			}
		})
	}
	c := cases[1]
	data := filled(t, c, 3).AppendState(nil)
	for name, spec := range map[string]Spec{
		"other accuracy": {Name: "x", Type: config.Numeric, Nullable: true, Edges: c.spec.Edges, RelativeAccuracy: 0.02},
		"other edges":    {Name: "x", Type: config.Numeric, Nullable: true, Edges: []float64{-1, 0, 0.5, 2, 11}},
		"fewer edges":    {Name: "x", Type: config.Numeric, Nullable: true, Edges: []float64{-1, 0}},
		"no sketch":      {Name: "x", Type: config.Categorical},
	} {
		f := filled(t, stateCase{spec: spec, fill: c.fill}, 4)
		if err := f.ReadState(data); err == nil {
			t.Errorf("%s: read without error", name)
		}
		if f.Rows != 0 || f.Distinct.Estimate() != 0 {
			t.Errorf("%s: %d rows left after a refused state", name, f.Rows)
		}
	}
	f := filled(t, c, 5)
	for n := range len(data) {
		if err := f.ReadState(data[:n]); err == nil {
			t.Fatalf("state cut at %d of %d bytes read without error", n, len(data))
		}
	}
}

// TestPreparedSpecChanged: a profile of a prepared spec copied and changed
// (as reading a state of other edges does) reads states by what it is, not
// by what the spec it was copied from was.
func TestPreparedSpecChanged(t *testing.T) {
	c := stateCases()[1]
	prepared := c.spec.Prepared()
	changed := prepared
	changed.Edges = []float64{-1, 0, 0.5, 2, 11}
	for name, tc := range map[string]struct {
		spec Spec
		ok   bool
	}{
		"edges of the profile":                 {changed, true},
		"edges of the spec it was copied from": {prepared, false},
	} {
		f := filled(t, stateCase{spec: tc.spec, fill: c.fill}, 1)
		into, err := NewFeature(changed)
		if err != nil {
			t.Fatal(err)
		}
		if err := into.ReadState(f.AppendState(nil)); (err == nil) != tc.ok {
			t.Errorf("%s: read: %v, want success %t", name, err, tc.ok)
		}
	}
}

// TestFeatureReset: a profile reset and filled again is the profile a fresh
// one would be, so that windows can be reused in place.
func TestFeatureReset(t *testing.T) {
	for _, c := range stateCases() {
		t.Run(c.name, func(t *testing.T) {
			f := filled(t, c, 5)
			f.Reset()
			empty, err := NewFeature(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			sameProfile(t, "reset", f, empty)
			c.fill(f, rand.New(rand.NewPCG(6, 5)))
			sameProfile(t, "refilled", f, filled(t, c, 6))
		})
	}
}

// eventOf is an event of the set in TestSetReset: x and c in either order, at
// times an unexpected field or a missing one.
func eventOf(r *rand.Rand) *event.Event {
	x := event.Field{Name: []byte("x"), Value: event.Value{Kind: event.KindNumber, Num: r.NormFloat64()}}
	c := event.Field{Name: []byte("c"), Value: event.Value{Kind: event.KindString, Str: []byte{"abz"[r.IntN(3)]}}}
	ev := &event.Event{Layout: 1, Features: []event.Field{x, c}}
	switch r.IntN(4) {
	case 0:
		ev.Layout, ev.Features = 2, []event.Field{c, x, {Name: []byte("u"), Value: event.Value{Kind: event.KindNull}}}
	case 1:
		ev.Layout, ev.Features = 3, []event.Field{c}
	}
	return ev
}

// TestSetReset: the same for a set of profiles and its record-level counts.
func TestSetReset(t *testing.T) {
	specs := []Spec{numericSpec([]float64{0, 1}), {Name: "c", Type: config.Categorical, Categories: []string{"a", "b"}}}
	fill := func(s *Set, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 1))
		for range 200 {
			s.AddEvent(eventOf(r))
		}
		s.AddRowError("bad")
	}
	s, err := NewSet(specs)
	if err != nil {
		t.Fatal(err)
	}
	fill(s, 1)
	s.Reset()
	fresh, err := NewSet(specs)
	if err != nil {
		t.Fatal(err)
	}
	fill(s, 2)
	fill(fresh, 2)
	if s.Records != fresh.Records || fmt.Sprint(s.Unexpected, s.RowErrors) != fmt.Sprint(fresh.Unexpected, fresh.RowErrors) {
		t.Errorf("record counts differ: %d %v %v, fresh %d %v %v", s.Records, s.Unexpected, s.RowErrors, fresh.Records, fresh.Unexpected, fresh.RowErrors)
	}
	for i := range specs {
		sameProfile(t, specs[i].Name, s.Features[i], fresh.Features[i])
	}
}

// FuzzFeatureState: any bytes read as a stored profile are refused or read
// without panicking, and what was read writes the same bytes it was read from
// once written again (the writer's form is canonical).
func FuzzFeatureState(f *testing.F) {
	cases := stateCases()
	for i, c := range cases {
		ft := filled(f, c, uint64(i))
		f.Add(uint8(i), ft.AppendState(nil))
		if js, err := marshalJSONState(ft); err == nil {
			f.Add(uint8(i), js)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		c := cases[int(which)%len(cases)]
		ft, err := UnmarshalState(c.spec, data)
		// Read in place, a prepared spec's profile compares the parts it
		// knows whole: it reads the binary states read field by field, but
		// for those of another accuracy or other edges, which it refuses.
		into, ierr := NewFeature(c.spec.Prepared())
		if ierr != nil {
			t.Fatal(ierr)
		}
		ierr = into.ReadState(data)
		switch {
		case ierr == nil && err != nil:
			t.Fatalf("read in place, refused by UnmarshalState: %v", err)
		case ierr != nil && err == nil && data[0] == stateVersion && slices.Equal(ft.edges, into.edges) && (ft.Sketch == nil || ft.Sketch.alpha == into.Sketch.alpha):
			t.Fatalf("refused in place, read by UnmarshalState: %v", ierr)
		case ierr == nil && !bytes.Equal(into.AppendState(nil), ft.AppendState(nil)):
			t.Fatal("read in place differently")
		}
		if err != nil {
			return
		}
		again := ft.AppendState(nil)
		back, err := UnmarshalState(c.spec, again)
		if err != nil {
			t.Fatalf("a state written from an accepted one is refused: %v", err)
		}
		if !bytes.Equal(back.AppendState(nil), again) {
			t.Fatal("a written state reads back differently")
		}
		ft.Distribution()
	})
}

// sameRegisters reports whether two estimators stand for the same registers,
// allocated or not.
func sameRegisters(a, b *HLL) bool {
	return bytes.Equal(a.appendState(nil), b.appendState(nil))
}
