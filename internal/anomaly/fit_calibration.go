package anomaly

import (
	"math"
	"math/rand/v2"
)

// The tails a model is judged by when its own errors say too little: the
// null tails of errors as the model expects them, and how often a metric
// repeats itself.

// nullRows is how many windows of simulated errors calibrate the null tails.
const nullRows = 1000

// nullTails is each statistic's tail when every error is what the model
// expects of it: independent and standard normal, for k components and na
// metrics, the level scan's departures taken from a slow reference of the
// given share as the model's are, the scans read with runs' fitted centres
// and variances. A score
// is never more than that tail gives (see model.score): a short history's
// in-sample errors are smaller than any later ones (with ten windows and
// forty metrics, the components fit them almost exactly), and a calibration
// on them alone would flag every window after. On a long history the
// in-sample tails are the heavier and stand.
func nullTails(cfg Config, k, na int, runs *runStats, share float64) [statStuck]tail {
	rng := rand.New(rand.NewPCG(uint64(k), uint64(na)))
	sim := newRunStats(na)
	for _, p := range [][2]*scan{{sim.level, runs.level}, {sim.spread, runs.spread}} {
		copy(p[0].centre, p[1].centre)
		copy(p[0].inv, p[1].inv)
	}
	var stats [statStuck][]float64
	v, x, ref := make([]float64, na), make([]float64, na), make([]float64, na)
	qRing := make([]float64, runWindow)
	for t := range nullRows {
		sT := 0.0
		for range k {
			u := rng.NormFloat64()
			sT += u * u
		}
		sQ, sM, capped := 0.0, 0.0, 0.0
		for a := range v {
			v[a] = rng.NormFloat64()
			sQ += v[a] * v[a]
			sM = max(sM, v[a]*v[a])
			capped += min(v[a]*v[a], capSq(cfg))
			x[a] = v[a] - ref[a]
			ref[a] += share * x[a]
		}
		copy(qRing, qRing[1:])
		qRing[runWindow-1] = capped
		stats[statComponents] = append(stats[statComponents], sT)
		stats[statResidual] = append(stats[statResidual], sQ)
		stats[statMetric] = append(stats[statMetric], sM)
		if t >= runWindow-1 {
			sR := 0.0
			for _, q := range qRing {
				sR += q
			}
			stats[statResidualRun] = append(stats[statResidualRun], sR)
		}
		lv, sp := sim.add(x, v, cfg.ClipSigma)
		if t >= scanWindows {
			stats[statLevel] = append(stats[statLevel], lv)
			stats[statSpread] = append(stats[statSpread], sp)
		}
	}
	var tails [statStuck]tail
	for s := range stats {
		tails[s] = fitTail(stats[s])
	}
	return tails
}

// rms is the root mean square of the finite values of x.
func rms(x []float64) float64 {
	s, n := 0.0, 0
	for _, v := range x {
		if v == v {
			s += v * v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(s / float64(n))
}

// meanFinite is the mean of the finite values of x.
func meanFinite(x []float64) float64 {
	s, n := 0.0, 0
	for _, v := range x {
		if v == v {
			s += v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

// runSums returns Σ over the window of Σ v²; w, when not nil, receives each
// metric's sum of v² over the window.
func runSums(qRing, vRing []float64, na int, w []float64) float64 {
	sR := 0.0
	for _, q := range qRing {
		sR += q
	}
	if w != nil {
		for a := range na {
			x := 0.0
			for i := range runWindow {
				x += vRing[i*na+a]
			}
			w[a] = x
		}
	}
	return sR
}

// fitRepeats learns how often each active metric repeats its previous value exactly,
// with a Laplace estimate so that a metric that never repeated is not certain never
// to, and carries the run each metric ends its history on into scoring. A rate
// whose sampling is known has that run charged as scoring charges it, at its
// sample's chance of repeating (see repeatChance), rather than at the share of
// repeats over the whole history: the out-of-range ratio of a Cauchy-like
// feature at 10,000 events a minute repeated its 0 in 19 windows in 20 over a
// day, but does so with a chance of about 0.98 in the quiet night's windows,
// and a run of zeros from the evening to the fit, charged at the day's share,
// flagged the night's windows as stuck for hours (trafficbench).
func (md *model) fitRepeats(history [][]float64, samp *trainingSampling) {
	na := len(md.active)
	md.logRepeat = make([]float64, na)
	md.last = make([]float64, na)
	md.run = make([]int, na)
	md.runLog = make([]float64, na)
	for a, j := range md.active {
		repeats, pairs := 0, 0
		last, run, runFrom := math.NaN(), 0, 0
		for t, row := range history {
			x := row[j]
			if math.IsNaN(x) {
				continue
			}
			if !math.IsNaN(last) {
				pairs++
				if x == last {
					repeats++
					run++
				} else {
					run, runFrom = 0, t
				}
			}
			last = x
		}
		md.logRepeat[a] = math.Log10(float64(repeats+1) / float64(pairs+2))
		md.last[a], md.run[a] = last, run
		if run == 0 {
			continue
		}
		rate := samp != nil && !math.IsNaN(samp.rate[j])
		if !rate {
			md.runLog[a] = float64(run) * md.logRepeat[a]
			continue
		}
		// The run's windows after its first, each at its own sample size.
		seen := false
		for t := runFrom; t < len(history); t++ {
			x := history[t][j]
			if math.IsNaN(x) {
				continue
			}
			if !seen {
				seen = true
				continue
			}
			if s := samp.sampling[t]; s != nil && s[j].known() && s[j].Kind == SamplingRate {
				md.runLog[a] += rateRepeatChance(x, samp.rate[j], s[j].N)
			} else {
				md.runLog[a] += md.logRepeat[a]
			}
		}
	}
}
