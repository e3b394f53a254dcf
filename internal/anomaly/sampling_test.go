package anomaly

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// samplingCase draws one window's statistic from a population whose value is
// level, and says how it was measured.
type samplingCase struct {
	name  string
	s     Sampling
	level float64
	draw  func(rng *rand.Rand) float64
}

// multinomial draws n items into bins of the given probabilities.
func multinomial(rng *rand.Rand, n int, p []float64, out []float64) {
	left, rest := float64(n), 1.0
	for i, pi := range p {
		if i == len(p)-1 || left == 0 {
			out[i] = left
			left = 0
			continue
		}
		k := 0.0
		if q := min(pi/rest, 1); q > 0 {
			k = distuv.Binomial{N: left, P: q, Src: rng}.Rand()
		}
		out[i] = k
		left -= k
		rest -= pi
	}
}

// psiOf is the pipeline's PSI between observed shares and reference shares,
// with 1e-4 standing in for an empty bin.
func psiOf(obs, ref []float64) float64 {
	no, nr := 0.0, 0.0
	for i := range obs {
		no += obs[i]
		nr += ref[i]
	}
	s := 0.0
	for i := range obs {
		p, q := max(obs[i]/no, 1e-4), max(ref[i]/nr, 1e-4)
		s += (p - q) * math.Log(p/q)
	}
	return s
}

// jsBits is the Jensen–Shannon divergence in bits.
func jsBits(obs, ref []float64) float64 {
	no, nr := 0.0, 0.0
	for i := range obs {
		no += obs[i]
		nr += ref[i]
	}
	s := 0.0
	for i := range obs {
		p, q := obs[i]/no, ref[i]/nr
		m := (p + q) / 2
		if p > 0 {
			s += p / 2 * math.Log2(p/m)
		}
		if q > 0 {
			s += q / 2 * math.Log2(q/m)
		}
	}
	return s
}

// ksNormal is the Kolmogorov–Smirnov distance between n draws from N(shift, 1)
// and the standard normal distribution.
func ksNormal(rng *rand.Rand, n int, shift float64, buf []float64) float64 {
	x := buf[:n]
	for i := range x {
		x[i] = rng.NormFloat64() + shift
	}
	slices.Sort(x)
	d := 0.0
	for i, v := range x {
		f := 0.5 * math.Erfc(-v/math.Sqrt2)
		d = max(d, float64(i+1)/float64(n)-f, f-float64(i)/float64(n))
	}
	return d
}

