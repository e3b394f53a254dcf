package profile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sentinel-ml/sentinel/internal/binstate"
	"github.com/sentinel-ml/sentinel/internal/config"
)

// jsonStateVersion is the version of the JSON form of a profile's state, which
// stores written before the binary form hold and which is still read.
const jsonStateVersion = 1

// stateVersion is the first byte of the binary form, which MarshalState writes.
// It cannot be '{', which begins the JSON form.
const stateVersion = 2

// state is a Feature's complete mergeable content in its JSON form: partial
// profiles of one window from several partitions or replicas can be read back
// and merged.
type state struct {
	Version    int                `json:"v"`
	Name       string             `json:"name"`
	Type       config.FeatureType `json:"type"`
	Rows       uint64             `json:"rows"`
	Nulls      uint64             `json:"nulls,omitempty"`
	NaN        uint64             `json:"nan,omitempty"`
	PosInf     uint64             `json:"pos_inf,omitempty"`
	NegInf     uint64             `json:"neg_inf,omitempty"`
	Violations []uint64           `json:"violations"`
	Finite     uint64             `json:"finite,omitempty"`
	Min        *jsonFloat         `json:"min,omitempty"`
	Max        *jsonFloat         `json:"max,omitempty"`
	Mean       jsonFloat          `json:"mean,omitempty"`
	M2         jsonFloat          `json:"m2,omitempty"`
	Alpha      float64            `json:"alpha,omitempty"`
	Sketch     *SketchBuckets     `json:"sketch,omitempty"`
	Edges      []float64          `json:"edges,omitempty"`
	Bins       []uint64           `json:"bins,omitempty"`
	Categories map[string]uint64  `json:"categories,omitempty"`
	Other      uint64             `json:"other,omitempty"`
	// HLL holds the distinct-count registers.
	HLL []byte `json:"hll"`
}

// MarshalState serialises the profile so that it can be merged later, in the
// binary form AppendState writes. It does not fail; the error is kept for
// callers written when it could.
func (f *Feature) MarshalState() ([]byte, error) {
	return f.AppendState(make([]byte, 0, f.stateSize())), nil
}

// stateSize is close to the binary state's size, so that MarshalState
// allocates once and not much more than it needs.
func (f *Feature) stateSize() int {
	n := 64 + len(f.spec.Name) + 8*len(f.spec.Edges) + 3*len(f.Bins) + 2*f.Distinct.nonZero() + 8
	if f.Sketch != nil {
		// A gap and a count, usually of a byte or two each.
		f.Sketch.drain()
		n += 24 + 4*(f.Sketch.pos.nonZero()+f.Sketch.neg.nonZero())
	}
	for k := range f.categories {
		n += 8 + len(k)
	}
	return min(n, 1+hllSize+n)
}

// AppendState appends the profile's state to dst in its binary form:
//
//	version byte (stateVersion)
//	name, type                       uvarint length and bytes
//	rows, nulls, NaN, +Inf, -Inf     uvarints
//	violations                       uvarint count, uvarints
//	finite                           uvarint
//	min, max                         float64s, only when finite > 0
//	mean, m2                         float64s
//	other                            uvarint
//	sketch                           byte 0, or 1 then alpha (float64), zero
//	                                 count (uvarint), positive and negative
//	                                 buckets (see appendRun)
//	edges                            uvarint count, float64s
//	bins                             uvarint count, uvarints
//	categories                       uvarint count, then name and count each,
//	                                 in byte order
//	distinct registers               byte 0 then all of them, or byte 1 then
//	                                 the non-zero ones: count, then gap from
//	                                 the previous index (uvarint) and value
//
// float64s are their IEEE bits, little-endian, so every count, sum and extreme
// reads back exactly, NaN and infinities included. Equal profiles give equal
// bytes.
func (f *Feature) AppendState(dst []byte) []byte {
	dst = appendHead(dst, f.spec)
	for _, n := range [...]uint64{f.Rows, f.Nulls, f.NaN, f.PosInf, f.NegInf, uint64(len(f.Violations))} {
		dst = binary.AppendUvarint(dst, n)
	}
	for _, n := range f.Violations {
		dst = binary.AppendUvarint(dst, n)
	}
	dst = binary.AppendUvarint(dst, f.Finite)
	if f.Finite > 0 {
		dst = binstate.AppendFloat(binstate.AppendFloat(dst, f.Min), f.Max)
	}
	dst = binstate.AppendFloat(binstate.AppendFloat(dst, f.Mean), f.m2)
	dst = binary.AppendUvarint(dst, f.Other)
	if sk := f.Sketch; sk == nil {
		dst = append(dst, 0)
	} else {
		dst = sk.AppendState(append(dst, 1))
	}
	dst = appendEdges(dst, f.spec.Edges)
	dst = binary.AppendUvarint(dst, uint64(len(f.Bins)))
	for _, c := range f.Bins {
		dst = binary.AppendUvarint(dst, c)
	}
	f.keys = f.keys[:0]
	for k := range f.categories {
		f.keys = append(f.keys, k)
	}
	slices.Sort(f.keys)
	dst = binary.AppendUvarint(dst, uint64(len(f.keys)))
	for _, k := range f.keys {
		dst = binstate.AppendBytes(dst, k)
		dst = binary.AppendUvarint(dst, f.categories[k].n)
	}
	return f.Distinct.appendState(dst)
}

