// Package profile keeps streaming, mergeable summaries of feature values — one
// Feature per (model, feature, window) — and the baseline file that summarises a
// model's training data.
package profile

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/numparse"
	"github.com/sentinel-ml/sentinel/internal/stats"
)

// Violation is a kind of contract breach, counted per feature.
type Violation uint8

// Violation kinds.
const (
	// Missing: the record had no value for the feature at all (a short CSV row, an
	// absent JSON key).
	Missing Violation = iota
	// NullNotAllowed: a null for a feature that is not nullable.
	NullNotAllowed
	// WrongType: a value that cannot be read as the feature's type.
	WrongType
	// OutOfRange: a finite number outside the contract's [min, max].
	OutOfRange
	// UnknownCategory: a category the contract does not list.
	UnknownCategory
	numViolations
)

var violationNames = [numViolations]string{"missing", "null", "wrong_type", "out_of_range", "unknown_category"}

func (v Violation) String() string { return violationNames[v] }

// Spec is what a Feature needs to know of its contract and baseline.
type Spec struct {
	Name     string
	Type     config.FeatureType
	Nullable bool
	// Min and Max bound valid numeric values; nil means unbounded.
	Min, Max *float64
	// Categories lists the contract's valid categories; values outside it are
	// violations. Empty means any category is valid.
	Categories []string
	// Tracked are categories always counted exactly (the baseline's), on top of
	// MaxCategories others.
	Tracked []string
	// MaxCategories bounds the untracked categories counted exactly; the rest are
	// counted as other.
	MaxCategories int
	// Edges are the inner bin edges from the baseline; nil for no bin counts.
	Edges []float64
	// RelativeAccuracy of the quantile sketch; zero means DefaultRelativeAccuracy.
	RelativeAccuracy float64

	// reading is what reading a state of the spec's profiles compares it
	// with (Prepared); nil until then.
	reading *stateIndex
}

// Feature is the profile of one feature's values. The Add methods allocate nothing
// once the sketch's range and the category set have settled.
//
// The fields a value updates come first, next to each other: a daemon of
// many models adds each event's values to profiles no cache holds, and each
// cache line they span is a miss.
type Feature struct {
	Rows uint64
	// Finite counts finite numeric values; Min, Max, Mean and m2 (Welford's sum of
	// squared deviations) describe them.
	Finite   uint64
	Min, Max float64
	Mean     float64
	m2       float64
	lo, hi   float64
	Sketch   *Sketch
	Bins     []uint64
	// edges is spec.Edges, beside the bins it finds.
	edges []float64
	// categories counts categorical and boolean values; Other counts values beyond
	// the bound.
	categories map[string]*categoryCount
	// known are the spec's categories, which categories points into: Reset
	// zeroes them here, and walks the map (slow, for a dozen entries, next
	// to reading a window's state) only when it holds others.
	known []categoryCount

	Distinct HLL

	Nulls      uint64
	NaN        uint64
	PosInf     uint64
	NegInf     uint64
	Violations [numViolations]uint64
	Other      uint64

	spec  Spec
	valid map[string]struct{}
	limit int // most distinct categories counted exactly

	scratch []byte
	keys    []string // AppendState's sorting space
	// dist is the memory Distribution makes its result in.
	dist struct {
		atoms      []stats.Atom
		bins       []float64
		categories map[string]float64
	}
	// reading is its spec's (Prepared), or made for it.
	reading *stateIndex
}

