package profile

import (
	"math"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// hllPrecision gives 4,096 registers: a standard error of 1.04/√4096 ≈ 1.6% on the
// distinct count, for at most 4 KiB per feature.
const (
	hllPrecision = 12
	hllRegisters = 1 << hllPrecision
)

// A sparse entry is idx<<hllRankBits | rank: ranks reach 64-hllPrecision+1 = 53,
// which fits in 6 bits, and ordering entries by value orders them by index.
const (
	hllRankBits = 6
	hllRankMask = 1<<hllRankBits - 1
)

// hllSparseMax is where the sparse form stops: 1,024 four-byte entries take the
// 4 KiB of the dense registers, so sparse never costs more memory than dense, and a
// lookup stays within ten probes of a binary search.
const hllSparseMax = hllRegisters / 4

// HLL is a HyperLogLog distinct-count estimator. Hashes are seedless and fixed, so
// estimators built in different processes (or replicas) merge correctly.
//
// A window's profile usually sees a few hundred distinct values, which set as many
// of the 4,096 registers, so the registers start sparse — only the non-zero ones,
// as sorted entries — and become a dense array once that would take more memory. Both forms stand for the same
// registers, and every result is computed from those, so the form never shows.
// The zero value is an empty estimator.
type HLL struct {
	sparse []uint32 // sorted by index, ranks > 0; unused once dense is set
	dense  *[hllRegisters]uint8
}

// AddHash adds an element by its 64-bit hash.
func (h *HLL) AddHash(x uint64) {
	idx := uint32(x >> (64 - hllPrecision))
	rank := uint8(bits.LeadingZeros64(x<<hllPrecision|1<<(hllPrecision-1)) + 1)
	if h.dense != nil {
		if rank > h.dense[idx] {
			h.dense[idx] = rank
		}
		return
	}
	h.addSparse(idx, rank)
}

func (h *HLL) addSparse(idx uint32, rank uint8) {
	s := h.sparse
	// The first entry whose index is not below idx: entries of lower index are
	// exactly those below idx<<hllRankBits.
	key := idx << hllRankBits
	lo, hi := 0, len(s)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s[mid] < key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(s) && s[lo]>>hllRankBits == idx {
		if uint32(rank) > s[lo]&hllRankMask {
			s[lo] = key | uint32(rank)
		}
		return
	}
	if len(s) == cap(s) {
		if len(s) == hllSparseMax {
			h.toDense()
			h.dense[idx] = rank
			return
		}
		// Growing by hand rather than by append caps the slice at hllSparseMax,
		// which append's rounding could overshoot.
		grown := make([]uint32, len(s), min(max(2*len(s), 8), hllSparseMax))
		copy(grown, s)
		s = grown
	}
	s = s[:len(s)+1]
	copy(s[lo+1:], s[lo:])
	s[lo] = key | uint32(rank)
	h.sparse = s
}

// toDense moves the registers to the dense form, for good: an estimator that
// outgrew the sparse form is one whose registers keep filling.
func (h *HLL) toDense() {
	d := new([hllRegisters]uint8)
	for _, e := range h.sparse {
		d[e>>hllRankBits] = uint8(e & hllRankMask)
	}
	h.dense, h.sparse = d, nil
}

// AddBytes adds a string element.
func (h *HLL) AddBytes(b []byte) { h.AddHash(xxhash.Sum64(b)) }

// AddFloat adds a numeric element. -0 and +0 are one value.
func (h *HLL) AddFloat(x float64) {
	if x == 0 {
		x = 0
	}
	h.AddHash(mix64(math.Float64bits(x)))
}

// mix64 is the SplitMix64 finaliser: a fast full-avalanche hash of a 64-bit word.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Merge takes the register-wise maximum.
func (h *HLL) Merge(o *HLL) {
	if h.dense == nil && o.dense == nil {
		if n := unionSize(h.sparse, o.sparse); n <= hllSparseMax {
			h.sparse = mergeSparse(h.sparse, o.sparse, n)
			return
		}
	}
	if h.dense == nil {
		h.toDense()
	}
	if o.dense != nil {
		for i, r := range o.dense {
			if r > h.dense[i] {
				h.dense[i] = r
			}
		}
		return
	}
	for _, e := range o.sparse {
		if r := uint8(e & hllRankMask); r > h.dense[e>>hllRankBits] {
			h.dense[e>>hllRankBits] = r
		}
	}
}

// unionSize counts the distinct indices of two sorted entry lists, so that a merge
// knows its form before it allocates.
func unionSize(a, b []uint32) int {
	n := len(a) + len(b)
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch x, y := a[i]>>hllRankBits, b[j]>>hllRankBits; {
		case x < y:
			i++
		case x > y:
			j++
		default:
			n--
			i++
			j++
		}
	}
	return n
}

// mergeSparse returns the register-wise maximum of two sorted entry lists with n
// distinct indices, in a new slice: a or b may be the receiver's own entries.
func mergeSparse(a, b []uint32, n int) []uint32 {
	out := make([]uint32, 0, n)
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch x, y := a[i]>>hllRankBits, b[j]>>hllRankBits; {
		case x < y:
			out = append(out, a[i])
			i++
		case x > y:
			out = append(out, b[j])
			j++
		default:
			// Same index, so the larger entry holds the larger rank.
			out = append(out, max(a[i], b[j]))
			i++
			j++
		}
	}
	return append(append(out, a[i:]...), b[j:]...)
}

// Estimate returns the estimated number of distinct elements, with linear counting
// for small cardinalities where the raw estimate is biased.
func (h *HLL) Estimate() float64 {
	// The sum runs over all registers in index order, whatever the form, since
	// floating-point addition in another order could change the last bits.
	var reg [hllRegisters]uint8
	h.registersTo(&reg)
	const m = float64(hllRegisters)
	var sum float64
	zeros := 0
	for _, r := range reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	est := alpha * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		return m * math.Log(m/float64(zeros))
	}
	return est
}

// registersTo writes the dense registers to reg.
func (h *HLL) registersTo(reg *[hllRegisters]uint8) {
	if h.dense != nil {
		*reg = *h.dense
		return
	}
	*reg = [hllRegisters]uint8{}
	for _, e := range h.sparse {
		reg[e>>hllRankBits] = uint8(e & hllRankMask)
	}
}

// registers returns the dense registers, the form the state is written in.
func (h *HLL) registers() []byte {
	reg := new([hllRegisters]uint8)
	h.registersTo(reg)
	return reg[:]
}

// setRegisters replaces the registers with reg, which holds hllRegisters of them.
// They go sparse when few are set, unless one holds a rank that AddHash cannot
// produce (a corrupt state) and an entry could not encode.
func (h *HLL) setRegisters(reg []byte) {
	set := 0
	for _, r := range reg {
		if r > hllRankMask {
			set = hllSparseMax + 1
			break
		}
		if r != 0 {
			set++
		}
	}
	if set > hllSparseMax {
		d := new([hllRegisters]uint8)
		copy(d[:], reg)
		h.dense, h.sparse = d, nil
		return
	}
	s := make([]uint32, 0, set)
	for i, r := range reg {
		if r != 0 {
			s = append(s, uint32(i)<<hllRankBits|uint32(r))
		}
	}
	h.dense, h.sparse = nil, s
}
