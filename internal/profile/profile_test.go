package profile

import (
	"bytes"
	"context"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/event"
)

func samples(name string, n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 99))
	xs := make([]float64, n)
	for i := range xs {
		switch name {
		case "normal":
			xs[i] = r.NormFloat64()*3 + 1
		case "lognormal_wide":
			xs[i] = math.Exp(r.NormFloat64() * 6)
		case "mixed_signs_zeros":
			if r.IntN(5) == 0 {
				xs[i] = 0
			} else {
				xs[i] = (r.Float64() - 0.6) * 1e4
			}
		case "integers":
			xs[i] = float64(r.IntN(7))
		}
	}
	return xs
}

var distributions = []string{"normal", "lognormal_wide", "mixed_signs_zeros", "integers"}

// TestSketchRelativeAccuracy checks DDSketch's guarantee: the q-quantile it reports
// is within α·|x| of the exact value of the same rank.
func TestSketchRelativeAccuracy(t *testing.T) {
	for _, alpha := range []float64{0.001, DefaultRelativeAccuracy, 0.02} {
		for _, dist := range distributions {
			s, err := NewSketch(alpha)
			if err != nil {
				t.Fatal(err)
			}
			xs := samples(dist, 20000, 1)
			for _, x := range xs {
				s.Add(x)
			}
			slices.Sort(xs)
			for i := 0; i <= 1000; i++ {
				q := float64(i) / 1000
				exact := xs[int(q*float64(len(xs)-1))]
				if got := s.Quantile(q); math.Abs(got-exact) > alpha*math.Abs(exact)*(1+1e-12) {
					t.Errorf("α=%v %s: quantile %v = %v, exact %v: error %.3g above bound", alpha, dist, q, got, exact, math.Abs(got-exact)/math.Abs(exact))
				}
			}
		}
	}
}

func profileOf(t *testing.T, spec Spec, xs []float64) *Feature {
	t.Helper()
	f, err := NewFeature(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		f.AddNumber(x)
	}
	return f
}

// TestSketchExtremes: values at the ends of float64's range keep the relative
// accuracy, in quantiles and atoms (the largest came out NaN, the smallest 0);
// smaller ones than minIndexable count as zero by design.
func TestSketchExtremes(t *testing.T) {
	for _, x := range []float64{math.MaxFloat64, 1e308, -math.MaxFloat64, 2 * minIndexable} {
		s, err := NewSketch(DefaultRelativeAccuracy)
		if err != nil {
			t.Fatal(err)
		}
		s.Add(x)
		atoms := s.Atoms()
		if len(atoms) != 1 {
			t.Fatalf("%g: atoms %v", x, atoms)
		}
		for what, got := range map[string]float64{"median": s.Quantile(0.5), "atom": atoms[0].X} {
			if math.IsNaN(got) || math.Abs(got-x) > DefaultRelativeAccuracy*math.Abs(x)*(1+1e-12) {
				t.Errorf("%g: %s %g, beyond relative accuracy %v", x, what, got, DefaultRelativeAccuracy)
			}
		}
	}
}