// NewFeature returns an empty profile for spec.
func NewFeature(spec Spec) (*Feature, error) {
	f := &Feature{spec: spec, edges: spec.Edges, lo: math.Inf(-1), hi: math.Inf(1), Min: math.Inf(1), Max: math.Inf(-1)}
	f.reading = spec.reading
	if f.reading == nil || !f.reading.fits(spec) {
		f.reading = newStateIndex(spec)
	}
	if spec.Min != nil {
		f.lo = *spec.Min
	}
	if spec.Max != nil {
		f.hi = *spec.Max
	}
	switch spec.Type {
	case config.Numeric:
		alpha := spec.RelativeAccuracy
		if alpha == 0 {
			alpha = DefaultRelativeAccuracy
		}
		sk, err := NewSketch(alpha)
		if err != nil {
			return nil, fmt.Errorf("feature %s: %w", spec.Name, err)
		}
		f.Sketch = sk
		if spec.Edges != nil {
			f.Bins = make([]uint64, len(spec.Edges)+1)
		}
	case config.Categorical, config.Boolean:
		if len(spec.Categories) > 0 {
			f.valid = make(map[string]struct{}, len(spec.Categories))
			for _, c := range spec.Categories {
				f.valid[c] = struct{}{}
			}
		}
		maxCats := spec.MaxCategories
		if maxCats <= 0 {
			maxCats = config.DefaultMaxCategories
		}
		// The baseline's and the contract's categories are counted exactly, the
		// latter so that checking a value against them is the same map lookup as
		// counting it; they live in one slab and stay through Reset.
		names := f.reading.names
		f.categories = make(map[string]*categoryCount, len(names))
		f.known = make([]categoryCount, len(names))
		for i, c := range names {
			f.known[i] = categoryCount{hash: xxhash.Sum64String(c), unknown: !f.isValid(c), known: true}
			f.categories[c] = &f.known[i]
		}
		f.limit = len(f.categories) + maxCats
	default:
		return nil, fmt.Errorf("feature %s: unknown type %q", spec.Name, spec.Type)
	}
	return f, nil
}

// knownCategories are the categories a profile of spec counts exactly from
// the start, the tracked and the contract's, each once, in byte order: the
// order of its known slab and of a state's categories.
func knownCategories(spec Spec) []string {
	names := slices.Concat(spec.Tracked, spec.Categories)
	slices.Sort(names)
	return slices.Compact(names)
}

// Reset empties the profile for another window of the same spec, keeping its
// memory: the sketch's buckets, the bins and the spec's categories. Only
// categories the spec does not name are forgotten (and allocated again when
// they come back), so that one window's free-form values do not use up the
// next one's bound.
func (f *Feature) Reset() {
	f.Rows, f.Nulls, f.NaN, f.PosInf, f.NegInf = 0, 0, 0, 0, 0
	f.Violations = [numViolations]uint64{}
	f.Finite, f.Min, f.Max, f.Mean, f.m2 = 0, math.Inf(1), math.Inf(-1), 0, 0
	if f.Sketch != nil {
		f.Sketch.reset()
	}
	clear(f.Bins)
	for i := range f.known {
		f.known[i].n = 0
	}
	if len(f.categories) > len(f.known) {
		for k, c := range f.categories {
			if !c.known {
				delete(f.categories, k)
			}
		}
	}
	f.Other = 0
	f.Distinct.Reset()
}

// Spec returns the feature's spec.
func (f *Feature) Spec() Spec { return f.spec }

// AddNull counts a null value.
func (f *Feature) AddNull() {
	f.Rows++
	f.Nulls++
	if !f.spec.Nullable {
		f.Violations[NullNotAllowed]++
	}
}

// AddMissing counts a record that lacked the feature.
func (f *Feature) AddMissing() {
	f.Rows++
	f.Violations[Missing]++
}

// AddWrongType counts a value that is not of the feature's type.
func (f *Feature) AddWrongType() {
	f.Rows++
	f.Violations[WrongType]++
}

// AddNumber adds a number, including NaN and ±Inf.
func (f *Feature) AddNumber(x float64) {
	switch f.spec.Type {
	case config.Numeric:
		f.addNumeric(x)
	case config.Boolean:
		switch x {
		case 0:
			f.AddBool(false)
		case 1:
			f.AddBool(true)
		default:
			f.AddWrongType()
		}
	default:
		// A categorical feature coded as numbers (a zip code, a class id).
		f.scratch = strconv.AppendFloat(f.scratch[:0], x, 'g', -1, 64)
		f.AddString(f.scratch)
	}
}

