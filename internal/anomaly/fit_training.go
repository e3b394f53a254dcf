package anomaly

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/mathext"
)

// The sampling of a training history, as the fit reads it: the values
// without the bias of distance statistics, each metric's sampling variance in
// the model's units, and how a training error is tamed by it.

// trainingSampling is the sampling of a training history, turned into what a
// fit needs: the values without the bias of distance statistics, and each
// value's sampling variance.
type trainingSampling struct {
	raw      [][]float64
	sampling [][]Sampling
	values   [][]float64 // raw less the bias
	svar     [][]float64 // sampling variance, in the metric's units; 0 where unknown
	level    []float64   // per metric: its population value in training, for the bias and variance
	known    []bool      // per metric: some value's sampling is known
	logged   []bool      // per metric: a count, modelled on a log scale
	rate     []float64   // per metric: a rate metric's lower bound on its rate in training (see lowRate), NaN for others
}

// newTrainingSampling returns nil when no value's sampling is known.
func newTrainingSampling(history [][]float64, sampling [][]Sampling, nm int) *trainingSampling {
	if sampling == nil {
		return nil
	}
	ts := &trainingSampling{raw: history, sampling: sampling, level: make([]float64, nm), known: make([]bool, nm), logged: make([]bool, nm), rate: make([]float64, nm)}
	any := false
	var obs []float64
	for j := range nm {
		// The population value: the mean for rates, whose median is often
		// zero; otherwise the median of the values without their bias at
		// zero distance, refined once for KS, whose bias shrinks as the true
		// distance grows.
		obs = obs[:0]
		kind, sum := SamplingUnknown, 0.0
		for t, row := range history {
			if s := sampling[t]; s != nil && s[j].known() && !math.IsNaN(row[j]) {
				kind = s[j].Kind
				obs = append(obs, row[j]-s[j].bias(0))
				sum += row[j]
			}
		}
		if len(obs) == 0 {
			continue
		}
		ts.known[j], any = true, true
		ts.logged[j] = kind == SamplingCount
		ts.rate[j] = math.NaN()
		if kind == SamplingRate {
			ts.level[j] = sum / float64(len(obs))
			ts.rate[j] = lowRate(history, sampling, j)
			continue
		}
		slices.Sort(obs)
		ts.level[j] = max(medianSorted(obs), 0)
		if kind == SamplingKS {
			obs = obs[:0]
			for t, row := range history {
				if s := sampling[t]; s != nil && s[j].known() && !math.IsNaN(row[j]) {
					obs = append(obs, row[j]-s[j].bias(ts.level[j]))
				}
			}
			slices.Sort(obs)
			ts.level[j] = max(medianSorted(obs), 0)
		}
	}
	if !any {
		return nil
	}
	ts.values = make([][]float64, len(history))
	ts.svar = make([][]float64, len(history))
	for t, row := range history {
		ts.values[t] = make([]float64, nm)
		ts.svar[t] = make([]float64, nm)
		for j, x := range row {
			var s Sampling
			if sampling[t] != nil {
				s = sampling[t][j]
			}
			if !s.known() || math.IsNaN(x) {
				ts.values[t][j] = toModel(ts.logged[j], x)
				continue
			}
			level := ts.level[j]
			if s.Kind == SamplingCount {
				// Counts follow the traffic's cycle: each is its own best guess.
				level = max(x, 0)
			}
			ts.values[t][j] = toModel(ts.logged[j], x-s.bias(level))
			ts.svar[t][j] = s.variance(level) * modelSlope(ts.logged[j], level)
		}
	}
	return ts
}

// toModel puts a value on the model's scale: log1p for the logged counts.
func toModel(logged bool, x float64) float64 {
	if logged {
		return math.Log1p(max(x, 0))
	}
	return x
}

// fromModel is toModel's inverse.
func fromModel(logged bool, y float64) float64 {
	if logged {
		return math.Expm1(y)
	}
	return y
}

// modelSlope is the square of toModel's derivative at x, which turns a
// variance into the model's scale.
func modelSlope(logged bool, x float64) float64 {
	if logged {
		return 1 / ((1 + max(x, 0)) * (1 + max(x, 0)))
	}
	return 1
}

// lowRate is a lower 95% bound on rate metric j's rate over the training
// windows: the events it counted, as a Poisson count, over the items. The
// chance of a run of zeros is judged at it (see model.repeatChance), so that
// a short history that happened to catch a few rare events does not make
// their later absence look like a stuck source.
func lowRate(history [][]float64, sampling [][]Sampling, j int) float64 {
	events, items := 0.0, 0.0
	for t, row := range history {
		if s := sampling[t]; s != nil && s[j].known() && !math.IsNaN(row[j]) {
			events += math.Round(row[j] * s[j].N)
			items += s[j].N
		}
	}
	if events == 0 || items == 0 {
		return 0
	}
	return mathext.GammaIncRegInv(events, 0.05) / items
}

// trainingScales is what the forecasters' calibration reads of the sampling:
// each active metric's sampling variance in standard units, and its tail
// score.
type trainingScales struct {
	w    *mat.Dense // rows × active metrics
	tail func(t, a int, level float64) (float64, bool)
	z    func(t, a int) float64 // the standardised value
}

