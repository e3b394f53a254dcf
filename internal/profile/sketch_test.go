package profile

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/binstate"
)

// exp2Reference is exp2Approx as first written: eight Newton iterations and
// Ldexp.
func exp2Reference(y float64) float64 {
	e := math.Floor(y)
	t := y - e
	s := t
	for range 8 {
		p := ((cubicA*s+cubicB)*s+cubicC)*s - t
		s -= p / ((3*cubicA*s+2*cubicB)*s + cubicC)
	}
	return math.Ldexp(1+s, int(e))
}

// TestExp2ApproxExact: the faster exp2Approx gives every bucket bound of
// several accuracies, over the whole float64 range, to the last bit as the
// reference does, so quantiles and atoms do not move.
func TestExp2ApproxExact(t *testing.T) {
	for _, alpha := range []float64{0.001, DefaultRelativeAccuracy, 0.02, 0.1} {
		s, err := NewSketch(alpha)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := s.index(minIndexable)-2, s.index(math.MaxFloat64)+2
		for i := lo; i <= hi; i++ {
			y := float64(i) / s.multiplier
			if got, want := exp2Approx(y), exp2Reference(y); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("α=%v bound %d: %x, reference %x", alpha, i, got, want)
			}
		}
	}
}

func BenchmarkExp2Approx(b *testing.B) {
	var s float64
	i := 0
	for b.Loop() {
		s += exp2Approx(float64(i%2000-1000) / 70.1)
		i++
	}
	_ = s
}

// TestStoreSet: through adds that grow a store either way (its small pairs,
// then a dense run), merges and resets, it holds the counts added, its bitset
// marks exactly the non-empty buckets, walking it forwards and backwards
// visits them in order, and its state is that of the counts, small or dense.
func TestStoreSet(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	check := func(st *store, want map[int]uint64) {
		t.Helper()
		var buckets []int
		for i := range want {
			buckets = append(buckets, i)
		}
		slices.Sort(buckets)
		// The state of a store is its non-empty buckets in order, however held.
		ref := binary.AppendUvarint(nil, uint64(len(buckets)))
		for k, i := range buckets {
			if k == 0 {
				ref = binary.AppendVarint(ref, int64(i))
			} else {
				ref = binary.AppendUvarint(ref, uint64(i-buckets[k-1]-1))
			}
			ref = binary.AppendUvarint(ref, want[i])
		}
		if got := st.appendRun(nil); !bytes.Equal(got, ref) {
			t.Fatalf("state %x, the counts added give %x", got, ref)
		}
		if st.nonZero() != len(buckets) {
			t.Fatalf("%d non-empty buckets, want %d", st.nonZero(), len(buckets))
		}
		st.settle()
		var dense []int
		for j, c := range st.counts {
			if got := st.set[j>>6]>>(j&63)&1 == 1; got != (c > 0) {
				t.Fatalf("bucket %d: count %d, bit %v", j, c, got)
			}
			if c > 0 {
				dense = append(dense, j)
				if c != want[st.offset+j] {
					t.Fatalf("bucket %d: count %d, want %d", st.offset+j, c, want[st.offset+j])
				}
			}
		}
		var fwd, back []int
		for j := st.next(0); j < len(st.counts); j = st.next(j + 1) {
			fwd = append(fwd, j)
		}
		for j := st.last(); j >= 0; j = st.prev(j - 1) {
			back = append([]int{j}, back...)
		}
		if !slices.Equal(fwd, dense) || !slices.Equal(back, dense) || len(dense) != len(buckets) {
			t.Fatalf("walks %v and %v, want %v", fwd, back, dense)
		}
	}
	for trial := range 60 {
		var a, b store
		wa, wb := map[int]uint64{}, map[int]uint64{}
		// Some trials stay small: few values, or many in few buckets.
		n, spread := r.IntN(300), 2000
		if trial%3 == 1 {
			n, spread = r.IntN(40), 2000
		} else if trial%3 == 2 {
			spread = 1 + r.IntN(20)
		}
		for range n {
			i, c := r.IntN(spread)-spread/2, uint64(1+r.IntN(3))
			a.add(i, c)
			wa[i] += c
			j := r.IntN(400)*trial - 200
			if trial%3 != 0 {
				j = r.IntN(spread) - spread/2
			}
			b.add(j, 1)
			wb[j]++
		}
		check(&b, wb)
		a.merge(&b)
		for i, c := range wb {
			wa[i] += c
		}
		// The merge is checked before the store is settled by check.
		check(&a, wa)
		if trial%2 == 0 {
			a.reset()
			check(&a, map[int]uint64{})
			if a.total() != 0 {
				t.Fatal("reset store holds counts")
			}
		}
	}
}