// TestMergeEqualsWhole is the property that makes window profiles summable across
// partitions: the merge of two halves' profiles is the profile of the whole —
// exactly for counts, bins, sketch buckets and distinct-count registers; to
// rounding for the moments.
func TestMergeEqualsWhole(t *testing.T) {
	spec := numericSpec([]float64{-1, 0, 0.5, 2, 10})
	spec.Min, spec.Max = ptr(-100), ptr(100)
	r := rand.New(rand.NewPCG(7, 7))
	for _, dist := range distributions {
		for trial := 0; trial < 5; trial++ {
			xs := samples(dist, 5000, uint64(trial))
			xs = append(xs, math.NaN(), math.Inf(1), math.Inf(-1))
			cut := r.IntN(len(xs))
			whole := profileOf(t, spec, xs)
			a, b := profileOf(t, spec, xs[:cut]), profileOf(t, spec, xs[cut:])
			if err := a.Merge(b); err != nil {
				t.Fatal(err)
			}
			if a.Rows != whole.Rows || a.Finite != whole.Finite || a.NaN != whole.NaN || a.PosInf != whole.PosInf ||
				a.NegInf != whole.NegInf || a.Violations != whole.Violations || a.Min != whole.Min || a.Max != whole.Max {
				t.Fatalf("%s cut %d: counts differ: merged %+v, whole %+v", dist, cut, a.Violations, whole.Violations)
			}
			if !slices.Equal(a.Bins, whole.Bins) || !sameRegisters(&a.Distinct, &whole.Distinct) {
				t.Fatalf("%s cut %d: bins or distinct registers differ", dist, cut)
			}
			if !slices.Equal(a.Sketch.Atoms(), whole.Sketch.Atoms()) {
				t.Fatalf("%s cut %d: sketches differ", dist, cut)
			}
			if !closeTo(a.Mean, whole.Mean, 1e-9) || !closeTo(a.Variance(), whole.Variance(), 1e-9) {
				t.Fatalf("%s cut %d: mean %v/%v variance %v/%v", dist, cut, a.Mean, whole.Mean, a.Variance(), whole.Variance())
			}
		}
	}
}

func TestMergeCategories(t *testing.T) {
	spec := Spec{Name: "c", Type: config.Categorical, Tracked: []string{"a"}, MaxCategories: 2}
	add := func(vals ...string) *Feature {
		f, err := NewFeature(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			f.AddString([]byte(v))
		}
		return f
	}
	f := add("a", "b", "c", "d")
	if err := f.Merge(add("a", "c", "e")); err != nil {
		t.Fatal(err)
	}
	got := f.CategoryCounts()
	want := map[string]uint64{"a": 2, "b": 1, "c": 2}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("category %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != 3 || f.Other != 2 {
		t.Errorf("categories %v, other %d; want 3 categories and other 2", got, f.Other)
	}
	if err := f.Merge(profileOf(t, numericSpec(nil), nil)); err == nil {
		t.Error("merging a numeric profile into a categorical one succeeded")
	}
}

func closeTo(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b))
}

// TestUpdatesAllocateNothing guards the hot path: once the sketch range and the
// category set have settled, adding a value must not allocate.
func TestUpdatesAllocateNothing(t *testing.T) {
	num, err := NewFeature(numericSpec([]float64{0, 1, 2}))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := NewFeature(Spec{Name: "c", Type: config.Categorical, Categories: []string{"DE"}})
	if err != nil {
		t.Fatal(err)
	}
	boolean, err := NewFeature(Spec{Name: "b", Type: config.Boolean})
	if err != nil {
		t.Fatal(err)
	}
	text, de, tr := []byte("12.5"), []byte("DE"), []byte("true")
	warm := func() {
		num.AddNumber(3.25)
		num.AddText(text)
		num.AddNumber(math.NaN())
		cat.AddString(de)
		cat.AddText(de)
		boolean.AddText(tr)
		boolean.AddBool(false)
	}
	warm()
	if n := testing.AllocsPerRun(1000, warm); n != 0 {
		t.Errorf("%v allocations per round of updates, want 0", n)
	}
}

func TestHLLEstimate(t *testing.T) {
	for _, n := range []int{10, 1000, 100000} {
		var h HLL
		for i := 0; i < n; i++ {
			h.AddHash(xxhash.Sum64String(strconv.Itoa(i)))
			h.AddFloat(float64(i)) // a different hash space: adds no more than n again
		}
		// Each value went in as a string and as a float, so about 2n distinct hashes.
		if got := h.Estimate(); math.Abs(got-2*float64(n)) > 0.05*2*float64(n) {
			t.Errorf("estimate of %d distinct = %v", 2*n, got)
		}
	}
}

