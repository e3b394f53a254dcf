package profile

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
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

// TestStoreSet: through adds that grow a store either way, merges and
// resets, its bitset marks exactly the non-empty buckets, and walking it
// forwards and backwards visits them in order.
func TestStoreSet(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	check := func(st *store) {
		t.Helper()
		var want []int
		for j, c := range st.counts {
			if got := st.set[j>>6]>>(j&63)&1 == 1; got != (c > 0) {
				t.Fatalf("bucket %d: count %d, bit %v", j, c, got)
			}
			if c > 0 {
				want = append(want, j)
			}
		}
		var fwd, back []int
		for j := st.next(0); j < len(st.counts); j = st.next(j + 1) {
			fwd = append(fwd, j)
		}
		for j := st.last(); j >= 0; j = st.prev(j - 1) {
			back = append([]int{j}, back...)
		}
		if !slices.Equal(fwd, want) || !slices.Equal(back, want) {
			t.Fatalf("walks %v and %v, want %v", fwd, back, want)
		}
	}
	for trial := range 50 {
		var a, b store
		for range r.IntN(300) {
			a.add(r.IntN(2000)-1000, uint64(1+r.IntN(3)))
			b.add(r.IntN(400)*trial-200, 1)
		}
		check(&a)
		check(&b)
		a.merge(&b)
		check(&a)
		if trial%3 == 0 {
			a.reset()
			check(&a)
			if a.total() != 0 {
				t.Fatal("reset store holds counts")
			}
		}
	}
}

// TestHLLBlocks: through adds, merges, resets and states, the blocks an HLL
// marks in use are exactly those with a register set, and its estimate is the
// one all registers give.
func TestHLLBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	check := func(what string, h *HLL) {
		t.Helper()
		want := *h
		want.reindex()
		if want.used != h.used {
			t.Fatalf("%s: blocks in use %x, registers say %x", what, h.used, want.used)
		}
		var sum float64
		zeros := 0
		for _, reg := range h.reg {
			sum += math.Ldexp(1, -int(reg))
			if reg == 0 {
				zeros++
			}
		}
		const m = float64(len(h.reg))
		est := 0.7213 / (1 + 1.079/m) * m * m / sum
		if est <= 2.5*m && zeros > 0 {
			est = m * math.Log(m/float64(zeros))
		}
		if got := h.Estimate(); got != est {
			t.Fatalf("%s: estimate %v, from all registers %v", what, got, est)
		}
	}
	for trial := range 40 {
		var a, b HLL
		for range r.IntN(1 << r.IntN(14)) {
			a.AddHash(r.Uint64())
		}
		for range r.IntN(100) {
			b.AddHash(r.Uint64())
		}
		check("adds", &a)
		a.Merge(&b)
		check("merge", &a)
		var back HLL
		rd := stateReader{b: a.appendState(nil)}
		back.readState(&rd)
		if rd.err != nil || back != a {
			t.Fatalf("state read back differs (%v)", rd.err)
		}
		if trial%2 == 0 {
			a.Reset()
			if a != (HLL{}) {
				t.Fatal("reset HLL is not empty")
			}
		}
	}
}
