package profile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"

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
	dst = append(dst, stateVersion)
	dst = appendString(dst, f.spec.Name)
	dst = appendString(dst, string(f.spec.Type))
	for _, n := range [...]uint64{f.Rows, f.Nulls, f.NaN, f.PosInf, f.NegInf, uint64(len(f.Violations))} {
		dst = binary.AppendUvarint(dst, n)
	}
	for _, n := range f.Violations {
		dst = binary.AppendUvarint(dst, n)
	}
	dst = binary.AppendUvarint(dst, f.Finite)
	if f.Finite > 0 {
		dst = appendFloat(appendFloat(dst, f.Min), f.Max)
	}
	dst = appendFloat(appendFloat(dst, f.Mean), f.m2)
	dst = binary.AppendUvarint(dst, f.Other)
	if sk := f.Sketch; sk == nil {
		dst = append(dst, 0)
	} else {
		dst = append(dst, 1)
		dst = appendFloat(dst, sk.alpha)
		dst = binary.AppendUvarint(dst, sk.zero)
		dst = sk.pos.appendRun(dst)
		dst = sk.neg.appendRun(dst)
	}
	dst = binary.AppendUvarint(dst, uint64(len(f.spec.Edges)))
	for _, e := range f.spec.Edges {
		dst = appendFloat(dst, e)
	}
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
		dst = appendString(dst, k)
		dst = binary.AppendUvarint(dst, f.categories[k].n)
	}
	return f.Distinct.appendState(dst)
}

// UnmarshalState reads a profile written by MarshalState (or, before it, in the
// JSON form), under spec. The state's own sketch accuracy and bin edges are
// kept: they are what its counts mean.
func UnmarshalState(spec Spec, data []byte) (*Feature, error) {
	if len(data) > 0 && data[0] == '{' {
		return unmarshalJSONState(spec, data)
	}
	f, err := readState(spec, data)
	if err != nil {
		return nil, fmt.Errorf("reading profile state of %s: %w", spec.Name, err)
	}
	return f, nil
}

// errMalformed says a binary state ends early or holds values that no profile
// has.
var errMalformed = errors.New("malformed state")

func readState(spec Spec, data []byte) (*Feature, error) {
	r := stateReader{b: data}
	if v := r.byte(); v != stateVersion {
		if r.err != nil {
			return nil, r.err
		}
		return nil, fmt.Errorf("state version %d is not supported (want %d)", v, stateVersion)
	}
	name, typ := r.string(), r.string()
	if r.err != nil {
		return nil, r.err
	}
	if string(name) != spec.Name || string(typ) != string(spec.Type) {
		return nil, fmt.Errorf("state of %s (%s) does not match feature %s (%s)", name, typ, spec.Name, spec.Type)
	}
	var counts [5]uint64
	for i := range counts {
		counts[i] = r.uvarint()
	}
	var violations [numViolations]uint64
	if n := r.uvarint(); n != uint64(numViolations) {
		return nil, fmt.Errorf("%w: %d violation kinds, want %d", errMalformed, n, numViolations)
	}
	for i := range violations {
		violations[i] = r.uvarint()
	}
	finite := r.uvarint()
	lo, hi := math.Inf(1), math.Inf(-1)
	if finite > 0 {
		lo, hi = r.float(), r.float()
	}
	mean, m2 := r.float(), r.float()
	other := r.uvarint()
	var (
		alpha    float64
		zero     uint64
		pos, neg store
	)
	switch r.byte() {
	case 0:
	case 1:
		alpha, zero = r.float(), r.uvarint()
		// Buckets beyond those of the float64 range are corrupt, and would
		// only make the store allocate.
		if !(alpha > 0 && alpha < 0.5) {
			r.fail()
			break
		}
		sk, _ := NewSketch(alpha)
		lo, hi := sk.index(minIndexable), sk.index(math.MaxFloat64)
		pos, neg = r.run(lo, hi), r.run(lo, hi)
	default:
		r.fail()
	}
	edges := make([]float64, r.count(8))
	for i := range edges {
		edges[i] = r.float()
	}
	if r.err != nil {
		return nil, r.err
	}
	if (alpha != 0) != (spec.Type == config.Numeric) {
		return nil, fmt.Errorf("%w: a %s profile with a sketch of accuracy %v", errMalformed, spec.Type, alpha)
	}
	if alpha != 0 {
		spec.RelativeAccuracy = alpha
	}
	spec.Edges = nil
	if len(edges) > 0 {
		spec.Edges = edges
	}
	f, err := NewFeature(spec)
	if err != nil {
		return nil, err
	}
	if n := r.uvarint(); n != uint64(len(f.Bins)) {
		if r.err != nil {
			return nil, r.err
		}
		return nil, fmt.Errorf("%w: %d bins for %d edges", errMalformed, n, len(edges))
	}
	for i := range f.Bins {
		f.Bins[i] = r.uvarint()
	}
	f.Rows, f.Nulls, f.NaN, f.PosInf, f.NegInf = counts[0], counts[1], counts[2], counts[3], counts[4]
	f.Violations = violations
	f.Finite, f.Min, f.Max, f.Mean, f.m2 = finite, lo, hi, mean, m2
	if f.Sketch != nil {
		f.Sketch.zero, f.Sketch.pos, f.Sketch.neg = zero, pos, neg
		f.Sketch.count = zero + pos.total() + neg.total()
	}
	var prev []byte
	for i, n := 0, r.count(2); i < n; i++ {
		k, c := r.string(), r.uvarint()
		if r.err != nil {
			break
		}
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			return nil, fmt.Errorf("%w: categories out of order", errMalformed)
		}
		prev = k
		f.mergeCategory(string(k), c)
	}
	f.Other += other
	f.Distinct.readState(&r)
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%w: %d bytes after the end", errMalformed, len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return f, nil
}

