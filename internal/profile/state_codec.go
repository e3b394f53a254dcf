package profile

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/sentinel-ml/sentinel/internal/binstate"
)

// The pieces of the binary state: the distinct-count registers and sketch
// stores as runs, and a reader that fails once and stays failed, so that a
// truncated or corrupt state is one error at the end rather than a check per
// read.

// hllSize is the largest binary form of the distinct-count registers.
const hllSize = 1 + 1<<hllPrecision

func (h *HLL) appendState(dst []byte) []byte {
	h.drain()
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
	h.drain()
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

// readState sets the registers of an empty estimator from appendState's
// form. A few registers stay small, as added hashes do: a window's
// categorical features set a few dozen, and 4 KiB of them each cost more to
// allocate than the window's events did to count.
func (h *HLL) readState(r *binstate.Reader) {
	h.drain()
	switch r.Byte() {
	case 0:
		reg := r.Next(registers)
		if reg == nil {
			return
		}
		h.dense()
		copy(h.reg[:], reg)
		h.reindex()
	case 1:
		n := r.Count(2)
		if h.reg == nil && n > hllSmall/2 {
			h.dense()
		}
		if h.reg == nil {
			h.readSmall(r, n)
			return
		}
		// Registers: a busy window's, or those of a recycled estimator.
		last := -1
		for ; n > 0 && r.Err() == nil; n-- {
			gap := r.Uvarint()
			if gap == 0 || gap > uint64(registers-1-last) {
				r.Fail()
				return
			}
			last += int(gap)
			v := r.Byte()
			if v == 0 {
				r.Fail() // an empty register is not written
				return
			}
			h.reg[last] = v
			h.mark(uint64(last))
		}
	default:
		r.Fail()
	}
}

// readSmall is readState's sparse form of n entries into small entries.
// It reads the bytes themselves, without a call, and checks the last index
// once rather than each: the check stage reads every feature of every
// share, and a call and checks a value made reading a small window's state
// cost about what profiling its values had.
func (h *HLL) readSmall(r *binstate.Reader, n int) {
	if cap(h.small) < n {
		h.small = make([]uint32, 0, hllSmall)
	}
	b, i, last := r.Rest(), 0, -1
	small := h.small[:n]
	for k := range small {
		var gap, v uint32
		if i <= len(b)-4 {
			// Four bytes hold an entry, its gap of one byte (most, a few
			// dozen registers of thousands being set) or two (the rest: a
			// longer one is past the last register): one load.
			x := binary.LittleEndian.Uint32(b[i:])
			switch gap, v = x&0xff, x>>8&0xff; {
			case gap < 0x80:
				i += 2
			case v-1 < 0x7f: // a two-byte gap, not overlong
				gap, v = gap&0x7f|v<<7, x>>16&0xff
				i += 3
			default:
				r.Fail()
				return
			}
		} else {
			// The last bytes of the state.
			g, at := binstate.UvarintAt(b, i)
			if at < 0 || at >= len(b) || g >= registers {
				r.Fail()
				return
			}
			gap, v, i = uint32(g), uint32(b[at]), at+1
		}
		if gap == 0 || v == 0 { // an empty register is not written
			r.Fail()
			return
		}
		last += int(gap)
		// In index order, one a register: sorted as they come.
		small[k] = uint32(last)<<8 | v
	}
	if last >= registers {
		r.Fail()
		return
	}
	h.small, h.sorted = small, len(small)
	r.Skip(i)
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

// read adds to an empty store the buckets appendRun wrote, of buckets in
// [lo, hi], and returns their total. A few go to small pairs, as values
// added do, in order, so sorted as they come; more to the dense run, which
// the first time is sized once to hold them all (a baseline's thousands of
// buckets, one at a time, grew it by its slack over and over). A store
// recycled keeps its dense run, and a window's buckets mostly fall in it.
func (st *store) read(r *binstate.Reader, lo, hi int) uint64 {
	k := r.Count(2)
	if k == 0 {
		return 0
	}
	first := r.Varint()
	if first < int64(lo) || first > int64(hi) {
		r.Fail()
		return 0
	}
	if st.counts == nil && k <= smallBuckets/2 {
		if total, ok := st.readSmall(r, int(first), k, hi); ok {
			return total
		}
	}
	if st.counts == nil && k > smallBuckets/2 {
		last, ok := runEnd(*r, int(first), k, hi)
		if !ok {
			r.Fail()
			return 0
		}
		st.alloc(int(first), last-int(first)+1)
	}
	var total uint64
	j := int(first)
	for i := range k {
		if i > 0 {
			gap := r.Uvarint()
			if hi-j-1 < 0 || gap > uint64(hi-j-1) {
				r.Fail()
				return 0
			}
			j += int(gap) + 1
		}
		c := r.Uvarint()
		if c == 0 {
			r.Fail() // an empty bucket is not written
			return 0
		}
		total += c
		if st.counts == nil && c <= math.MaxUint32 && len(st.small) < smallBuckets/2 {
			if st.small == nil {
				st.small = make([]smallBucket, 0, smallBuckets)
			}
			st.small = append(st.small, newSmallBucket(j, c))
			st.sorted = len(st.small)
			continue
		}
		st.add(j, c)
	}
	return total
}

// readSmall is read of k buckets from first into the small pairs of an
// empty store, as HLL.readSmall reads registers and for the same reason;
// ok is false, with nothing read, when a count does not fit a pair.
func (st *store) readSmall(r *binstate.Reader, first, k, hi int) (total uint64, ok bool) {
	if cap(st.small) < k {
		st.small = make([]smallBucket, 0, smallBuckets)
	}
	b, at, j := r.Rest(), 0, first
	small := st.small[:k]
	for i := 0; i < len(small); i++ {
		// Four buckets at a time while each gap and count takes a byte,
		// as most do: one load, and one test of the eight bytes for a
		// continuation bit and of the counts for a zero.
		if i > 0 && i <= len(small)-4 && at <= len(b)-8 {
			x := binary.LittleEndian.Uint64(b[at:])
			if y := x | 0x00ff_00ff_00ff_00ff; (x|(y-0x0101_0101_0101_0101)&^y)&0x8080_8080_8080_8080 == 0 {
				four := small[i : i+4 : i+4]
				j0 := j + int(x&0xff) + 1
				j1 := j0 + int(x>>16&0xff) + 1
				j2 := j1 + int(x>>32&0xff) + 1
				j = j2 + int(x>>48&0xff) + 1
				c0, c1, c2, c3 := x>>8&0xff, x>>24&0xff, x>>40&0xff, x>>56
				four[0], four[1], four[2], four[3] = newSmallBucket(j0, c0), newSmallBucket(j1, c1), newSmallBucket(j2, c2), newSmallBucket(j, c3)
				total += c0 + c1 + c2 + c3
				at += 8
				i += 3
				continue
			}
		}
		var gap, c uint64
		switch {
		case i > 0 && at+1 < len(b) && b[at]|b[at+1] < 0x80:
			// A one-byte gap and count, as most are.
			gap, c = uint64(b[at]), uint64(b[at+1])
			at += 2
		default:
			if i > 0 {
				// Bounded so that the index cannot overflow before the
				// last is checked.
				if gap, at = binstate.UvarintAt(b, at); at < 0 || gap > math.MaxUint32 {
					r.Fail()
					return 0, true
				}
			}
			if c, at = binstate.UvarintAt(b, at); at < 0 {
				r.Fail()
				return 0, true
			}
			if c > math.MaxUint32 {
				return 0, false
			}
		}
		if c == 0 {
			r.Fail() // an empty bucket is not written
			return 0, true
		}
		if i > 0 {
			j += int(gap) + 1
		}
		total += c
		small[i] = newSmallBucket(j, c)
	}
	if j > hi {
		r.Fail()
		return 0, true
	}
	st.small, st.sorted = small, len(small)
	r.Skip(at)
	return total, true
}

// runEnd returns the last bucket of a run of k from first whose gaps and
// counts r holds, without reading them from r; ok is false when they are
// malformed.
func runEnd(r binstate.Reader, first, k, hi int) (last int, ok bool) {
	last = first
	for i := range k {
		if i > 0 {
			gap := r.Uvarint()
			if hi-last-1 < 0 || gap > uint64(hi-last-1) {
				return 0, false
			}
			last += int(gap) + 1
		}
		if r.Uvarint() == 0 {
			return 0, false
		}
	}
	return last, r.Err() == nil
}

// AppendState appends the sketch's state: its accuracy (float64), the zero
// count (uvarint), then its positive and negative buckets (see appendRun).
// A profile's state holds its sketch in this form; so does a shadow
// comparison's.
func (s *Sketch) AppendState(dst []byte) []byte {
	s.drain()
	dst = binstate.AppendFloat(dst, s.alpha)
	dst = binary.AppendUvarint(dst, s.zero)
	dst = s.pos.appendRun(dst)
	return s.neg.appendRun(dst)
}

// ReadSketch reads a sketch AppendState wrote; nil, with r failed, when it is
// malformed.
func ReadSketch(r *binstate.Reader) *Sketch {
	// Buckets beyond those of the float64 range are corrupt, and would only
	// make the store allocate.
	sk, err := NewSketch(r.Float())
	if err != nil || r.Err() != nil {
		r.Fail()
		return nil
	}
	if sk.readBuckets(r); r.Err() != nil {
		return nil
	}
	return sk
}

// readBuckets adds to an empty sketch the counts AppendState wrote after
// the accuracy. Buckets beyond those of the float64 range are corrupt, and
// would only make the stores allocate.
func (s *Sketch) readBuckets(r *binstate.Reader) {
	lo, hi := s.index(minIndexable), s.index(math.MaxFloat64)
	s.zero = r.Uvarint()
	s.count = s.zero + s.pos.read(r, lo, hi)
	s.count += s.neg.read(r, lo, hi)
}
