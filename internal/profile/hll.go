package profile

import (
	"math"
	"math/bits"
)

// hllPrecision gives 4,096 registers: a standard error of 1.04/√4096 ≈ 1.6% on the
// distinct count, for 4 KiB per feature.
const hllPrecision = 12

// HLL is a HyperLogLog distinct-count estimator. Hashes are seedless and fixed, so
// estimators built in different processes (or replicas) merge correctly.
//
// Until more than a hundred or so registers are set, the registers are not
// allocated: small holds the ones set, as index<<8 | rank, a few bytes each
// instead of 4 KiB per feature of every window open. The first sorted are
// sorted by index, one a register, and take their registers' hashes in
// place (a categorical feature's few values, however often they come);
// others are appended, and sorted in when read or when small is full.
// Estimates and states are those of the registers they stand for, to the
// bit. Once allocated, the registers stay, through Reset.
type HLL struct {
	// pending holds the last hashes added, which reach the registers in
	// their order before anything reads them (drain), as a sketch's values
	// do: a run of them overlaps the registers' cache misses. What AddHash
	// writes comes first.
	npending int
	pending  [pendingValues]uint64
	reg      *[1 << hllPrecision]uint8
	// used has a bit per block of hllBlock registers with one set: a small
	// window sets few of the 4,096, and estimating, storing and resetting
	// then cost those, not all.
	used   [(1 << hllPrecision) / hllBlock / 64]uint64
	small  []uint32
	sorted int
}

// drain adds the pending hashes to the registers.
func (h *HLL) drain() {
	for _, x := range h.pending[:h.npending] {
		h.place(x)
	}
	h.npending = 0
}

// hllSmall is the most entries small holds; past half of them distinct
// registers, the registers are allocated. A window of a hundred values
// stays small: its state is written, read and estimated from the entries,
// where the registers cost a pass over every block in use (a fleet of small
// models' shares spent a fifth of their two-stage cost there).
const hllSmall = 256

// registers is the number of registers.
const registers = 1 << hllPrecision

// hllBlock is the registers per bit of HLL.used.
const hllBlock = 16

func (h *HLL) mark(idx uint64) { h.used[idx/hllBlock/64] |= 1 << (idx / hllBlock % 64) }

// blocks calls f with the first register of each block in use, in order.
func (h *HLL) blocks(f func(i int)) {
	for w, bitsw := range h.used {
		for bitsw != 0 {
			b := bits.TrailingZeros64(bitsw)
			bitsw &= bitsw - 1
			f((w*64 + b) * hllBlock)
		}
	}
}

// dense allocates the registers, and moves small's to them.
func (h *HLL) dense() {
	if h.reg != nil {
		return
	}
	h.reg = new([registers]uint8)
	h.setSmall(h.reg)
}

// setSmall sets the registers small stands for in reg, and marks their
// blocks.
func (h *HLL) setSmall(reg *[registers]uint8) {
	for _, e := range h.small {
		idx, rank := e>>8, uint8(e)
		if rank > reg[idx] {
			reg[idx] = rank
			h.mark(uint64(idx))
		}
	}
	h.small, h.sorted = h.small[:0], 0
}

// addSmall notes a register set while small, unless it is time for the
// registers.
func (h *HLL) addSmall(e uint32) {
	lo, hi := 0, h.sorted
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); h.small[m]>>8 < e>>8 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < h.sorted && h.small[lo]>>8 == e>>8 {
		h.small[lo] = max(h.small[lo], e)
		return
	}
	if len(h.small) == cap(h.small) {
		if cap(h.small) == 0 {
			h.small = make([]uint32, 0, hllSmall)
		} else if h.tidy(); len(h.small) > hllSmall/2 {
			h.dense()
			if idx, rank := e>>8, uint8(e); rank > h.reg[idx] {
				h.reg[idx] = rank
				h.mark(uint64(idx))
			}
			return
		}
	}
	h.small = append(h.small, e)
}

// tidy sorts small by register and keeps the highest rank of each.
func (h *HLL) tidy() {
	if h.sorted == len(h.small) {
		return
	}
	sortRegisters(h.small, h.sorted)
	k := 0
	for _, e := range h.small[1:] {
		if e>>8 != h.small[k]>>8 {
			k++
			h.small[k] = e
		} else {
			h.small[k] = max(h.small[k], e)
		}
	}
	h.small = h.small[:k+1]
	h.sorted = len(h.small)
}

// sortRegisters sorts small's entries by register (their ranks in any
// order), the first sorted of them in order already: up to insertionMax by
// inserting the others, past it by a radix sort of the index, six bits a
// pass. Every feature of every
// closed window sorts its few dozen entries, and a comparison sort took
// several times as long. Up to msdMax entries, one pass on the index's top
// six bits leaves each in a run of one or two, which inserting finishes: half
// the work of the second pass for the fifty values of a small window.
func sortRegisters(small []uint32, sorted int) {
	if len(small) <= insertionMax {
		insertSorted(small, sorted)
		return
	}
	var spare [hllSmall]uint32
	if len(small) <= msdMax {
		registerPass(small, spare[:len(small)], 8+hllPrecision-6)
		insertSorted(spare[:len(small)], 0)
		copy(small, spare[:len(small)])
		return
	}
	src, dst := small, spare[:len(small)]
	for shift := 8; shift < 8+hllPrecision; shift += 6 {
		registerPass(src, dst, shift)
		src, dst = dst, src
	}
	copy(small, src)
}