// hllSize is the largest binary form of the distinct-count registers.
const hllSize = 1 + 1<<hllPrecision

func (h *HLL) appendState(dst []byte) []byte {
	if h.tidy(); h.reg == nil {
		// Sorted, one entry a register: the sparse form below, which a
		// quarter of the registers set at most always takes.
		dst = append(dst, 1)
		dst = binary.AppendUvarint(dst, uint64(len(h.small)))
		last := -1
		for _, e := range h.small {
			dst = binary.AppendUvarint(dst, uint64(int(e>>8)-last))
			dst = append(dst, uint8(e))
			last = int(e >> 8)
		}
		return dst
	}
	return h.appendRegisters(dst)
}

// appendRegisters is appendState of allocated registers.
func (h *HLL) appendRegisters(dst []byte) []byte {
	n := h.nonZero()
	// The sparse form costs two bytes or more a register, and a few
	// nanoseconds each to write: a small window fills few of them, while a
	// busy one's are copied whole (4 KiB) sooner than written one by one.
	if 4*n >= len(h.reg) {
		dst = append(dst, 0)
		return append(dst, h.reg[:]...)
	}
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, uint64(n))
	last := -1
	h.blocks(func(i int) {
		for j, r := range h.reg[i : i+hllBlock] {
			if r != 0 {
				dst = binary.AppendUvarint(dst, uint64(i+j-last))
				dst = append(dst, r)
				last = i + j
			}
		}
	})
	return dst
}

// nonZero counts the registers set.
func (h *HLL) nonZero() int {
	if h.tidy(); h.reg == nil {
		return len(h.small)
	}
	n := 0
	h.blocks(func(i int) {
		for _, r := range h.reg[i : i+hllBlock] {
			if r != 0 {
				n++
			}
		}
	})
	return n
}

func (h *HLL) readState(r *stateReader) {
	h.dense()
	switch r.byte() {
	case 0:
		if len(r.b) < len(h.reg) {
			r.fail()
			return
		}
		copy(h.reg[:], r.b)
		r.b = r.b[len(h.reg):]
		h.reindex()
	case 1:
		last := -1
		for n := r.count(2); n > 0 && r.err == nil; n-- {
			gap := r.uvarint()
			if gap == 0 || gap > uint64(len(h.reg)-1-last) {
				r.fail()
				return
			}
			last += int(gap)
			v := r.byte()
			if v == 0 {
				r.fail() // an empty register is not written
				return
			}
			h.reg[last] = v
			h.mark(uint64(last))
		}
	default:
		r.fail()
	}
}

// appendRun writes the store's non-empty buckets: their number, then the
// first one's index (varint) and count, then for each next one the empty
// buckets skipped and its count. A window of a few values fills a few of the
// buckets between its extremes, and an empty store is the same whatever
// memory it keeps.
func (st *store) appendRun(dst []byte) []byte {
	if st.tidy(); st.counts == nil {
		// The pairs are the dense run's non-empty buckets, in order.
		dst = binary.AppendUvarint(dst, uint64(len(st.small)))
		for k, b := range st.small {
			if k == 0 {
				dst = binary.AppendVarint(dst, int64(b.bucket()))
			} else {
				dst = binary.AppendUvarint(dst, uint64(b.bucket()-st.small[k-1].bucket()-1))
			}
			dst = binary.AppendUvarint(dst, b.count())
		}
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(st.nonZero()))
	last := -1
	for j := st.next(0); j < len(st.counts); j = st.next(j + 1) {
		c := st.counts[j]
		if last < 0 {
			dst = binary.AppendVarint(dst, int64(st.offset+j))
		} else {
			dst = binary.AppendUvarint(dst, uint64(j-last-1))
		}
		dst = binary.AppendUvarint(dst, c)
		last = j
	}
	return dst
}

func (st *store) nonZero() int {
	if st.tidy(); st.counts == nil {
		return len(st.small)
	}
	k := 0
	for _, w := range st.set {
		k += bits.OnesCount64(w)
	}
	return k
}

