package anomaly

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// healthyWindows simulates the watched window statistics of a model whose
// traffic is healthy: events per window from traffic(t), and per feature a
// null ratio of about 1%, an out-of-range ratio that is almost always 0, an
// unknown-category ratio that is 0, the mean of its values and its PSI
// against the training baseline over ten bins (with a small, steady real
// drift), plus the model's latency p99. Every value comes with its sampling
// context, as the pipeline will give them.
func healthyWindows(seed uint64, n, features int, traffic func(t int) float64) (names []string, rows [][]float64, samp [][]Sampling) {
	rng := rand.New(rand.NewPCG(seed, 99))
	names = append(names, "events", "latency_ms_p99")
	for f := range features {
		for _, m := range []string{"null_ratio", "out_of_range_ratio", "unknown_category_ratio", "mean", "psi"} {
			names = append(names, fmt.Sprintf("f%02d.%s", f, m))
		}
	}
	// Each feature's serving shares differ a little from the baseline's
	// deciles, as real features do: a true PSI of about 0.002.
	shares := make([][]float64, features)
	for f := range shares {
		shares[f] = make([]float64, 10)
		sum := 0.0
		for i := range shares[f] {
			shares[f][i] = 0.1 * (1 + 0.15*rng.NormFloat64())
			sum += shares[f][i]
		}
		for i := range shares[f] {
			shares[f][i] /= sum
		}
	}
	ten := []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}
	counts := make([]float64, 10)
	for t := range n {
		row := make([]float64, len(names))
		s := make([]Sampling, len(names))
		ev := distuv.Poisson{Lambda: traffic(t), Src: rng}.Rand()
		ev = max(ev, 1)
		row[0], s[0] = ev, Sampling{Kind: SamplingCount}
		// p99 of log-normal latencies around 80 ms, σ = 0.4.
		k := math.Ceil(0.99 * ev)
		u := distuv.Beta{Alpha: k, Beta: ev + 1 - k, Src: rng}.Rand()
		xq := math.Exp(math.Log(80) + 0.4*2.3263)
		dens := math.Exp(-2.3263*2.3263/2) / math.Sqrt(2*math.Pi) / (xq * 0.4)
		row[1] = math.Exp(math.Log(80) + 0.4*(-math.Sqrt2*math.Erfcinv(2*u)))
		s[1] = Sampling{Kind: SamplingQuantile, N: ev, Scale: math.Sqrt(0.99*0.01) / dens}
		for f := range features {
			o := 2 + 5*f
			nulls := distuv.Binomial{N: ev, P: 0.01, Src: rng}.Rand()
			row[o], s[o] = nulls/ev, Sampling{Kind: SamplingRate, N: ev}
			present := max(ev-nulls, 1)
			oor := distuv.Binomial{N: present, P: 2e-4, Src: rng}.Rand()
			row[o+1], s[o+1] = oor/present, Sampling{Kind: SamplingRate, N: present}
			row[o+2], s[o+2] = 0, Sampling{Kind: SamplingRate, N: present}
			sd := 10 * (1 + 0.1*float64(f))
			row[o+3] = 50 + float64(f) + sd/math.Sqrt(present)*rng.NormFloat64()
			s[o+3] = Sampling{Kind: SamplingMean, N: present, Scale: sd}
			multinomial(rng, int(present), shares[f], counts)
			row[o+4], s[o+4] = psiOf(counts, ten), Sampling{Kind: SamplingPSI, N: present, Scale: 9}
		}
		rows = append(rows, row)
		samp = append(samp, s)
	}
	return names, rows, samp
}

// TestQuietOnHealthyWindows runs the detector as replay does on healthy
// traffic, with the sampling contexts the pipeline gives, in the two cases the
// issue reports, where it used to flag nearly every window (170 of 170, and
// 799 of 805), each over three simulated histories. A healthy window may be
// flagged at the false alarm rate (0.2%): the bounds allow half a percent,
// rounded up.
// In the 5-minute case the traffic count follows a daily cycle the model,
// fitted on five hours, has not seen, and most of what is flagged is that
// cycle on the second morning, before the first scheduled refit. The same rows
// without sampling contexts are run too, to show what the contexts change.
func TestQuietOnHealthyWindows(t *testing.T) {
	for _, tc := range []struct {
		name           string
		period, n, fit int
		refit, history int
		traffic        func(t int) float64
	}{
		{
			name: "1-minute windows of 600 events, 3 hours, fit after 10", period: 1440, n: 180, fit: 10,
			refit: 1440, history: 2880, traffic: func(int) float64 { return 600 },
		},
		{
			name: "5-minute windows of about 500 events, 3 days, fit after 60", period: 288, n: 864, fit: 60,
			refit: 288, history: 2880,
			traffic: func(t int) float64 {
				return 500 * math.Exp(0.5*math.Sin(2*math.Pi*float64(t)/288))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scored := 0
			flagged := map[bool]int{}
			for seed := uint64(1); seed <= 3; seed++ {
				names, rows, samp := healthyWindows(seed, tc.n, 8, tc.traffic)
				scored += tc.n - tc.fit
				for _, sampled := range []bool{true, false} {
					d, err := New(Config{Period: tc.period, RefitEvery: tc.refit, HistoryRows: tc.history}, names)
					if err != nil {
						t.Fatal(err)
					}
					var fitSamp [][]Sampling
					if sampled {
						fitSamp = samp[:tc.fit]
					}
					if err := d.FitSampled(rows[:tc.fit], fitSamp); err != nil {
						t.Fatal(err)
					}
					for i := tc.fit; i < tc.n; i++ {
						var s []Sampling
						if sampled {
							s = samp[i]
						}
						p, err := d.ScoreSampled(rows[i], s)
						if err != nil {
							t.Fatal(err)
						}
						if !p.Anomaly {
							continue
						}
						flagged[sampled]++
						if sampled {
							t.Logf("seed %d, window %d: score %.2f (%s): %s %s", seed, i, p.Score, p.Statistic, p.Top[0].Metric, p.Top[0].Detail)
						}
					}
				}
			}
			t.Logf("flagged with sampling contexts %d of %d windows, without %d", flagged[true], scored, flagged[false])
			if limit := (scored + 199) / 200; flagged[true] > limit {
				t.Errorf("%d of %d healthy windows flagged, want at most %d (0.5%%)", flagged[true], scored, limit)
			}
		})
	}
}