// registerPass writes src into dst in the order of the six bits of each
// entry from shift on, keeping the order of entries alike in them.
func registerPass(src, dst []uint32, shift int) {
	var at [64]int
	for _, e := range src {
		at[e>>shift&63]++
	}
	n := 0
	for i, c := range at {
		at[i], n = n, n+c
	}
	for _, e := range src {
		d := e >> shift & 63
		dst[at[d]] = e
		at[d]++
	}
}

// msdMax is the most entries sortRegisters sorts by their top digit and
// insertion: past it the runs the one pass leaves grow long enough for the
// second radix pass to cost less.
const msdMax = 96

// reindex marks the blocks of registers set by hand.
func (h *HLL) reindex() {
	if h.reg == nil {
		return
	}
	h.used = [len(h.used)]uint64{}
	for i, r := range h.reg {
		if r != 0 {
			h.mark(uint64(i))
		}
	}
}

// AddHash adds an element by its 64-bit hash.
func (h *HLL) AddHash(x uint64) {
	h.pending[h.npending] = x
	if h.npending++; h.npending == len(h.pending) {
		h.drain()
	}
}

// place sets the register of a hash.
func (h *HLL) place(x uint64) {
	idx := x >> (64 - hllPrecision)
	rank := uint8(bits.LeadingZeros64(x<<hllPrecision|1<<(hllPrecision-1)) + 1)
	if h.reg == nil {
		h.addSmall(uint32(idx)<<8 | uint32(rank))
		return
	}
	if rank > h.reg[idx] {
		h.reg[idx] = rank
		h.used[idx>>10] |= 1 << (idx >> 4 & 63) // mark(idx), within the inlining budget
	}
}

// AddFloat adds a numeric element. -0 and +0 are one value: adding +0 turns
// -0 into +0 and leaves every other value as it is, without the branch that
// kept this from inlining into the per-value path.
func (h *HLL) AddFloat(x float64) {
	h.AddHash(mix64(math.Float64bits(x + 0)))
}

// mix64 is the SplitMix64 finaliser: a fast full-avalanche hash of a 64-bit word.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Reset forgets every element.
func (h *HLL) Reset() {
	if h.reg != nil {
		h.blocks(func(i int) { clear(h.reg[i : i+hllBlock]) })
	}
	h.used = [len(h.used)]uint64{}
	h.small, h.sorted, h.npending = h.small[:0], 0, 0
}

// Merge takes the register-wise maximum.
func (h *HLL) Merge(o *HLL) {
	h.drain()
	o.drain()
	if o.reg == nil {
		for _, e := range o.small {
			if h.reg == nil {
				h.addSmall(e)
				continue
			}
			if idx, rank := e>>8, uint8(e); rank > h.reg[idx] {
				h.reg[idx] = rank
				h.mark(uint64(idx))
			}
		}
		return
	}
	h.dense()
	o.blocks(func(i int) {
		for j, r := range o.reg[i : i+hllBlock] {
			if r > h.reg[i+j] {
				h.reg[i+j] = r
			}
		}
	})
	for w := range h.used {
		h.used[w] |= o.used[w]
	}
}

// Estimate returns the estimated number of distinct elements, with linear counting
// for small cardinalities where the raw estimate is biased.
func (h *HLL) Estimate() float64 {
	h.drain()
	if h.tidy(); h.reg == nil {
		return h.estimateSmall()
	}
	return h.estimate()
}

// estimateSmall is estimate of the registers small stands for, to the bit.
// Every register not in small is a zero and adds exactly one to estimate's
// sum, and rounding keeps sums in order, so the sum is at least the zeros and
// the raw estimate at most alpha·m²/zeros: with at most hllSmall registers
// set, under the linear counting threshold (TestHLLSmallIsLinear). So it is
// linear counting, which needs the zeros alone, not the sum of every block
// touched, computed for each feature of every window closed.
func (h *HLL) estimateSmall() float64 {
	const m = float64(1 << hllPrecision)
	return m * math.Log(m/float64(registers-len(h.small)))
}

// estimate is Estimate of allocated registers.
func (h *HLL) estimate() float64 {
	const m = float64(1 << hllPrecision)
	// Every closed window estimates each of its features: empty blocks add
	// their ones at once, and 2^-r is built from its bits (r is at most 255,
	// so it is a normal float) rather than by Ldexp.
	sum, zeros := float64(len(h.reg)), len(h.reg)
	h.blocks(func(i int) {
		sum -= hllBlock
		for _, r := range h.reg[i : i+hllBlock] {
			sum += math.Float64frombits(uint64(1023-int(r)) << 52)
			if r != 0 {
				zeros--
			}
		}
	})
	alpha := 0.7213 / (1 + 1.079/m)
	est := alpha * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		return m * math.Log(m/float64(zeros))
	}
	return est
}
