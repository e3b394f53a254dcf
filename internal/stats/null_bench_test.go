package stats

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkNullQuantile measures a call as a check makes it, once per feature per
// comparison per window: over ten decile bins or twenty categories (exact sums
// at small counts, quadrature at large), and over the atoms of two sketches.
func BenchmarkNullQuantile(b *testing.B) {
	deciles := func(n float64) Distribution {
		d := Distribution{N: n, Bins: make([]float64, 10)}
		for i := range d.Bins {
			d.Bins[i] = n / 10
		}
		return d
	}
	shares := zipfShares(20, 1.5)
	var total float64
	for _, s := range shares {
		total += s
	}
	categories := func(n float64) Distribution {
		d := Distribution{N: n, Categories: map[string]float64{}}
		for i, s := range shares {
			d.Categories["c"+strconv.Itoa(i)] = math.Round(n * s / total)
		}
		return d
	}
	r := rand.New(rand.NewPCG(1, 2))
	sample := func(n int) Distribution {
		p := profiler{}
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = math.Exp(r.NormFloat64())
		}
		return p.numeric(xs)
	}
	base, window, previous := sample(100000), sample(1000), sample(1000)
	cases := []struct {
		name     string
		method   Method
		ref, cur Distribution
	}{
		{"psi/10 bins/100 vs 100", MethodPSI, deciles(100), deciles(100)},
		{"psi/10 bins/100 vs 100000", MethodPSI, deciles(100000), deciles(100)},
		{"psi/10 bins/10000 vs 10000", MethodPSI, deciles(10000), deciles(10000)},
		{"psi/20 categories/100 vs 100", MethodPSI, categories(100), categories(100)},
		{"psi/20 categories/10000 vs 100000", MethodPSI, categories(100000), categories(10000)},
		{"js/10 bins/100 vs 100", MethodJSDivergence, deciles(100), deciles(100)},
		{"js/10 bins/100 vs 100000", MethodJSDivergence, deciles(100000), deciles(100)},
		{"js/10 bins/10000 vs 10000", MethodJSDivergence, deciles(10000), deciles(10000)},
		{"js/20 categories/100 vs 100", MethodJSDivergence, categories(100), categories(100)},
		{"js/20 categories/10000 vs 100000", MethodJSDivergence, categories(100000), categories(10000)},
		{"l_infinity/20 categories/100 vs 100", MethodLInfinity, categories(100), categories(100)},
		{"l_infinity/20 categories/10000 vs 100000", MethodLInfinity, categories(100000), categories(10000)},
		{"wasserstein/" + strconv.Itoa(len(base.Atoms)) + "+" + strconv.Itoa(len(window.Atoms)) + " atoms", MethodWassersteinNormed, base, window},
		{"wasserstein/" + strconv.Itoa(len(previous.Atoms)) + "+" + strconv.Itoa(len(window.Atoms)) + " atoms", MethodWassersteinNormed, previous, window},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NullQuantile(c.method, c.ref, c.cur, 0.001)
			}
		})
	}
}