// stateIndex is what Feature.ReadState compares a state with, field by
// field only where it differs: the check stage reads every feature of every
// share, and these parts are the same in each. A prepared spec's is shared
// by its profiles.
type stateIndex struct {
	// head is what a state of the spec begins with (appendHead), edges its
	// bin edges (appendEdges).
	head, edges []byte
	// names are the spec's categories (knownCategories), in the order of a
	// profile's known slab.
	names []string
	// from is the spec it was made of.
	from Spec
}

// fits reports whether the index was made of spec, as far as it reads
// spec: a spec copied from a prepared one and changed (as a state of other
// edges makes) is not.
func (ix *stateIndex) fits(spec Spec) bool {
	f := ix.from
	return f.Name == spec.Name && f.Type == spec.Type && sameSlice(f.Edges, spec.Edges) &&
		sameSlice(f.Tracked, spec.Tracked) && sameSlice(f.Categories, spec.Categories)
}

// sameSlice reports whether a and b are the same slice (not only equal).
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func newStateIndex(spec Spec) *stateIndex {
	ix := &stateIndex{head: appendHead(nil, spec), edges: appendEdges(nil, spec.Edges), from: spec}
	ix.from.reading = nil
	if spec.Type == config.Categorical || spec.Type == config.Boolean {
		ix.names = knownCategories(spec)
	}
	return ix
}

// Prepared returns the spec with what reading its profiles' states compares
// them with, made once for the profiles of every window of a model rather
// than once each.
func (s Spec) Prepared() Spec {
	s.reading = newStateIndex(s)
	return s
}

// appendHead appends what a state of spec begins with: the version, the
// feature's name and type.
func appendHead(dst []byte, spec Spec) []byte {
	dst = append(dst, stateVersion)
	dst = binstate.AppendBytes(dst, spec.Name)
	return binstate.AppendBytes(dst, string(spec.Type))
}

// appendEdges appends the bin edges as a state holds them: their count,
// then each.
func appendEdges(dst []byte, edges []float64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(edges)))
	for _, e := range edges {
		dst = binstate.AppendFloat(dst, e)
	}
	return dst
}

// UnmarshalState reads a profile written by MarshalState (or, before it, in the
// JSON form), under spec. The state's own sketch accuracy and bin edges are
// kept: they are what its counts mean.
func UnmarshalState(spec Spec, data []byte) (*Feature, error) {
	if len(data) > 0 && data[0] == '{' {
		return unmarshalJSONState(spec, data)
	}
	f, err := readState(spec, data, nil)
	if err != nil {
		return nil, fmt.Errorf("reading profile state of %s: %w", spec.Name, err)
	}
	return f, nil
}

// ReadState makes f the profile AppendState wrote, in the memory f has (its
// sketch's buckets, its registers, its categories): what a recycled window
// does with a share read from the partials topic. The state must be of f's
// sketch accuracy and bin edges, or it is an error, and f is left empty.
func (f *Feature) ReadState(data []byte) error {
	f.Reset()
	if _, err := readState(f.spec, data, f); err != nil {
		f.Reset()
		return fmt.Errorf("reading profile state of %s: %w", f.spec.Name, err)
	}
	return nil
}

// errMalformed says a binary state ends early or holds values that no profile
// has.
var errMalformed = errors.New("malformed state")

// readState reads a binary state under spec: into f, empty, when it is not
// nil, and into a new profile of the state's accuracy and edges when it is.
func readState(spec Spec, data []byte, f *Feature) (*Feature, error) {
	r := binstate.NewReader(data, errMalformed)
	if f != nil && bytes.HasPrefix(data, f.reading.head) {
		r.Skip(len(f.reading.head))
		return readBody(&r, spec, f)
	}
	if v := r.Byte(); v != stateVersion {
		if r.Err() != nil {
			return nil, r.Err()
		}
		return nil, fmt.Errorf("state version %d is not supported (want %d)", v, stateVersion)
	}
	name, typ := r.Bytes(), r.Bytes()
	if r.Err() != nil {
		return nil, r.Err()
	}
	if string(name) != spec.Name || string(typ) != string(spec.Type) {
		return nil, fmt.Errorf("state of %s (%s) does not match feature %s (%s)", name, typ, spec.Name, spec.Type)
	}
	return readBody(&r, spec, f)
}