func (f *Feature) addNumeric(x float64) {
	f.Rows++
	switch {
	case x != x:
		f.NaN++
		return
	case x > math.MaxFloat64:
		f.PosInf++
		return
	case x < -math.MaxFloat64:
		f.NegInf++
		return
	}
	if x < f.lo || x > f.hi {
		f.Violations[OutOfRange]++
	}
	f.Finite++
	if x < f.Min {
		f.Min = x
	}
	if x > f.Max {
		f.Max = x
	}
	d := x - f.Mean
	f.Mean += d / float64(f.Finite)
	f.m2 += d * (x - f.Mean)
	f.Sketch.Add(x)
	if f.Bins != nil {
		f.Bins[binIndex(f.edges, x)]++
	}
	// AddFloat, by hand: marking the register's block took it past the
	// inlining budget.
	f.Distinct.AddHash(mix64(math.Float64bits(x + 0)))
}

// binIndex is stats.BinIndex, repeated here so the hot loop inlines.
func binIndex(edges []float64, x float64) int {
	for i, e := range edges {
		if x <= e {
			return i
		}
	}
	return len(edges)
}

// AddBool adds a boolean value.
func (f *Feature) AddBool(b bool) {
	switch f.spec.Type {
	case config.Numeric:
		f.AddWrongType()
	default:
		if b {
			f.addCategory([]byte("true"))
		} else {
			f.addCategory([]byte("false"))
		}
	}
}

// AddString adds a string value: a category, or a wrong type for other features.
func (f *Feature) AddString(s []byte) {
	if f.spec.Type != config.Categorical {
		f.AddWrongType()
		return
	}
	f.addCategory(s)
}

// AddText adds an untyped cell (CSV) read as the feature's type; an empty cell is a
// null. NaN, Inf and -Inf are numbers, as strconv reads them.
func (f *Feature) AddText(s []byte) {
	if len(s) == 0 {
		f.AddNull()
		return
	}
	switch f.spec.Type {
	case config.Numeric:
		x, err := numparse.ParseFloat(s)
		if err != nil {
			f.AddWrongType()
			return
		}
		f.addNumeric(x)
	case config.Boolean:
		b, ok := parseBool(s)
		if !ok {
			f.AddWrongType()
			return
		}
		f.AddBool(b)
	default:
		f.addCategory(s)
	}
}

// addCategory counts a value. Counts live behind pointers because
// incrementing m[string(b)] in place would allocate the key on every call, while
// a lookup does not. A counted category carries its hash, which spares hashing
// the value for the distinct count: most values are of categories already
// counted. The hash goes to the distinct count at the category's first value
// only: adding it again leaves every register as it is, and the distinct
// count is reset, merged and stored with the counts (a count above zero
// means its hash is in).
func (f *Feature) addCategory(s []byte) {
	f.Rows++
	if c := f.categories[string(s)]; c != nil {
		c.n++
		if c.unknown {
			f.Violations[UnknownCategory]++
		}
		if c.n == 1 {
			f.Distinct.AddHash(c.hash)
		}
		return
	}
	h := xxhash.Sum64(s)
	f.Distinct.AddHash(h)
	unknown := !f.isValid(string(s))
	if unknown {
		f.Violations[UnknownCategory]++
	}
	if len(f.categories) < f.limit {
		f.categories[string(s)] = &categoryCount{n: 1, hash: h, unknown: unknown}
		return
	}
	f.Other++
}

// categoryCount is one category's count, its hash, whether the contract lists
// it, and whether it is one of the spec's (which Reset keeps).
type categoryCount struct {
	n       uint64
	hash    uint64 // for the distinct count
	unknown bool
	known   bool
}

func (f *Feature) isValid(s string) bool {
	if f.valid == nil {
		return true
	}
	_, ok := f.valid[s]
	return ok
}

