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

func (h *HLL) readState(r *binstate.Reader) {
	h.drain()
	h.dense()
	switch r.Byte() {
	case 0:
		reg := r.Next(len(h.reg))
		if reg == nil {
			return
		}
		copy(h.reg[:], reg)
		h.reindex()
	case 1:
		last := -1
		for n := r.Count(2); n > 0 && r.Err() == nil; n-- {
			gap := r.Uvarint()
			if gap == 0 || gap > uint64(len(h.reg)-1-last) {
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

// run reads a store written by appendRun, of buckets in [lo, hi].
func readRun(r *binstate.Reader, lo, hi int) store {
	k := r.Count(2)
	if k == 0 {
		return store{}
	}
	first := r.Varint()
	if first < int64(lo) || first > int64(hi) {
		r.Fail()
		return store{}
	}
	// The counts are read twice, to size the store once: the buckets between
	// the first and the last.
	rest := *r
	last := int(first)
	for i := range k {
		if i > 0 {
			gap := rest.Uvarint()
			if hi-last-1 < 0 || gap > uint64(hi-last-1) {
				r.Fail()
				return store{}
			}
			last += int(gap) + 1
		}
		if rest.Uvarint() == 0 {
			r.Fail() // an empty bucket is not written
			return store{}
		}
	}
	if rest.Err() != nil {
		r.Fail()
		return store{}
	}
	st := store{offset: int(first), counts: make([]uint64, last-int(first)+1)}
	j := 0
	for i := range k {
		if i > 0 {
			j += int(r.Uvarint()) + 1
		}
		st.counts[j] = r.Uvarint()
	}
	st.index()
	return st
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
	alpha, zero := r.Float(), r.Uvarint()
	// Buckets beyond those of the float64 range are corrupt, and would only
	// make the store allocate.
	sk, err := NewSketch(alpha)
	if err != nil || r.Err() != nil {
		r.Fail()
		return nil
	}
	lo, hi := sk.index(minIndexable), sk.index(math.MaxFloat64)
	sk.zero, sk.pos, sk.neg = zero, readRun(r, lo, hi), readRun(r, lo, hi)
	if r.Err() != nil {
		return nil
	}
	sk.count = sk.zero + sk.pos.total() + sk.neg.total()
	return sk
}