// readBody reads the rest of a state after its head, as readState does.
func readBody(r *binstate.Reader, spec Spec, f *Feature) (*Feature, error) {
	var counts [5]uint64
	r.Uvarints(counts[:])
	var violations [numViolations]uint64
	if n := r.Uvarint(); n != uint64(numViolations) {
		return nil, fmt.Errorf("%w: %d violation kinds, want %d", errMalformed, n, numViolations)
	}
	r.Uvarints(violations[:])
	finite := r.Uvarint()
	lo, hi := math.Inf(1), math.Inf(-1)
	if finite > 0 {
		lo, hi = r.Float(), r.Float()
	}
	mean, m2 := r.Float(), r.Float()
	other := r.Uvarint()
	if f == nil {
		var err error
		if f, err = readShape(spec, r); err != nil {
			return nil, err
		}
	} else if err := f.readShape(r); err != nil {
		return nil, err
	}
	if n := r.Uvarint(); n != uint64(len(f.Bins)) {
		if r.Err() != nil {
			return nil, r.Err()
		}
		return nil, fmt.Errorf("%w: %d bins for %d edges", errMalformed, n, len(f.edges))
	}
	r.Uvarints(f.Bins)
	f.Rows, f.Nulls, f.NaN, f.PosInf, f.NegInf = counts[0], counts[1], counts[2], counts[3], counts[4]
	f.Violations = violations
	f.Finite, f.Min, f.Max, f.Mean, f.m2 = finite, lo, hi, mean, m2
	var prev []byte
	names := 0
	for i, n := 0, r.Count(2); i < n; i++ {
		k, c := r.Bytes(), r.Uvarint()
		if r.Err() != nil {
			break
		}
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			return nil, fmt.Errorf("%w: categories out of order", errMalformed)
		}
		prev = k
		// The state's categories and the spec's, in the known slab, are in
		// the same order: one walk finds those of the spec, without
		// hashing. Only those are in f, empty, and others are new.
		for names < len(f.reading.names) && f.reading.names[names] < string(k) {
			names++
		}
		if names < len(f.reading.names) && f.reading.names[names] == string(k) {
			f.known[names].n += c
			names++
			continue
		}
		f.newCategory(string(k), c)
	}
	f.Other += other
	f.Distinct.readState(r)
	if r.Err() == nil && r.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the end", errMalformed, r.Len())
	}
	if r.Err() != nil {
		return nil, r.Err()
	}
	return f, nil
}

// readShape reads the sketch and the bin edges of a state, and returns an
// empty profile of spec at the state's accuracy and edges with the sketch's
// counts: they are what its counts mean.
func readShape(spec Spec, r *binstate.Reader) (*Feature, error) {
	var sketch *Sketch
	switch r.Byte() {
	case 0:
	case 1:
		sketch = ReadSketch(r)
	default:
		r.Fail()
	}
	edges := make([]float64, r.Count(8))
	for i := range edges {
		edges[i] = r.Float()
	}
	if r.Err() != nil {
		return nil, r.Err()
	}
	if (sketch != nil) != (spec.Type == config.Numeric) {
		return nil, fmt.Errorf("%w: a %s profile with a sketch: %t", errMalformed, spec.Type, sketch != nil)
	}
	if sketch != nil {
		spec.RelativeAccuracy = sketch.alpha
	}
	spec.Edges = nil
	if len(edges) > 0 {
		spec.Edges = edges
	}
	f, err := NewFeature(spec)
	if err != nil {
		return nil, err
	}
	if sketch != nil {
		f.Sketch = sketch
	}
	return f, nil
}

// readShape reads the sketch and the bin edges of a state into f, empty,
// whose accuracy and edges they must be.
func (f *Feature) readShape(r *binstate.Reader) error {
	switch r.Byte() {
	case 0:
		if f.Sketch != nil {
			return fmt.Errorf("%w: a %s profile without a sketch", errMalformed, f.spec.Type)
		}
	case 1:
		if f.Sketch == nil {
			return fmt.Errorf("%w: a %s profile with a sketch", errMalformed, f.spec.Type)
		}
		if alpha := r.Float(); alpha != f.Sketch.alpha && r.Err() == nil {
			return fmt.Errorf("a state of sketch accuracy %v, where the profile's is %v", alpha, f.Sketch.alpha)
		}
		f.Sketch.readBuckets(r)
	default:
		r.Fail()
	}
	if bytes.HasPrefix(r.Rest(), f.reading.edges) {
		r.Skip(len(f.reading.edges))
		return r.Err()
	}
	n := r.Count(8)
	if r.Err() == nil && n != len(f.edges) {
		return fmt.Errorf("a state of %d bin edges, where the profile has %d", n, len(f.edges))
	}
	for _, e := range f.edges {
		if x := r.Float(); x != e && r.Err() == nil {
			return fmt.Errorf("a state of bin edge %v, where the profile's is %v", x, e)
		}
	}
	return r.Err()
}