func samplingCases() []samplingCase {
	var cases []samplingCase
	for _, p := range []float64{1e-4, 2e-3, 0.01, 0.2, 0.97} {
		cases = append(cases, samplingCase{
			name: "rate p=" + fmtG(p) + " n=600", s: Sampling{Kind: SamplingRate, N: 600}, level: p,
			draw: func(rng *rand.Rand) float64 { return distuv.Binomial{N: 600, P: p, Src: rng}.Rand() / 600 },
		})
	}
	for _, l := range []float64{0.2, 3, 30, 1000} {
		cases = append(cases, samplingCase{
			name: "count λ=" + fmtG(l), s: Sampling{Kind: SamplingCount}, level: l,
			draw: func(rng *rand.Rand) float64 { return distuv.Poisson{Lambda: l, Src: rng}.Rand() },
		})
	}
	// A mean of skewed values, judged with the window's own standard deviation
	// as the pipeline passes it.
	cases = append(cases, samplingCase{
		name: "mean of 200 exponential values", level: 1,
		draw: func(rng *rand.Rand) float64 { return 0 }, // replaced below
	})
	// The 99th percentile of 600 log-normal latencies, Scale from the density.
	const sigma = 0.5
	zq := 2.3263478740408408
	xq := math.Exp(sigma * zq)
	dens := math.Exp(-zq*zq/2) / math.Sqrt(2*math.Pi) / (xq * sigma)
	cases = append(cases, samplingCase{
		name: "p99 of 600 log-normal values", s: Sampling{Kind: SamplingQuantile, N: 600, Scale: math.Sqrt(0.99*0.01) / dens}, level: xq,
		draw: func(rng *rand.Rand) float64 {
			u := distuv.Beta{Alpha: 594, Beta: 7, Src: rng}.Rand() // the 594th of 600 uniforms
			return math.Exp(sigma * -math.Sqrt2 * math.Erfcinv(2*u))
		},
	})
	ten := []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}
	for _, n := range []int{100, 600, 5000} {
		obs := make([]float64, 10)
		cases = append(cases, samplingCase{
			name: "psi 10 bins n=" + fmtG(float64(n)), s: Sampling{Kind: SamplingPSI, N: float64(n), Scale: 9},
			draw: func(rng *rand.Rand) float64 { multinomial(rng, n, ten, obs); return psiOf(obs, ten) },
		})
	}
	{
		obs, ref := make([]float64, 10), make([]float64, 10)
		cases = append(cases, samplingCase{
			name: "psi 10 bins n=600 against m=2000", s: Sampling{Kind: SamplingPSI, N: 600, M: 2000, Scale: 9},
			draw: func(rng *rand.Rand) float64 {
				multinomial(rng, 600, ten, obs)
				multinomial(rng, 2000, ten, ref)
				return psiOf(obs, ref)
			},
		})
	}
	{
		// A real difference: the serving shares lean towards the upper bins.
		drift := []float64{0.08, 0.08, 0.09, 0.09, 0.1, 0.1, 0.11, 0.11, 0.12, 0.12}
		obs := make([]float64, 10)
		level := 0.0
		for i := range drift {
			level += (drift[i] - ten[i]) * math.Log(drift[i]/ten[i])
		}
		cases = append(cases, samplingCase{
			name: "psi 10 bins n=600 with drift", s: Sampling{Kind: SamplingPSI, N: 600, Scale: 9}, level: level,
			draw: func(rng *rand.Rand) float64 { multinomial(rng, 600, drift, obs); return psiOf(obs, ten) },
		})
	}
	{
		five := []float64{0.4, 0.3, 0.15, 0.1, 0.05}
		obs := make([]float64, 5)
		cases = append(cases, samplingCase{
			name: "js 5 categories n=300", s: Sampling{Kind: SamplingJS, N: 300, Scale: 4},
			draw: func(rng *rand.Rand) float64 { multinomial(rng, 300, five, obs); return jsBits(obs, five) },
		})
		cases = append(cases, samplingCase{
			name: "chi2 5 categories n=300", s: Sampling{Kind: SamplingChiSquare, Scale: 4},
			draw: func(rng *rand.Rand) float64 {
				multinomial(rng, 300, five, obs)
				s := 0.0
				for i, p := range five {
					e := 300 * p
					s += (obs[i] - e) * (obs[i] - e) / e
				}
				return s
			},
		})
	}
	for _, n := range []int{100, 600} {
		buf := make([]float64, n)
		cases = append(cases, samplingCase{
			name: "ks n=" + fmtG(float64(n)), s: Sampling{Kind: SamplingKS, N: float64(n)},
			draw: func(rng *rand.Rand) float64 { return ksNormal(rng, n, 0, buf) },
		})
	}
	{
		buf := make([]float64, 600)
		level := 2*0.5*math.Erfc(-0.15/math.Sqrt2) - 1 // sup|Φ(x−0.3) − Φ(x)|
		cases = append(cases, samplingCase{
			name: "ks n=600 shifted 0.3 sd", s: Sampling{Kind: SamplingKS, N: 600}, level: level,
			draw: func(rng *rand.Rand) float64 { return ksNormal(rng, 600, 0.3, buf) },
		})
	}
	// The mean case needs the draw to set Scale per window.
	for i := range cases {
		if cases[i].s.Kind == SamplingUnknown {
			cases[i].s = Sampling{Kind: SamplingMean, N: 200}
		}
	}
	return cases
}

