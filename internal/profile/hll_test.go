package profile

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// sameRegisters compares estimators by the registers they stand for, whatever
// their form.
func sameRegisters(a, b *HLL) bool { return bytes.Equal(a.registers(), b.registers()) }

// denseHLL is the reference the sparse form must match bit for bit: the plain
// dense HyperLogLog, as it was before the sparse form.
type denseHLL [hllRegisters]uint8

func (h *denseHLL) addHash(x uint64) {
	idx := x >> (64 - hllPrecision)
	rank := uint8(bits.LeadingZeros64(x<<hllPrecision|1<<(hllPrecision-1)) + 1)
	if rank > h[idx] {
		h[idx] = rank
	}
}

func (h *denseHLL) merge(o *denseHLL) {
	for i, r := range o {
		if r > h[i] {
			h[i] = r
		}
	}
}

func (h *denseHLL) estimate() float64 {
	const m = float64(hllRegisters)
	var sum float64
	zeros := 0
	for _, r := range h {
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

// checkHLL fails unless h stands for exactly ref's registers and estimate, in a
// well-formed representation.
func checkHLL(t *testing.T, what string, h *HLL, ref *denseHLL) {
	t.Helper()
	if !bytes.Equal(h.registers(), ref[:]) {
		t.Fatalf("%s: registers differ from the dense reference", what)
	}
	if got, want := h.Estimate(), ref.estimate(); math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("%s: estimate %v, dense reference %v", what, got, want)
	}
	if h.dense != nil {
		if h.sparse != nil {
			t.Fatalf("%s: both forms set", what)
		}
		return
	}
	if len(h.sparse) > hllSparseMax || cap(h.sparse) > hllSparseMax {
		t.Fatalf("%s: %d sparse entries (capacity %d) beyond %d", what, len(h.sparse), cap(h.sparse), hllSparseMax)
	}
	for i, e := range h.sparse {
		if e&hllRankMask == 0 || i > 0 && e>>hllRankBits <= h.sparse[i-1]>>hllRankBits {
			t.Fatalf("%s: sparse entry %d (%#x) is zero or out of order", what, i, e)
		}
	}
}

// TestHLLMatchesDense runs random additions and merges of operands of every size —
// empty, sparse, at the switch, dense — through HLL and the dense reference, and
// requires the same registers and bit-identical estimates throughout.
func TestHLLMatchesDense(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 13))
	sizes := []int{0, 1, 2, 50, 300, hllSparseMax - 5, hllSparseMax, hllSparseMax + 40, 1500, 5000, 100000}
	build := func(n int) (*HLL, *denseHLL) {
		var h HLL
		var ref denseHLL
		// A small pool of hashes, so that values repeat and ranks are raised in
		// place; the bits after the index are shifted down by a random amount so
		// that every rank up to the largest turns up.
		pool := make([]uint64, 1+n/2)
		for i := range pool {
			pool[i] = r.Uint64N(hllRegisters)<<(64-hllPrecision) | r.Uint64()>>(hllPrecision+r.UintN(64-hllPrecision+1))
		}
		for range n {
			x := pool[r.IntN(len(pool))]
			if r.IntN(2) == 0 {
				x = r.Uint64()
			}
			h.AddHash(x)
			ref.addHash(x)
		}
		return &h, &ref
	}
	for trial := 0; trial < 6; trial++ {
		for _, na := range sizes {
			for _, nb := range sizes {
				what := fmt.Sprintf("trial %d: %d merged with %d", trial, na, nb)
				a, ra := build(na)
				b, rb := build(nb)
				checkHLL(t, what+": left operand", a, ra)
				checkHLL(t, what+": right operand", b, rb)
				a.Merge(b)
				ra.merge(rb)
				checkHLL(t, what, a, ra)
				checkHLL(t, what+": right operand after", b, rb)
				a.Merge(a)
				checkHLL(t, what+": merged with itself", a, ra)
				// Additions after a merge keep to the reference.
				for range 200 {
					x := r.Uint64()
					a.AddHash(x)
					ra.addHash(x)
				}
				checkHLL(t, what+": then added to", a, ra)
				var c HLL
				c.setRegisters(a.registers())
				checkHLL(t, what+": read back", &c, ra)
			}
		}
	}
}

// TestHLLSetRegistersKeepsAnyRank reads registers no AddHash could produce, as a
// corrupt state could hold, and keeps them as they were.
func TestHLLSetRegistersKeepsAnyRank(t *testing.T) {
	var ref denseHLL
	ref[7], ref[4095] = 255, 3
	var h HLL
	h.setRegisters(ref[:])
	checkHLL(t, "rank 255", &h, &ref)
}

// TestHLLSparseRepeatsAllocateNothing guards the sparse hot path: a value already
// counted changes nothing and must not allocate.
func TestHLLSparseRepeatsAllocateNothing(t *testing.T) {
	var h HLL
	xs := []uint64{1 << 63, 42 << 52, 7, mix64(3)}
	add := func() {
		for _, x := range xs {
			h.AddHash(x)
		}
	}
	add()
	if n := testing.AllocsPerRun(1000, add); n != 0 {
		t.Errorf("%v allocations per round of repeated values, want 0", n)
	}
	if h.dense != nil {
		t.Error("four values made the registers dense")
	}
}

func BenchmarkHLLAddSparse(b *testing.B) {
	var h HLL
	xs := make([]uint64, 256)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range xs {
		xs[i] = r.Uint64()
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.AddHash(xs[i&255])
	}
}

// BenchmarkHLLFill is the cost of the sparse form on a high-cardinality feature:
// 5,000 distinct values, passing through the sparse form to the dense one.
func BenchmarkHLLFill(b *testing.B) {
	xs := make([]uint64, 5000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range xs {
		xs[i] = r.Uint64()
	}
	b.ReportAllocs()
	for b.Loop() {
		var h HLL
		for _, x := range xs {
			h.AddHash(x)
		}
	}
}