func (ts *trainingSampling) scales(md *model) *trainingScales {
	na := len(md.active)
	w := mat.NewDense(len(ts.values), max(na, 1), nil)
	for t := range ts.values {
		for a, j := range md.active {
			w.Set(t, a, ts.svar[t][j]/(md.scale[j]*md.scale[j]))
		}
	}
	return &trainingScales{w: w, tail: func(t, a int, level float64) (float64, bool) {
		j := md.active[a]
		if ts.sampling[t] == nil {
			return 0, false
		}
		s := ts.sampling[t][j]
		if !s.known() {
			return 0, false
		}
		return s.tailZ(ts.raw[t][j], fromModel(ts.logged[j], level))
	}, z: func(t, a int) float64 {
		j := md.active[a]
		return (ts.values[t][j] - md.mean[j]) / md.scale[j]
	}}
}

// processVariance is the variance of a channel's one-step errors beyond
// sampling: the s ≥ 0 for which the errors, each divided by √(s + w_t), have a
// mean square of one. Each square enters capped at capSq, so that the spread
// of the many is not set by a wild few. Zero when sampling alone explains the
// errors.
func processVariance(errs, w []float64, capSq float64) float64 {
	ms := func(s float64) float64 {
		sum, n := 0.0, 0
		for t, e := range errs {
			if e != e {
				continue
			}
			d := s + w[t]
			q := capSq
			if d > 0 {
				q = min(e*e/d, capSq)
			} else if e == 0 {
				q = 0
			}
			sum += q
			n++
		}
		if n == 0 {
			return 0
		}
		return sum / float64(n)
	}
	if ms(0) <= 1 {
		return 0
	}
	lo, hi := 0.0, 0.0
	for _, e := range errs {
		if e == e {
			hi = max(hi, e*e)
		}
	}
	for range 60 {
		mid := (lo + hi) / 2
		if ms(mid) > 1 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// tameFactor is the factor by which a training error of a skewed statistic
// shrinks when the statistic's own tail is less extreme than a normal one (see
// tame): the metric's whole error e (standard units), over its whole spread,
// against its tail score under sampling. chanVar is the variance of the
// channel the metric is judged on (its residual's or its own).
func (md *model) tameFactor(t, a int, e float64, sigC []float64, chanVar float64, tr *trainingScales) float64 {
	if e != e {
		return 1
	}
	k := md.k
	tot := chanVar
	if md.own[a] == nil {
		for i := range k {
			l := md.load[a*k+i]
			tot += l * l * sigC[i] * sigC[i]
		}
	}
	j := md.active[a]
	// The population value the model expected: the value less its error.
	zhat := 0.0
	if x := tr.z(t, a); x == x {
		zhat = x - e
	}
	zt, ok := tr.tail(t, a, md.mean[j]+md.scale[j]*zhat)
	if !ok {
		return 1
	}
	zn := e / math.Sqrt(tot)
	if zn == 0 {
		return 1
	}
	return math.Abs(tame(zn, zt)) / math.Abs(zn)
}

// residualSampling writes into out the sampling variance of each active
// metric's residual, given each metric's sampling variance w in standard
// units: the residual is (I − P)z with P = LLᵀ the projection on the retained
// components, so that its variance is w_a(1 − 2P_aa) + Σ_b P_ab² w_b, and
// Σ_b P_ab² w_b = L_a M L_aᵀ with M = Σ_b w_b L_bᵀL_b, k × k. Noise in the
// other metrics reaches a residual through the components it shares with them.
// m is k×k scratch.
func (md *model) residualSampling(w, m, out []float64) {
	k := md.k
	clear(m)
	for b, wb := range w {
		if wb == 0 {
			continue
		}
		l := md.load[b*k : (b+1)*k]
		for i, li := range l {
			for i2, li2 := range l[:i+1] {
				m[i*k+i2] += wb * li * li2
			}
		}
	}
	for i := range k {
		for i2 := range i {
			m[i2*k+i] = m[i*k+i2]
		}
	}
	for a := range w {
		l := md.load[a*k : (a+1)*k]
		q := 0.0
		for i, li := range l {
			s := 0.0
			for i2, li2 := range l {
				s += m[i*k+i2] * li2
			}
			q += li * s
		}
		h := 1 - md.free[a]
		out[a] = max(w[a]*(1-2*h)+q, 0)
	}
}

// wholeError is active metric a's whole one-step error in training row t, in
// standard units: e itself for a metric forecast on its own, else its value
// less the components' forecasts mapped back and its residual's forecast.
func (md *model) wholeError(t, a int, e float64, z, scores, resid, ec, er *mat.Dense) float64 {
	if md.own[a] != nil {
		return e
	}
	k := md.k
	zhat := resid.At(t, a) - er.At(t, a)
	for i := range k {
		zhat += md.load[a*k+i] * (scores.At(t, i) - ec.At(t, i))
	}
	return z.At(t, a) - zhat
}
