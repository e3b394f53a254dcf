package analyze

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// sampleQuantiles draws n values and returns their mean, standard deviation
// and 1001 quantiles, as a baseline lists them.
func sampleQuantiles(n int, draw func(r *rand.Rand) float64) (mean, sd float64, q []float64) {
	r := rand.New(rand.NewPCG(3, 5))
	x := make([]float64, n)
	for i := range x {
		x[i] = draw(r)
		mean += x[i]
	}
	mean /= float64(n)
	for _, v := range x {
		sd += (v - mean) * (v - mean)
	}
	sd = math.Sqrt(sd / float64(n-1))
	slices.Sort(x)
	q = make([]float64, 1001)
	for i := range q {
		q[i] = quantileOf(x, float64(i)/1000)
	}
	return mean, sd, q
}

// TestHeavyTailed: the features whose window means stray four standard
// errors from the training mean far more often than a normal mean would (one
// window in 16,000) are the heavy-tailed ones, and only they.
func TestHeavyTailed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		draw  func(r *rand.Rand) float64
		heavy bool
	}{
		{"normal", func(r *rand.Rand) float64 { return 100 + 15*r.NormFloat64() }, false},
		{"uniform", func(r *rand.Rand) float64 { return r.Float64() }, false},
		{"exponential", func(r *rand.Rand) float64 { return 120 * r.ExpFloat64() }, false},
		{"geometric count", func(r *rand.Rand) float64 { return math.Floor(math.Log(r.Float64()) / math.Log(0.7)) }, false},
		{"log-normal", func(r *rand.Rand) float64 { return math.Exp(3.5 + 1.1*r.NormFloat64()) }, true},
		{"Pareto 2.5", func(r *rand.Rand) float64 { return math.Pow(1-r.Float64(), -1/2.5) }, true},
		{"Cauchy", func(r *rand.Rand) float64 { return math.Tan(math.Pi * (r.Float64() - 0.5)) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mean, sd, q := sampleQuantiles(20_000, tc.draw)
			heavy := heavyTailed(mean, sd, q, 20_000)
			r := rand.New(rand.NewPCG(7, 7))
			const n, windows = 100, 10_000
			out := 0
			for range windows {
				s := 0.0
				for range n {
					s += tc.draw(r)
				}
				if math.Abs(s/n-mean) > 4*sd/math.Sqrt(n) {
					out++
				}
			}
			t.Logf("tail scale %.3g × the standard deviation; means of 100 beyond 4 standard errors in %.2f%% of windows",
				newMeanTail(mean, q, 20_000).scale(heavyAt)/sd, 100*float64(out)/windows)
			if heavy != tc.heavy {
				t.Errorf("heavy tailed: %t, want %t", heavy, tc.heavy)
			}
		})
	}
}
