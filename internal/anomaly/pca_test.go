package anomaly

import (
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestPCAIsolatesNoiseDominatedMetric: a metric whose sampling variance is
// many times its whole variance (a rate almost always zero, floored at one
// item in N) shares no component, however it happens to move with the
// others; one whose sampling variance is within its whole variance keeps
// its loadings.
func TestPCAIsolatesNoiseDominatedMetric(t *testing.T) {
	const n = 500
	rng := rand.New(rand.NewPCG(1, 2))
	z := mat.NewDense(n, 4, nil)
	for i := range n {
		f := rng.NormFloat64()
		z.Set(i, 0, f+0.3*rng.NormFloat64())
		z.Set(i, 1, f+0.3*rng.NormFloat64())
		z.Set(i, 2, rng.NormFloat64())
		// The rate: zero but when the shared factor is high, then a jump.
		if f > 1.5 {
			z.Set(i, 3, 5)
		}
	}
	for _, c := range []struct {
		name     string
		noise    float64
		isolated bool
	}{
		{"sampling within its spread", 0.5, false},
		{"sampling far past its spread", 50, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := fitPCA(z, 0.9, 0, []float64{0.1, 0.1, 0.1, c.noise})
			if err != nil {
				t.Fatal(err)
			}
			_, k := p.Loadings.Dims()
			h := 0.0
			for i := range k {
				l := p.Loadings.At(3, i)
				h += l * l
			}
			if c.isolated && h > 1e-12 {
				t.Errorf("rate's leverage on the %d components is %g, want 0", k, h)
			}
			if !c.isolated && h < 0.01 {
				t.Errorf("rate's leverage on the %d components is %g, want it to share them", k, h)
			}
		})
	}
}
