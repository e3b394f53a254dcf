package anomalybench

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
)

// trafficMetric is a window statistic of the simulated event stream.
type trafficMetric struct {
	name string
	kind anomaly.SamplingKind
	// reserved metrics are never an incident's target.
	reserved bool
}

// trafficMetrics are the sampled metrics a table with GenConfig.Sampled adds,
// in this order after the column metrics. Each is computed from the window's
// simulated events, so that it carries the sampling noise of its kind at the
// window's size, which follows the traffic's daily cycle: a detector that takes
// every metric's spread as fixed sees the nights as anomalies.
var trafficMetrics = []trafficMetric{
	{name: "events", kind: anomaly.SamplingCount},
	{name: "null_ratio", kind: anomaly.SamplingRate},
	{name: "out_of_range_ratio", kind: anomaly.SamplingRate},
	{name: "wrong_type_ratio", kind: anomaly.SamplingRate},
	// Never seen in training, then about one value in 10,000: an unknown
	// category that starts to arrive at a rate too low to matter.
	{name: "new_category_ratio", kind: anomaly.SamplingRate, reserved: true},
	{name: "amount_mean", kind: anomaly.SamplingMean},
	{name: "age_mean", kind: anomaly.SamplingMean},
	{name: "latency_p99", kind: anomaly.SamplingQuantile},
	{name: "amount_psi", kind: anomaly.SamplingPSI},
	{name: "age_psi", kind: anomaly.SamplingPSI},
	{name: "country_js", kind: anomaly.SamplingJS},
	{name: "amount_ks", kind: anomaly.SamplingKS},
	{name: "country_chi2", kind: anomaly.SamplingChiSquare},
}

// The simulated traffic.
const (
	// trafficMedian is the median window's expected events; the daily cycle
	// takes it from about a quarter of that at night to three and a half times
	// by day.
	trafficMedian = 600
	// trafficNoise is the day-to-day wander of traffic, as the sd of the
	// innovation of a log AR(1) process.
	trafficNoise = 0.03
	// ageReference is the size of the reference sample age_psi compares with.
	ageReference = 5000
	// z99 is the standard normal 99th percentile.
	z99 = 2.3263478740408408
	// latencySigma is the log-normal latencies' shape.
	latencySigma = 0.5
)

// Category shares and the directions their serving shares drift in: each
// direction sums to zero and is scaled so that PSI ≈ δ² when the shares move δ
// along it.
var (
	decile     = []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}
	decileDir  = direction(decile, []float64{-4.5, -3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 4.5})
	country    = []float64{0.4, 0.3, 0.15, 0.1, 0.05}
	countryDir = direction(country, []float64{-2, 1, 0.5, 0.3, 0.2})
	channel    = []float64{0.5, 0.25, 0.15, 0.1}
	channelDir = direction(channel, []float64{-1, 0.4, 0.3, 0.3})
)

func direction(q, d []float64) []float64 {
	s := 0.0
	for i := range d {
		s += d[i] * d[i] / q[i]
	}
	out := make([]float64, len(d))
	for i := range d {
		out[i] = d[i] / math.Sqrt(s)
	}
	return out
}