// total is the store's count of values.
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

// TestSortBuckets: small pairs come out in bucket order, the same pairs;
// sorted entirely (counts too) where the counts could overflow or the
// buckets span too much for the radix sort.
func TestSortBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 2000 {
		n := 1 + r.IntN(smallBuckets)
		span := []int{1, 8, 64, 4096, 4097, 1 << 20}[trial%6]
		base := r.IntN(1<<16) - 1<<15
		count := func() uint64 { return 1 + r.Uint64N(100) }
		if trial%7 == 0 {
			count = func() uint64 { return math.MaxUint32 / 3 } // together they overflow a pair
		}
		small := make([]smallBucket, n)
		for i := range small {
			small[i] = newSmallBucket(base+r.IntN(span), count())
		}
		want := slices.Clone(small)
		slices.Sort(want)
		got := slices.Clone(small)
		sortBuckets(got, 0)
		if !slices.IsSortedFunc(got, func(a, b smallBucket) int { return a.bucket() - b.bucket() }) {
			t.Fatalf("trial %d: buckets out of order: %v", trial, got)
		}
		sorted := slices.Clone(got)
		if slices.Sort(sorted); !slices.Equal(sorted, want) {
			t.Fatalf("trial %d: pairs changed by sorting", trial)
		}
		var total uint64
		for _, b := range small {
			total += b.count()
		}
		if spanned := want[n-1].bucket() - want[0].bucket(); (total > math.MaxUint32 || spanned >= 4096) && !slices.Equal(got, want) {
			t.Fatalf("trial %d: not sorted entirely", trial)
		}
	}
}

// TestHLLSmallIsLinear: however small's registers are set, the raw estimate
// is under the linear counting threshold, which estimateSmall relies on.
func TestHLLSmallIsLinear(t *testing.T) {
	const m = float64(registers)
	alpha := 0.7213 / (1 + 1.079/m)
	// The sum is least with every register held in small at the largest rank.
	sum := float64(registers - hllSmall)
	for range hllSmall {
		sum += math.Ldexp(1, -255)
	}
	if est := alpha * m * m / sum; est > 2.5*m {
		t.Fatalf("with %d registers set the raw estimate can reach %v, over the linear counting threshold %v", hllSmall, est, 2.5*m)
	}
}

