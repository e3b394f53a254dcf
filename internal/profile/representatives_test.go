package profile

import (
	"math"
	"testing"
)

// TestDefaultRepresentatives: sketches of the default accuracy read their
// bucket representatives from the table, which holds what exp2Approx gives,
// to the bit, for every bucket a finite value falls in.
func TestDefaultRepresentatives(t *testing.T) {
	s, err := NewSketch(DefaultRelativeAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	if s.multiplier != defaultMultiplier {
		t.Fatalf("a default sketch's multiplier %v is not the table's %v", s.multiplier, defaultMultiplier)
	}
	lo, hi := s.index(minIndexable), s.index(math.MaxFloat64)
	for i := lo; i <= hi; i++ {
		r, ok := defaultRepresentative(i)
		if !ok {
			t.Fatalf("bucket %d (of %d to %d) is not in the table", i, lo, hi)
		}
		want := representative(exp2Approx(float64(i-1)/s.multiplier), exp2Approx(float64(i)/s.multiplier))
		if math.Float64bits(r) != math.Float64bits(want) {
			t.Fatalf("bucket %d: table %v, exp2Approx %v", i, r, want)
		}
	}
	if _, ok := defaultRepresentative(repPages / 2 * repPageSize); ok {
		t.Fatal("a bucket past the table was read from it")
	}
}