func TestFeatureViolations(t *testing.T) {
	tests := []struct {
		name   string
		spec   Spec
		cells  []string // CSV cells; "<missing>" for an absent value
		want   map[string]uint64
		nulls  uint64
		finite uint64
	}{
		{"numeric range and types", Spec{Name: "x", Type: config.Numeric, Min: ptr(0), Max: ptr(10)},
			[]string{"1", "-1", "11", "abc", "", "NaN", "Inf", "<missing>", "10"},
			map[string]uint64{"out_of_range": 2, "wrong_type": 1, "null": 1, "missing": 1}, 1, 4},
		{"nullable numeric", Spec{Name: "x", Type: config.Numeric, Nullable: true},
			[]string{"", "", "2"}, map[string]uint64{}, 2, 1},
		{"categories", Spec{Name: "c", Type: config.Categorical, Categories: []string{"a", "b"}},
			[]string{"a", "b", "z", "a"}, map[string]uint64{"unknown_category": 1}, 0, 0},
		{"booleans", Spec{Name: "b", Type: config.Boolean},
			[]string{"true", "FALSE", "1", "0", "yes"}, map[string]uint64{"wrong_type": 1}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFeature(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.cells {
				if c == "<missing>" {
					f.AddMissing()
				} else {
					f.AddText([]byte(c))
				}
			}
			got := f.ViolationCounts()
			if len(got) != len(tc.want) {
				t.Errorf("violations %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("violations %v, want %v", got, tc.want)
				}
			}
			if f.Nulls != tc.nulls || f.Finite != tc.finite || f.Rows != uint64(len(tc.cells)) {
				t.Errorf("nulls %d finite %d rows %d; want %d, %d, %d", f.Nulls, f.Finite, f.Rows, tc.nulls, tc.finite, len(tc.cells))
			}
		})
	}
}

// naiveDeciles is numpy.percentile's linear method written plainly.
func naiveDeciles(xs []float64) []float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	var out []float64
	for d := 1; d <= 9; d++ {
		h := float64(len(s)-1) * float64(d) / 10
		k := int(math.Floor(h))
		v := s[k]
		if k+1 < len(s) {
			v = lerp(s[k], s[k+1], h-float64(k))
		}
		out = append(out, v)
	}
	return out
}

// TestBuildExactDeciles checks the two-pass decile search and bin counts against
// sorting, on distributions with ties, zeros, negatives and tiny samples.
func TestBuildExactDeciles(t *testing.T) {
	for _, dist := range distributions {
		for _, n := range []int{1, 2, 3, 11, 1000, 7919} {
			xs := samples(dist, n, uint64(n))
			var csv bytes.Buffer
			csv.WriteString("x\n")
			for _, x := range xs {
				csv.WriteString(strconv.FormatFloat(x, 'g', -1, 64) + "\n")
			}
			csv.WriteString("\n") // a null
			c := &config.Contract{Model: "m", Features: []config.Feature{{Name: "x", Type: config.Numeric, Nullable: true}}}
			c.ApplyDefaults()
			b, err := Build(context.Background(), c, func() (dataset.Reader, io.Closer, error) {
				r, err := dataset.NewCSV(bytes.NewReader(csv.Bytes()))
				return r, io.NopCloser(nil), err
			}, BuildOptions{})
			if err != nil {
				t.Fatalf("%s n=%d: %v", dist, n, err)
			}
			fb := b.Features[0]
			if want := naiveDeciles(xs); !slices.Equal(fb.Deciles, want) {
				t.Fatalf("%s n=%d: deciles %v, want %v", dist, n, fb.Deciles, want)
			}
			var total uint64
			for i, c := range fb.BinCounts {
				var want uint64
				for _, x := range xs {
					lo := math.Inf(-1)
					if i > 0 {
						lo = fb.BinEdges[i-1]
					}
					hi := math.Inf(1)
					if i < len(fb.BinEdges) {
						hi = fb.BinEdges[i]
					}
					if x > lo && x <= hi {
						want++
					}
				}
				if c != want {
					t.Fatalf("%s n=%d: bin %d count %d, want %d (edges %v)", dist, n, i, c, want, fb.BinEdges)
				}
				total += c
			}
			if total != uint64(n) || fb.Nulls != 1 || len(fb.Quantiles) != QuantilePoints {
				t.Fatalf("%s n=%d: %d values in bins, %d nulls, %d quantiles", dist, n, total, fb.Nulls, len(fb.Quantiles))
			}
		}
	}
}

func TestLoadBaselineErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, content, want string
	}{
		{"empty.json", "", "baseline file is empty"},
		{"version.json", `{"format_version": 99, "sketch_relative_accuracy": 0.005}`, "format version 99 is not supported"},
		{"garbage.json", `{"format_version": `, "reading baseline"},
		{"type.json", `{"format_version": 1, "sketch_relative_accuracy": 0.005, "features": [{"name": "x", "type": "text"}]}`, `unknown type "text"`},
		{"accuracy.json", `{"format_version": 1, "sketch_relative_accuracy": 0}`, "relative accuracy"},
	}
	for _, tc := range tests {
		_, err := LoadBaseline(write(tc.name, tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadBaseline(filepath.Join(dir, "absent.json")); err == nil {
		t.Error("loading a missing baseline succeeded")
	}
}

// TestBaselineRoundTrip writes and reads a baseline and rebuilds its sketch.
func TestBaselineRoundTrip(t *testing.T) {
	c := &config.Contract{Model: "m", Features: []config.Feature{
		{Name: "x", Type: config.Numeric}, {Name: "c", Type: config.Categorical}}}
	c.ApplyDefaults()
	data := "x,c\n1.5,a\n-2,b\n0,a\n3e5,c\n"
	b, err := Build(context.Background(), c, func() (dataset.Reader, io.Closer, error) {
		r, err := dataset.NewCSV(strings.NewReader(data))
		return r, io.NopCloser(nil), err
	}, BuildOptions{Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.json")
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := got.Distribution(got.Feature("x"))
	if err != nil {
		t.Fatal(err)
	}
	atoms := d.Atoms
	if len(atoms) != 4 || atoms[0].X > -1.9 || atoms[1].X != 0 || atoms[3].X < 2.9e5 {
		t.Errorf("rebuilt sketch atoms %v", atoms)
	}
	cats := got.Feature("c").Categories
	if len(cats) != 3 || cats[0] != (CategoryCount{"a", 2}) {
		t.Errorf("categories %v, want a first with 2", cats)
	}
}

// TestStateRoundTrip: a profile read back from its state merges like the
// original, which is what lets partial window profiles be summed from the store.
func TestStateRoundTrip(t *testing.T) {
	specs := []Spec{numericSpec([]float64{-1, 0, 1}), {Name: "c", Type: config.Categorical, Tracked: []string{"a"}}}
	for _, spec := range specs {
		a, err := NewFeature(spec)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range samples("mixed_signs_zeros", 500, 3) {
			if spec.Type == config.Numeric {
				a.AddNumber(x)
			} else {
				a.AddString([]byte(strconv.Itoa(i % 7)))
			}
		}
		a.AddNull()
		a.AddMissing()
		a.AddNumber(math.MaxFloat64)
		data, err := a.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		b, err := UnmarshalState(spec, data)
		if err != nil {
			t.Fatal(err)
		}
		again, err := b.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, again) {
			t.Errorf("%s: state changed in a round trip:\n%s\n%s", spec.Name, data, again)
		}
		if err := b.Merge(a); err != nil {
			t.Fatal(err)
		}
		if b.Rows != 2*a.Rows || !sameRegisters(&b.Distinct, &a.Distinct) {
			t.Errorf("%s: merged rows %d (want %d) or distinct registers differ", spec.Name, b.Rows, 2*a.Rows)
		}
	}
	if _, err := UnmarshalState(specs[0], []byte(`{"v": 2}`)); err == nil {
		t.Error("state of another version read without error")
	}
	if _, err := UnmarshalState(specs[1], []byte(`{"v": 1, "name": "x", "type": "numeric"}`)); err == nil {
		t.Error("state of another feature read without error")
	}
}

// TestAddEventByLayout: profiling events by their layout, positions matched
// once per layout, gives the profiles that matching every name gives, through
// changes of order, missing and unexpected fields.
func TestAddEventByLayout(t *testing.T) {
	specs := []Spec{numericSpec([]float64{0}), {Name: "c", Type: config.Categorical}, {Name: "n", Type: config.Numeric}}
	specs[0].Name = "x"
	byLayout, err := NewSet(specs)
	if err != nil {
		t.Fatal(err)
	}
	byName, err := NewSet(specs)
	if err != nil {
		t.Fatal(err)
	}
	num := func(x float64) event.Value { return event.Value{Kind: event.KindNumber, Num: x} }
	str := func(s string) event.Value { return event.Value{Kind: event.KindString, Str: []byte(s)} }
	field := func(name string, v event.Value) event.Field { return event.Field{Name: []byte(name), Value: v} }
	type step struct {
		layout uint64
		fields []event.Field
	}
	var steps []step
	for k := range 48 {
		x := float64(k)
		switch k / 8 {
		case 0: // every feature, in contract order
			steps = append(steps, step{7, []event.Field{field("x", num(x)), field("c", str("a")), field("n", num(-x))}})
		case 1: // another order, one feature missing
			steps = append(steps, step{8, []event.Field{field("n", num(x)), field("x", num(x/2))}})
		case 2: // an unexpected field
			steps = append(steps, step{9, []event.Field{field("x", num(x)), field("zz", num(1)), field("c", str("b")), field("n", num(0))}})
		case 3: // no layout
			steps = append(steps, step{0, []event.Field{field("c", str("d")), field("x", num(x))}})
		case 4: // the first layout again, values of the wrong type and null
			steps = append(steps, step{7, []event.Field{field("x", str("oops")), field("c", num(x)), field("n", event.Value{Kind: event.KindNull})}})
		default: // the first layout again
			steps = append(steps, step{7, []event.Field{field("x", num(-x)), field("c", str("e")), field("n", num(x))}})
		}
	}
	for _, s := range steps {
		byLayout.AddEvent(&event.Event{Layout: s.layout, Features: s.fields})
		byName.Add(&dataset.Record{Fields: s.fields})
	}
	if byLayout.Records != byName.Records || !maps.Equal(byLayout.Unexpected, byName.Unexpected) {
		t.Errorf("records %d, unexpected %v; by name %d, %v", byLayout.Records, byLayout.Unexpected, byName.Records, byName.Unexpected)
	}
	for i, f := range byLayout.Features {
		got, err := f.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		want, err := byName.Features[i].MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s by layout:\n%s\nby name:\n%s", specs[i].Name, got, want)
		}
	}
}

// TestHLLSignedZero: -0 and +0 are one distinct value.
func TestHLLSignedZero(t *testing.T) {
	var a, b HLL
	a.AddFloat(0)
	b.AddFloat(math.Copysign(0, -1))
	if !sameRegisters(&a, &b) {
		t.Error("-0 and +0 set different registers")
	}
}

// TestCategoryDistinctCount: a categorical feature's distinct count, which
// takes a category's hash at its first value of a window only, holds the
// registers of every value's hash, through resets and merges, for the
// contract's categories and others, below the bound and past it.
func TestCategoryDistinctCount(t *testing.T) {
	spec := Spec{Name: "c", Type: config.Categorical, Categories: []string{"a", "b", "c"}, MaxCategories: 5}
	r := rand.New(rand.NewPCG(8, 8))
	f, err := NewFeature(spec)
	if err != nil {
		t.Fatal(err)
	}
	var want HLL
	add := func(f *Feature, want *HLL) {
		v := []string{"a", "b", "c"}[r.IntN(3)]
		if r.IntN(3) == 0 {
			v = "x" + strconv.Itoa(r.IntN(12)) // unknown, some past the bound
		}
		f.AddString([]byte(v))
		want.AddHash(xxhash.Sum64String(v))
	}
	for round := range 4 {
		for range 200 {
			add(f, &want)
		}
		other, err := NewFeature(spec)
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			add(other, &want)
		}
		if err := f.Merge(other); err != nil {
			t.Fatal(err)
		}
		for range 50 {
			add(f, &want)
		}
		if got, exp := f.Distinct.appendState(nil), want.appendState(nil); !bytes.Equal(got, exp) {
			t.Fatalf("round %d: distinct-count state %x, every value's hashes give %x", round, got, exp)
		}
		f.Reset()
		want.Reset()
	}
}