// simulateTraffic appends the sampled metrics' values to tab's rows (after the
// first nm) and returns every row's sampling. factor(f, t) is the latent
// factor f at row t; shift holds each sampled metric's incident shift in σ of
// its window, flat and zero its flat-lined and zeroed rows.
func simulateTraffic(rng *rand.Rand, tab *anomaly.Table, nm, period, train int, factor func(f, t int) float64, shift [][]float64, flat, flatUntil []int, zero [][2]int) [][]anomaly.Sampling {
	n := len(tab.Rows)
	ns := len(trafficMetrics)
	for s, m := range trafficMetrics {
		tab.Metrics[nm+s] = m.name
	}
	samp := make([][]anomaly.Sampling, n)
	ph1, ph2 := 2*math.Pi*rng.Float64(), 2*math.Pi*rng.Float64()
	wander := ar1(rng, n, 0.9, trafficNoise)
	// Own noise of the population values the means and the quantile follow.
	own := make([][]float64, 3)
	for i := range own {
		own[i] = make([]float64, n)
		for t := range own[i] {
			own[i][t] = rng.NormFloat64()
		}
	}
	ref := make([]float64, len(decile))
	multinomial(rng, ageReference, decile, ref)
	for i := range ref {
		ref[i] /= ageReference
	}
	counts := make([]float64, len(decile))
	shares := make([]float64, len(decile))
	var buf []float64
	const (
		events = iota
		nulls
		outOfRange
		wrongType
		newCategory
		amountMean
		ageMean
		latency
		amountPSI
		agePSI
		countryJS
		amountKS
		channelChi2
	)
	for t := range n {
		row := tab.Rows[t]
		sr := make([]anomaly.Sampling, nm+ns)
		samp[t] = sr
		set := func(s int, v float64, sm anomaly.Sampling) {
			row[nm+s] = v
			sr[nm+s] = sm
		}
		w := 2 * math.Pi * float64(t) / float64(period)
		lambda := trafficMedian * math.Exp(1.0*math.Sin(w+ph1)+0.3*math.Sin(2*w+ph2)+wander[t])
		lambda += shift[events][t] * math.Sqrt(lambda+math.Pow(trafficNoise*lambda, 2))
		lambda = max(lambda, 1)
		ev := distuv.Poisson{Lambda: lambda, Src: rng}.Rand()
		set(events, ev, anomaly.Sampling{Kind: anomaly.SamplingCount})
		nEv := max(ev, 1)

		// rate draws k of n at chance p moved by its shift, in σ of a binomial
		// share with at least one item's worth of spread.
		rate := func(s int, p, n float64) float64 {
			sd := math.Sqrt(max(p, 1/n) * (1 - p) / n)
			p = min(max(p+shift[s][t]*sd, 0), 1)
			k := distuv.Binomial{N: n, P: p, Src: rng}.Rand()
			set(s, k/n, anomaly.Sampling{Kind: anomaly.SamplingRate, N: n})
			return k
		}
		k := rate(nulls, 0.01*math.Exp(0.25*factor(0, t)), nEv)
		nonNull := max(nEv-k, 1)
		rate(outOfRange, 0.0008, nonNull)
		rate(wrongType, 0.003, nEv)
		pNew := 0.0
		if t >= train {
			pNew = 1e-4
		}
		rate(newCategory, pNew, nEv)

		// A mean of nonNull values whose population mean follows a factor.
		mean := func(s int, mu, ownSD, sd float64, o int) {
			mu += ownSD * own[o][t]
			se := sd / math.Sqrt(nonNull)
			mu += shift[s][t] * math.Hypot(ownSD, se)
			// The window's own standard deviation, itself a little noisy.
			wsd := sd * (1 + rng.NormFloat64()/math.Sqrt(2*nonNull))
			set(s, mu+se*rng.NormFloat64(), anomaly.Sampling{Kind: anomaly.SamplingMean, N: nonNull, Scale: wsd})
		}
		mean(amountMean, 50+4*factor(0, t), 0.6, 30, 0)
		mean(ageMean, 40+2*factor(1, t), 0.3, 12, 1)

		// The 99th percentile of nEv log-normal latencies: the k-th order
		// statistic of uniforms is Beta(k, n+1−k).
		{
			m := 3 + 0.15*factor(2, t) + 0.03*own[2][t]
			xq := math.Exp(m + latencySigma*z99)
			scale := math.Sqrt(0.99*0.01) * xq * latencySigma / (math.Exp(-z99*z99/2) / math.Sqrt(2*math.Pi))
			sd := math.Hypot(0.03*latencySigma*xq, scale/math.Sqrt(nEv))
			if d := shift[latency][t]; d != 0 {
				m = math.Log(max(xq+d*sd, xq/20)) - latencySigma*z99
			}
			kq := math.Ceil(0.99 * nEv)
			u := distuv.Beta{Alpha: kq, Beta: nEv + 1 - kq, Src: rng}.Rand()
			set(latency, math.Exp(m+latencySigma*normalQuantile(u)), anomaly.Sampling{Kind: anomaly.SamplingQuantile, N: nEv, Scale: scale})
		}

		// Distances: the serving shares move δ along a direction, with δ
		// following a factor; an incident raises the true distance by its
		// shift in σ of the statistic's sampling noise at this window's size.
		psi := func(s int, delta, n float64, m float64, refShares []float64, f int) {
			d0 := delta * (1 + 0.4*factor(f, t))
			d0 = max(d0, 0)
			sd := math.Sqrt(2*9) * (1/n + invOr0(m))
			dist := d0*d0 + math.Abs(shift[s][t])*sd
			dd := min(math.Sqrt(dist), 0.6)
			for i := range shares {
				shares[i] = decile[i] + dd*decileDir[i]
			}
			multinomial(rng, int(n), shares, counts)
			set(s, psiOf(counts, refShares), anomaly.Sampling{Kind: anomaly.SamplingPSI, N: n, M: m, Scale: 9})
		}
		psi(amountPSI, 0.06, nonNull, 0, decile, 0)
		psi(agePSI, 0.05, nEv, ageReference, ref, 1)
		{
			d0 := max(0.05*(1+0.4*factor(2, t)), 0)
			sd := jsPerPSI * math.Sqrt(2*4) / nEv
			dd := min(math.Sqrt(d0*d0+math.Abs(shift[countryJS][t])*sd/jsPerPSI), 0.3)
			cs, cc := make([]float64, len(country)), make([]float64, len(country))
			for i := range cs {
				cs[i] = country[i] + dd*countryDir[i]
			}
			multinomial(rng, int(nEv), cs, cc)
			set(countryJS, jsBits(cc, country), anomaly.Sampling{Kind: anomaly.SamplingJS, N: nEv, Scale: 4})
		}
		{
			// KS between nonNull draws from N(μ, 1) and N(0, 1); the true
			// distance is 2Φ(μ/2) − 1.
			mu := max(0.05*(1+0.5*factor(0, t)), 0)
			dTrue := 2*normalCDF(mu/2) - 1
			dTrue += math.Abs(shift[amountKS][t]) * 0.26 / math.Sqrt(nonNull)
			mu = 2 * normalQuantile((min(dTrue, 0.99)+1)/2)
			buf = slices.Grow(buf[:0], int(nonNull))[:int(nonNull)]
			set(amountKS, ksAgainstNormal(rng, mu, buf), anomaly.Sampling{Kind: anomaly.SamplingKS, N: nonNull})
		}
		{
			// Pearson's χ² of nEv channels against their expected shares: its
			// non-centrality N·δ² grows with the traffic.
			d0 := max(0.04*(1+0.4*factor(1, t)), 0)
			lam := nEv*d0*d0 + math.Abs(shift[channelChi2][t])*math.Sqrt(2*3)
			dd := min(math.Sqrt(lam/nEv), 0.3)
			cs, cc := make([]float64, len(channel)), make([]float64, len(channel))
			for i := range cs {
				cs[i] = channel[i] + dd*channelDir[i]
			}
			multinomial(rng, int(nEv), cs, cc)
			chi := 0.0
			for i, q := range channel {
				e := nEv * q
				chi += (cc[i] - e) * (cc[i] - e) / e
			}
			set(channelChi2, chi, anomaly.Sampling{Kind: anomaly.SamplingChiSquare, Scale: 3})
		}
	}
	for s := range ns {
		if f := flat[s]; f >= 0 {
			for t := f; t < flatUntil[s]; t++ {
				tab.Rows[t][nm+s] = tab.Rows[f][nm+s]
			}
		}
		if z := zero[s]; z[1] > 0 {
			for t := z[0]; t < z[1]; t++ {
				tab.Rows[t][nm+s] = 0
			}
		}
	}
	return samp
}