// mergeCategory adds a count from another profile, whose unknown-category
// violations it already counted.
func (f *Feature) mergeCategory(s string, n uint64) {
	if c := f.categories[s]; c != nil {
		c.n += n
		return
	}
	f.newCategory(s, n)
}

// newCategory is mergeCategory of a category not counted yet.
func (f *Feature) newCategory(s string, n uint64) {
	if len(f.categories) < f.limit {
		f.categories[s] = &categoryCount{n: n, hash: xxhash.Sum64String(s), unknown: !f.isValid(s)}
		return
	}
	f.Other += n
}

// CategoryCounts returns a copy of the category counts.
func (f *Feature) CategoryCounts() map[string]uint64 {
	m := make(map[string]uint64, len(f.categories))
	for k, c := range f.categories {
		m[k] = c.n
	}
	return m
}

// Merge adds o, a profile of the same spec, to f.
func (f *Feature) Merge(o *Feature) error {
	if o.spec.Type != f.spec.Type || o.spec.Name != f.spec.Name {
		return fmt.Errorf("cannot merge profile of %s (%s) into %s (%s)", o.spec.Name, o.spec.Type, f.spec.Name, f.spec.Type)
	}
	if len(o.Bins) != len(f.Bins) {
		return fmt.Errorf("cannot merge profiles of %s with %d and %d bins", f.spec.Name, len(o.Bins), len(f.Bins))
	}
	f.Rows += o.Rows
	f.Nulls += o.Nulls
	f.NaN += o.NaN
	f.PosInf += o.PosInf
	f.NegInf += o.NegInf
	for i := range f.Violations {
		f.Violations[i] += o.Violations[i]
	}
	if o.Finite > 0 {
		f.Finite, f.Mean, f.m2 = mergeMoments(f.Finite, f.Mean, f.m2, o.Finite, o.Mean, o.m2)
		f.Min = math.Min(f.Min, o.Min)
		f.Max = math.Max(f.Max, o.Max)
	}
	if f.Sketch != nil {
		if err := f.Sketch.Merge(o.Sketch); err != nil {
			return fmt.Errorf("merging %s: %w", f.spec.Name, err)
		}
	}
	for i, c := range o.Bins {
		f.Bins[i] += c
	}
	for k, c := range o.categories {
		f.mergeCategory(k, c.n)
	}
	f.Other += o.Other
	f.Distinct.Merge(&o.Distinct)
	return nil
}

// mergeMoments combines the counts, means and sums of squared deviations of two
// runs of values by Chan, Golub and LeVeque's pairwise update, which keeps the
// merged variance as accurate as a single pass. The second run is not empty.
func mergeMoments(n1 uint64, mean1, m21 float64, n2 uint64, mean2, m22 float64) (uint64, float64, float64) {
	a, b := float64(n1), float64(n2)
	n := a + b
	d := mean2 - mean1
	return n1 + n2, mean1 + d*b/n, m21 + (m22 + d*d*a*b/n)
}

// Variance is the sample variance (n−1 denominator) of the finite values.
func (f *Feature) Variance() float64 {
	if f.Finite < 2 {
		return math.NaN()
	}
	return f.m2 / float64(f.Finite-1)
}

// StdDev is the sample standard deviation of the finite values.
func (f *Feature) StdDev() float64 { return math.Sqrt(f.Variance()) }

// Rate returns n as a share of the rows, 0 when there are none.
func (f *Feature) Rate(n uint64) float64 {
	if f.Rows == 0 {
		return 0
	}
	return float64(n) / float64(f.Rows)
}

// ViolationCounts returns the non-zero violation counts by kind name.
func (f *Feature) ViolationCounts() map[string]uint64 {
	m := make(map[string]uint64)
	for i, n := range f.Violations {
		if n > 0 {
			m[Violation(i).String()] = n
		}
	}
	return m
}