// TestHLLBlocks: through adds, merges, resets and states, small or with its
// registers allocated, the blocks an HLL marks in use are exactly those with
// a register set, and its estimate and state are those all registers give.
func TestHLLBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	check := func(what string, h *HLL, adds []uint64) {
		t.Helper()
		h.drain() // what follows reads the registers themselves
		// The registers the hashes added set, by the definition.
		var regs [registers]uint8
		for _, x := range adds {
			idx, rank := x>>(64-hllPrecision), uint8(bits.LeadingZeros64(x<<hllPrecision|1<<(hllPrecision-1))+1)
			regs[idx] = max(regs[idx], rank)
		}
		want := HLL{reg: &regs}
		want.reindex()
		if h.reg != nil && (*h.reg != regs || h.used != want.used) {
			t.Fatalf("%s: registers or blocks in use %x differ from the hashes' (%x)", what, h.used, want.used)
		}
		var sum float64
		zeros := 0
		for _, reg := range regs {
			sum += math.Ldexp(1, -int(reg))
			if reg == 0 {
				zeros++
			}
		}
		const m = float64(registers)
		est := 0.7213 / (1 + 1.079/m) * m * m / sum
		if est <= 2.5*m && zeros > 0 {
			est = m * math.Log(m/float64(zeros))
		}
		if got := h.Estimate(); got != est {
			t.Fatalf("%s: estimate %v, from all registers %v", what, got, est)
		}
		if !bytes.Equal(h.appendState(nil), want.appendState(nil)) {
			t.Fatalf("%s: state differs from the registers'", what)
		}
	}
	small := 0
	for trial := range 60 {
		var a, b HLL
		var addsA, addsB []uint64
		for range r.IntN(1 << r.IntN(14)) {
			x := r.Uint64()
			if trial%3 == 0 {
				x &^= 1<<52 - 1<<12 // few registers, set again and again
			}
			a.AddHash(x)
			addsA = append(addsA, x)
		}
		for range r.IntN(100) {
			x := r.Uint64()
			b.AddHash(x)
			addsB = append(addsB, x)
		}
		if a.reg == nil {
			small++
		}
		check("adds", &a, addsA)
		check("adds", &b, addsB)
		a.Merge(&b)
		addsA = append(addsA, addsB...)
		check("merge", &a, addsA)
		var back HLL
		rd := binstate.NewReader(a.appendState(nil), errMalformed)
		back.readState(&rd)
		if rd.Err() != nil {
			t.Fatal(rd.Err())
		}
		check("state read back", &back, addsA)
		if trial%2 == 0 {
			a.Reset()
			check("reset", &a, nil)
		}
	}
	if small == 0 || small == 60 {
		t.Errorf("%d of 60 estimators stayed small: the test covers one form only", small)
	}
}

// TestBaselineSketch: a baseline's stored buckets read back into the sketch
// they were stored from: the same atoms, count and quantiles, however the
// values spread (a few buckets, thousands, both signs, zeros).
func TestBaselineSketch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value func(r *rand.Rand) float64
	}{
		{"few", func(r *rand.Rand) float64 { return float64(r.IntN(5)) }},
		{"wide", func(r *rand.Rand) float64 { return r.NormFloat64() * math.Exp(r.Float64()*40) }},
		{"positive", func(r *rand.Rand) float64 { return r.ExpFloat64() * 1e3 }},
	} {
		r := rand.New(rand.NewPCG(1, 2))
		s, err := NewSketch(0.01)
		if err != nil {
			t.Fatal(err)
		}
		for range 20_000 {
			s.Add(tc.value(r))
		}
		fb := FeatureBaseline{Sketch: s.stored()}
		back, err := fb.sketch(0.01)
		if err != nil {
			t.Fatal(err)
		}
		if back.count != s.count || !slices.Equal(back.Atoms(), s.Atoms()) {
			t.Errorf("%s: read back %d values in %d atoms, stored %d in %d", tc.name, back.count, len(back.Atoms()), s.count, len(s.Atoms()))
		}
		for _, q := range []float64{0, 0.01, 0.5, 0.99, 1} {
			if got, want := back.Quantile(q), s.Quantile(q); got != want {
				t.Errorf("%s: quantile %v read back %v, stored %v", tc.name, q, got, want)
			}
		}
	}
}