// jsPerPSI converts PSI to the Jensen–Shannon divergence in bits on small
// differences.
var jsPerPSI = 1 / (8 * math.Ln2)

func invOr0(m float64) float64 {
	if m > 0 {
		return 1 / m
	}
	return 0
}

func normalCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

func normalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// multinomial draws n items into bins of the given shares.
func multinomial(rng *rand.Rand, n int, p []float64, out []float64) {
	left, rest := float64(n), 1.0
	for i, pi := range p {
		if i == len(p)-1 || left == 0 {
			out[i] = left
			left = 0
			continue
		}
		k := 0.0
		if q := min(max(pi/rest, 0), 1); q > 0 {
			k = distuv.Binomial{N: left, P: q, Src: rng}.Rand()
		}
		out[i] = k
		left -= k
		rest -= pi
	}
}

// psiOf is the population stability index of observed counts against
// reference shares, with 1e-4 standing in for an empty bin as the pipeline's.
func psiOf(obs, ref []float64) float64 {
	no := 0.0
	for _, o := range obs {
		no += o
	}
	s := 0.0
	for i := range obs {
		p, q := max(obs[i]/no, 1e-4), max(ref[i], 1e-4)
		s += (p - q) * math.Log(p/q)
	}
	return s
}

// jsBits is the Jensen–Shannon divergence in bits of observed counts against
// reference shares.
func jsBits(obs, ref []float64) float64 {
	no := 0.0
	for _, o := range obs {
		no += o
	}
	s := 0.0
	for i := range obs {
		p, q := obs[i]/no, ref[i]
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

// ksAgainstNormal is the Kolmogorov–Smirnov distance between len(buf) draws
// from N(mu, 1) and N(0, 1). Sorted uniforms come from exponential spacings,
// so that no sort is needed.
func ksAgainstNormal(rng *rand.Rand, mu float64, buf []float64) float64 {
	n := len(buf)
	total := 0.0
	for i := range buf {
		total += rng.ExpFloat64()
		buf[i] = total
	}
	total += rng.ExpFloat64()
	d := 0.0
	for i, c := range buf {
		x := normalQuantile(c/total) + mu
		f := normalCDF(x)
		d = max(d, float64(i+1)/float64(n)-f, f-float64(i)/float64(n))
	}
	return d
}

// SampledMetricNames names the metrics GenConfig.Sampled adds, in order.
func SampledMetricNames() []string {
	out := make([]string, len(trafficMetrics))
	for i, m := range trafficMetrics {
		out[i] = m.name
	}
	return out
}