func (st *store) total() uint64 {
	var n uint64
	for _, b := range st.small {
		n += b.count()
	}
	for j := st.next(0); j < len(st.counts); j = st.next(j + 1) {
		n += st.counts[j]
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendFloat(dst []byte, x float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
}

// stateReader reads a binary state; after the first error every read returns
// zero, so that a reader checks once.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) fail() {
	if r.err == nil {
		r.err = errMalformed
	}
	r.b = nil
}

func (r *stateReader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *stateReader) uvarint() uint64 {
	x, n := binary.Uvarint(r.b)
	// An overlong encoding (ending in a zero byte) is refused, so that a state
	// has one form.
	if n <= 0 || n > 1 && r.b[n-1] == 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *stateReader) varint() int64 {
	x, n := binary.Varint(r.b)
	if n <= 0 || n > 1 && r.b[n-1] == 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *stateReader) float() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	x := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return x
}

// count reads a number of items that take at least size bytes each, refusing
// one that the rest of the state could not hold, so that a corrupt count cannot
// make the reader allocate without bound.
func (r *stateReader) count(size int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/size) {
		r.fail()
		return 0
	}
	return int(n)
}

// string returns bytes of the state, valid as long as it is.
func (r *stateReader) string() []byte {
	n := r.count(1)
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// run reads a store written by appendRun, of buckets in [lo, hi].
func (r *stateReader) run(lo, hi int) store {
	k := r.count(2)
	if k == 0 {
		return store{}
	}
	first := r.varint()
	if first < int64(lo) || first > int64(hi) {
		r.fail()
		return store{}
	}
	// The counts are read twice, to size the store once: the buckets between
	// the first and the last.
	rest := *r
	last := int(first)
	for i := range k {
		if i > 0 {
			gap := rest.uvarint()
			if hi-last-1 < 0 || gap > uint64(hi-last-1) {
				r.fail()
				return store{}
			}
			last += int(gap) + 1
		}
		if rest.uvarint() == 0 {
			r.fail() // an empty bucket is not written
			return store{}
		}
	}
	if rest.err != nil {
		r.fail()
		return store{}
	}
	st := store{offset: int(first), counts: make([]uint64, last-int(first)+1)}
	j := 0
	for i := range k {
		if i > 0 {
			j += int(r.uvarint()) + 1
		}
		st.counts[j] = r.uvarint()
	}
	st.index()
	return st
}

// unmarshalJSONState reads the JSON form of the state, which stores written
// before the binary one hold.
func unmarshalJSONState(spec Spec, data []byte) (*Feature, error) {
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading profile state: %w", err)
	}
	if s.Version != jsonStateVersion {
		return nil, fmt.Errorf("profile state version %d is not supported (want %d)", s.Version, jsonStateVersion)
	}
	if s.Name != spec.Name || s.Type != spec.Type {
		return nil, fmt.Errorf("profile state of %s (%s) does not match feature %s (%s)", s.Name, s.Type, spec.Name, spec.Type)
	}
	if s.Alpha != 0 {
		spec.RelativeAccuracy = s.Alpha
	}
	spec.Edges = s.Edges
	f, err := NewFeature(spec)
	if err != nil {
		return nil, err
	}
	if len(s.Violations) != len(f.Violations) || len(s.HLL) != registers || len(s.Bins) != len(f.Bins) {
		return nil, fmt.Errorf("profile state of %s is malformed", s.Name)
	}
	f.Rows, f.Nulls, f.NaN, f.PosInf, f.NegInf = s.Rows, s.Nulls, s.NaN, s.PosInf, s.NegInf
	copy(f.Violations[:], s.Violations)
	f.Finite, f.Mean, f.m2 = s.Finite, float64(s.Mean), float64(s.M2)
	if s.Min != nil && s.Max != nil {
		f.Min, f.Max = float64(*s.Min), float64(*s.Max)
	}
	if f.Sketch != nil && s.Sketch != nil {
		if b := s.Sketch; abs(b.PosOffset) > maxSketchOffset || abs(b.NegOffset) > maxSketchOffset {
			return nil, fmt.Errorf("profile state of %s is malformed: sketch offsets out of range", s.Name)
		}
		fb := FeatureBaseline{Sketch: s.Sketch}
		if f.Sketch, err = fb.sketch(f.Sketch.alpha); err != nil {
			return nil, err
		}
	}
	copy(f.Bins, s.Bins)
	for k, n := range s.Categories {
		f.mergeCategory(k, n)
	}
	f.Other += s.Other
	f.Distinct.dense()
	copy(f.Distinct.reg[:], s.HLL)
	f.Distinct.reindex()
	return f, nil
}

// jsonFloat encodes non-finite values as strings, which JSON numbers cannot be:
// moments of extreme values can overflow, and the state must still be written.
type jsonFloat float64

func (x jsonFloat) MarshalJSON() ([]byte, error) {
	f := float64(x)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(f)
}

func (x *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("reading profile state: %w", err)
		}
		*x = jsonFloat(f)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*x = jsonFloat(f)
	return nil
}