// TestHeldBackValuesAreRead: a sketch and a distinct count hold back the last
// values added (pendingValues); whatever reads them, at any point and also
// through a merge, sees what it would with every value placed at once.
func TestHeldBackValuesAreRead(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	newSketch := func() *Sketch {
		s, err := NewSketch(DefaultRelativeAccuracy)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	held, placed, other, otherPlaced := newSketch(), newSketch(), newSketch(), newSketch()
	var hHeld, hPlaced, hOther, hOtherPlaced HLL
	for i := range 20_000 {
		x := r.NormFloat64() * 100
		if i%5 == 0 {
			x = 0 // the zero bucket is held back too
		}
		held.Add(x)
		placed.Add(x)
		placed.drain()
		hHeld.AddFloat(x)
		hPlaced.AddFloat(x)
		hPlaced.drain()
		if i%3 == 0 {
			other.Add(-x)
			otherPlaced.Add(-x)
			otherPlaced.drain()
			hOther.AddFloat(-x)
			hOtherPlaced.AddFloat(-x)
			hOtherPlaced.drain()
		}
		switch r.IntN(40) {
		case 0:
			if a, b := held.Quantile(0.3), placed.Quantile(0.3); a != b {
				t.Fatalf("after %d values: quantile %v, placed %v", i+1, a, b)
			}
		case 1:
			if a, b := held.Atoms(), placed.Atoms(); !slices.Equal(a, b) {
				t.Fatalf("after %d values: atoms differ", i+1)
			}
		case 2:
			if a, b := hHeld.Estimate(), hPlaced.Estimate(); a != b {
				t.Fatalf("after %d values: distinct %v, placed %v", i+1, a, b)
			}
		case 3:
			if a, b := hHeld.appendState(nil), hPlaced.appendState(nil); !bytes.Equal(a, b) {
				t.Fatalf("after %d values: distinct-count states differ", i+1)
			}
		case 4:
			// Merged while both sides hold values back.
			if err := held.Merge(other); err != nil {
				t.Fatal(err)
			}
			hHeld.Merge(&hOther)
			if err := placed.Merge(otherPlaced); err != nil {
				t.Fatal(err)
			}
			hPlaced.Merge(&hOtherPlaced)
		}
	}
	a, b := held.stored(), placed.stored()
	if a.Zero != b.Zero || a.PosOffset != b.PosOffset || a.NegOffset != b.NegOffset || !slices.Equal(a.Pos, b.Pos) || !slices.Equal(a.Neg, b.Neg) {
		t.Fatalf("stored buckets differ: %+v, placed %+v", a, b)
	}
	if held.Count() != placed.Count() {
		t.Fatalf("count %d, placed %d", held.Count(), placed.Count())
	}
}

// TestInsertSorted: entries after a sorted prefix are inserted in order,
// whatever the prefix's length (zero, all), with repeats.
func TestInsertSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for trial := range 3000 {
		n := r.IntN(insertionMax + 1)
		s := make([]uint32, n)
		for i := range s {
			s[i] = r.Uint32N(uint32(1 + trial%50))
		}
		sorted := 0
		if n > 0 {
			sorted = r.IntN(n + 1)
		}
		slices.Sort(s[:sorted])
		want := slices.Clone(s)
		slices.Sort(want)
		insertSorted(s, sorted)
		if !slices.Equal(s, want) {
			t.Fatalf("trial %d (%d sorted of %d): %v, want %v", trial, sorted, n, s, want)
		}
	}
}

// TestSortRegisters: a small HLL's entries come out in register order, the
// same entries, at every length up to a full small list (both ways of
// sorting), with repeated registers.
func TestSortRegisters(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	for trial := range 3000 {
		n := 1 + r.IntN(hllSmall)
		small := make([]uint32, n)
		registers := uint32(1 + r.IntN(1<<hllPrecision))
		for i := range small {
			small[i] = r.Uint32N(registers)<<8 | r.Uint32N(64)
		}
		want := slices.Clone(small)
		slices.Sort(want)
		sortRegisters(small, 0)
		if !slices.IsSortedFunc(small, func(a, b uint32) int { return int(a>>8) - int(b>>8) }) {
			t.Fatalf("trial %d (%d entries): registers out of order", trial, n)
		}
		if got := slices.Sorted(slices.Values(small)); !slices.Equal(got, want) {
			t.Fatalf("trial %d (%d entries): entries changed by sorting", trial, n)
		}
	}
}