func fmtG(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// TestSamplingCalibration draws each kind of window statistic from unchanged
// populations (binomial, Poisson and multinomial draws, fixed seeds) and checks
// that the scores the detector gives them are calibrated: a centre near zero, a
// spread near one, and no more windows beyond 3 and 4 than a normal score has,
// with room for the discreteness of small counts.
func TestSamplingCalibration(t *testing.T) {
	for i, tc := range samplingCases() {
		t.Run(tc.name, func(t *testing.T) {
			// KS draws sort hundreds of values each: fewer of them.
			draws := 40000
			if tc.s.Kind == SamplingKS {
				draws = 10000
			}
			rng := rand.New(rand.NewPCG(uint64(i)+1, 7))
			var sum, ss float64
			var above2, above3, above4, below3 int
			raw := 0.0
			for range draws {
				s := tc.s
				var x float64
				if s.Kind == SamplingMean {
					// Mean and standard deviation of 200 exponential values.
					var m, q float64
					for k := 1; k <= 200; k++ {
						v := rng.ExpFloat64()
						d := v - m
						m += d / float64(k)
						q += d * (v - m)
					}
					// The population's standard deviation: with the
					// window's own, a low mean comes with a low spread
					// and the score is Student's t, skewed by the values.
					x, s.Scale = m, 1
				} else {
					x = tc.draw(rng)
				}
				raw += x
				z := s.z(x, tc.level, 0)
				sum += z
				ss += z * z
				switch {
				case z > 4:
					above4++
					fallthrough
				case z > 3:
					above3++
					fallthrough
				case z > 2:
					above2++
				}
				if z < -3 {
					below3++
				}
			}
			nd := float64(draws)
			mean, sd := sum/nd, math.Sqrt(ss/nd-(sum/nd)*(sum/nd))
			f2, f3, f4, g3 := float64(above2)/nd, float64(above3)/nd, float64(above4)/nd, float64(below3)/nd
			t.Logf("raw mean %.4g (bias model %.4g); z mean %.3f sd %.3f; P(z>2) %.4f P(z>3) %.5f P(z>4) %.5f P(z<-3) %.5f",
				raw/nd, tc.level+tc.s.bias(tc.level), mean, sd, f2, f3, f4, g3)
			// Normal: P(z>2) = 0.0228, P(z>3) = 0.00135, P(z>4) = 3.2e-5.
			if f3 > 0.003 || f4 > 3e-4 || g3 > 0.003 {
				t.Errorf("tails too heavy for a normal score: P(z>3) %.5f P(z>4) %.5f P(z<-3) %.5f", f3, f4, g3)
			}
			if math.Abs(mean) > 0.25 || sd > 1.15 {
				t.Errorf("z mean %.3f sd %.3f, want near 0 and at most 1.15", mean, sd)
			}
		})
	}
}

// TestSamplingExamples pins what the issue asks of the sampling floor on the
// cases it names.
func TestSamplingExamples(t *testing.T) {
	rate600 := Sampling{Kind: SamplingRate, N: 600}
	psi600 := Sampling{Kind: SamplingPSI, N: 600, Scale: 9}
	for _, tc := range []struct {
		name        string
		s           Sampling
		x, level    float64
		zLow, zHigh float64
	}{
		{"1 out-of-range value in 600, none expected", rate600, 1.0 / 600, 0, 0, 1.5},
		{"3 out-of-range values in 600, none expected", rate600, 3.0 / 600, 0, 2, 3.5},
		{"5% out of range, none expected", rate600, 0.05, 0, 8, maxZ},
		{"no errors where 2% expected", rate600, 0, 0.02, -maxZ, -3},
		{"psi 0.031 at 600 values in ten bins, no drift", psi600, 0.031, 0, 1.5, 3},
		{"psi 0.015 at 600 values in ten bins, no drift", psi600, 0.015, 0, -0.5, 0.5},
		{"psi 0.1 at 600 values in ten bins, no drift", psi600, 0.1, 0, 5, maxZ},
		{"2 events where 0.2 expected", Sampling{Kind: SamplingCount}, 2, 0.2, 0, 2},
		{"no events where 50 expected", Sampling{Kind: SamplingCount}, 0, 50, -maxZ, -5},
		{"unknown sampling: no floor", Sampling{}, 1.0 / 600, 0, maxZ, maxZ},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if z := tc.s.z(tc.x, tc.level, 0); z < tc.zLow || z > tc.zHigh {
				t.Errorf("z = %.3f, want in [%g, %g]", z, tc.zLow, tc.zHigh)
			}
		})
	}
}

// TestPSIBias checks the bias the detector removes from PSI against its mean
// over multinomial draws, at window sizes from 100 to 5,000 values (ten or more a bin: below that, empty
// bins and the 1e-4 that stands in for them dominate).
func TestPSIBias(t *testing.T) {
	ten := []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}
	obs := make([]float64, 10)
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{100, 300, 1000, 5000} {
		const draws = 20000
		sum := 0.0
		for range draws {
			multinomial(rng, n, ten, obs)
			sum += psiOf(obs, ten)
		}
		got, want := sum/draws, Sampling{Kind: SamplingPSI, N: float64(n), Scale: 9}.bias(0)
		t.Logf("n=%d: mean psi %.5f, bias %.5f, first-order 9/n %.5f", n, got, want, 9/float64(n))
		if math.Abs(got/want-1) > 0.05 {
			t.Errorf("n=%d: mean psi %.5f, bias %.5f: more than 5%% apart", n, got, want)
		}
	}
}
