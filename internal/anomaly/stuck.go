package anomaly

import "math"

// How likely a run of repeated values is by chance, which the stuck statistic
// charges a metric for each window it repeats.

// repeatChance is log10 of the chance that active metric a (metric j) repeats
// value x this window. For a count or rate whose sampling is known, it is the
// chance its sample gives the same count again: a zero count repeats with the
// chance of zero (at a lower bound on a rate's rate in training, or a count's
// expected value), any other with the chance that two draws agree. Otherwise it is
// the share of repeats in training.
func (md *model) repeatChance(a, j int, x float64, sampling []Sampling) float64 {
	if sampling == nil {
		return md.logRepeat[a]
	}
	s := sampling[j]
	if !s.known() {
		return md.logRepeat[a]
	}
	switch s.Kind {
	case SamplingCount:
		mean := max(md.level[j], 0)
		return countRepeatChance(x, mean, mean)
	case SamplingRate:
		p := md.level[j]
		if md.rate != nil && !math.IsNaN(md.rate[j]) {
			p = md.rate[j]
		}
		return rateRepeatChance(x, p, s.N)
	}
	return md.logRepeat[a]
}

// rateRepeatChance is log10 of the chance that a rate of n items, each with
// the property at chance p, comes out at x again.
func rateRepeatChance(x, p, n float64) float64 {
	p = min(max(p, 0), 1)
	x *= n
	if p > 0.5 {
		p, x = 1-p, n-x
	}
	return countRepeatChance(x, n*p, n*p*(1-p))
}

// countRepeatChance is log10 of the chance that a count of the given mean and
// variance comes out at x again.
func countRepeatChance(x, mean, variance float64) float64 {
	if math.Round(x) == 0 {
		return -mean / math.Ln10 // Poisson's chance of zero
	}
	return math.Log10(collision(mean, variance))
}

// collision is the chance that two draws of a count agree: Σ p_k² for a
// Poisson count of the given mean while it is small, and 1/√(4πσ²), a normal's,
// once its variance is large.
func collision(mean, variance float64) float64 {
	if variance > 30 {
		return 1 / math.Sqrt(4*math.Pi*variance)
	}
	sum, lp := 0.0, -mean // log p_0
	for k := 0; k <= int(mean+12*math.Sqrt(mean)+12); k++ {
		if k > 0 {
			lp += math.Log(mean) - math.Log(float64(k))
		}
		sum += math.Exp(2 * lp)
	}
	return min(sum, 1)
}
