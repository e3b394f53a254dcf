package anomaly

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

func (md *model) score(cfg Config, names []string, row []float64, sampling []Sampling) Point {
	k, na := md.k, len(md.active)
	p := Point{Expected: make([]float64, len(row))}
	for i, f := range md.comps {
		md.chat[i] = f.Forecast()
	}
	for j, s := range md.status {
		switch s {
		case statusConstant:
			md.level[j] = fromModel(md.logged[j], md.mean[j])
			p.Expected[j] = md.level[j]
			if sampling != nil && sampling[j].known() {
				p.Expected[j] += sampling[j].bias(md.level[j])
			}
		case statusUnmodelled:
			md.level[j] = math.NaN()
			p.Expected[j] = math.NaN()
		}
	}
	obs, sampled := 0, false
	for a, j := range md.active {
		rh := 0.0
		if f := md.resid[a]; f != nil {
			rh = f.Forecast()
		}
		zh := rh
		l := md.load[a*k : (a+1)*k]
		for i, w := range l {
			zh += w * md.chat[i]
		}
		if f := md.own[a]; f != nil {
			zh = f.Forecast()
		}
		md.rhat[a], md.zhat[a] = rh, zh
		logged := md.logged[j]
		level := fromModel(logged, md.mean[j]+md.scale[j]*zh)
		md.level[j], p.Expected[j] = level, level
		x := row[j]
		md.wz[a] = 0
		if sampling != nil && sampling[j].known() {
			s := sampling[j]
			b := s.bias(level)
			p.Expected[j] += b
			x -= b
			md.wz[a] = s.variance(level) * modelSlope(logged, level) / (md.scale[j] * md.scale[j])
			sampled = true
		}
		x = toModel(logged, x)
		if math.IsNaN(x) {
			// A missing value is taken to be as expected: it adds no evidence and does
			// not pull the components.
			md.z[a] = zh
		} else {
			md.z[a] = (x - md.mean[j]) / md.scale[j]
			obs++
		}
	}
	clear(md.c)
	for a := range na {
		za := md.z[a]
		l := md.load[a*k : (a+1)*k]
		for i, w := range l {
			md.c[i] += w * za
		}
	}
	for i := range k {
		md.sigC[i] = md.compSigma[i] * md.compSigma[i]
	}
	if sampled {
		for a := range na {
			if wa := md.wz[a]; wa > 0 {
				l := md.load[a*k : (a+1)*k]
				for i, w := range l {
					md.sigC[i] += w * w * wa
				}
			}
		}
	}
	if sampled {
		md.residualSampling(md.wz, md.mScratch, md.wr)
	} else {
		clear(md.wr)
	}
	var s [numStats + 1]float64
	for i := range k {
		md.sigC[i] = math.Sqrt(md.sigC[i])
		u := (md.c[i] - md.chat[i]) / md.sigC[i]
		s[statComponents] += u * u
	}
	// g is what the component statistic would be were this metric's error the
	// only one: it splits that statistic between the metrics. (A gradient's
	// share, e·∂s/∂e, is exact but hands a calm metric the cross terms of a
	// loud one it shares a component with.)
	sumQ, bestStuck, stuckAt := 0.0, 0.0, -1
	for a, j := range md.active {
		l := md.load[a*k : (a+1)*k]
		rec, g := 0.0, 0.0
		for i, w := range l {
			rec += w * md.c[i]
			g += w * w / (md.sigC[i] * md.sigC[i])
		}
		md.r[a] = md.z[a] - rec
		md.e[a] = md.z[a] - md.zhat[a]
		md.g[a] = g * md.e[a]
		md.v[a] = 0
		md.sigR[a] = math.Sqrt(md.residSigma[a]*md.residSigma[a] + md.wr[a])
		md.sigE[a] = math.Sqrt(md.ownSigma[a]*md.ownSigma[a] + md.wz[a])
		x := row[j]
		if math.IsNaN(x) {
			continue
		}
		if md.resid[a] != nil {
			v := (md.r[a] - md.rhat[a]) / md.sigR[a]
			if md.own[a] != nil {
				v = md.e[a] / md.sigE[a]
			}
			if sampling != nil && math.Abs(v) > 1 {
				if zt, ok := sampling[j].tailZ(x, md.level[j]); ok {
					if zn := md.e[a] / md.totalSigma(a); zn != 0 {
						v *= math.Abs(tame(zn, zt)) / math.Abs(zn)
					}
				}
			}
			md.v[a] = v
			sumQ += v * v
			s[statMetric] = max(s[statMetric], v*v)
		}
		if x == md.last[a] {
			md.run[a]++
			md.runLog[a] += md.repeatChance(a, j, x, sampling)
		} else {
			md.run[a], md.runLog[a] = 0, 0
		}
		md.last[a] = x
		if md.run[a] > 0 {
			// Chance that some metric repeats this often by luck, with a Bonferroni
			// factor for the number of metrics watched.
			if st := -(math.Log10(float64(na)) + md.runLog[a]); st > bestStuck {
				bestStuck, stuckAt = st, j
			}
		}
	}
	if obs > 0 {
		s[statResidual] = sumQ * float64(na) / float64(obs)
	}
	copy(md.vRing, md.vRing[na:])
	capped := 0.0
	for a := range na {
		x := min(md.v[a]*md.v[a], capSq(cfg))
		md.vRing[(runWindow-1)*na+a] = x
		capped += x
	}
	copy(md.qRing, md.qRing[1:])
	md.qRing[runWindow-1] = capped * float64(na) / float64(max(obs, 1))
	s[statResidualRun] = runSums(md.qRing, md.vRing, na, md.w)
	for a, j := range md.active {
		md.x[a] = 0
		if math.IsNaN(row[j]) {
			continue
		}
		var f forecaster
		var e, sigma float64
		switch {
		case md.own[a] != nil:
			f, e, sigma = md.own[a], md.e[a], md.sigE[a]
		case md.resid[a] != nil:
			f, e, sigma = md.resid[a], md.r[a]-md.rhat[a], md.sigR[a]
		default:
			continue
		}
		md.d[a] = f.Level() + min(max(e, -cfg.ClipSigma*sigma), cfg.ClipSigma*sigma)
		md.x[a] = (md.d[a] - md.slowRef[a]) / sigma
	}
	s[statLevel], s[statSpread] = md.runs.add(md.x, md.v, cfg.ClipSigma)
	var sc [numStats + 1]float64
	for i := range statStuck {
		sc[i] = min(md.tails[i].score(s[i]), md.null[i].score(s[i]))
	}
	sc[statStuck] = min(bestStuck, maxScore)
	threshold := md.threshold
	var brokenConstants []int
	for j, st := range md.status {
		if st != statusConstant || math.IsNaN(row[j]) {
			continue
		}
		known := sampling != nil && sampling[j].known()
		x := row[j]
		if known {
			x -= sampling[j].bias(md.level[j])
		}
		if toModel(md.logged[j], x) == md.mean[j] {
			continue
		}
		if known {
			// A count test: how rare so large a change is when the sample
			// alone moves the metric, with a Bonferroni factor for the
			// constant metrics watched.
			z := sampling[j].z(row[j], md.level[j], 0)
			sj := float64(maxScore)
			if q := math.Erfc(math.Abs(z) / math.Sqrt2); q > 0 {
				sj = min(-math.Log10(q*float64(md.constants)), maxScore)
			}
			if sj > 0 {
				brokenConstants = append(brokenConstants, j)
				sc[statConstant] = max(sc[statConstant], sj)
			}
			continue
		}
		brokenConstants = append(brokenConstants, j)
		// A metric that never moved in training moving at all deserves a look even
		// when the history is too short for its probability to clear the threshold.
		sc[statConstant] = max(sc[statConstant], threshold+1)
	}
	best := 0
	for i := range sc {
		if sc[i] > sc[best] {
			best = i
		}
	}
	p.Score, p.Statistic = sc[best], statName(best)
	p.Anomaly = p.Score >= threshold
	md.lastStats = s
	md.hold(cfg.Period, p.Anomaly)
	if !p.Anomaly {
		share := slowShare(cfg.Period, md.rows)
		for a, j := range md.active {
			if md.held[a] == 0 && !math.IsNaN(row[j]) && (md.own[a] != nil || md.resid[a] != nil) {
				md.slowRef[a] += share * (md.d[a] - md.slowRef[a])
			}
		}
	}
	if !md.calibrating {
		p.Top = md.attribute(cfg, names, row, sampling, p.Expected, sc, s, stuckAt, brokenConstants)
		if p.Anomaly {
			md.runs.level.resetAbove(md.tails[statLevel].value(threshold))
			md.runs.spread.resetAbove(md.tails[statSpread].value(threshold))
		}
	}
	md.learn(cfg, row, p.Anomaly)
	return p
}

// Incident mode: a metric blamed in a flagged window stops teaching its
// forecaster, and its slow reference, until it is back within calmZ σ of what
// the forecaster expects for calmRuns windows in a row, or until it has been
// held for holdPeriods seasons (a change that lasts that long is the new
// normal). An incident the forecasts learned would be followed, when it ends,
// by errors the other way for as long as they took to unlearn it.
const (
	calmZ       = 2
	calmRuns    = 2
	holdPeriods = 2
)

// holdAlpha is the smoothing of a forecaster's level from which its metric
// is never held: a forecaster that quick follows a wandering level (traffic
// from day to day) that a held one would lose, and unlearns an incident
// about as quickly as it learned it.
const holdAlpha = 0.3

// hold updates the metrics' incident mode after a window was judged.
func (md *model) hold(period int, flagged bool) {
	for a := range md.active {
		f := md.resid[a]
		if md.own[a] != nil {
			f = md.own[a]
		}
		if hw, ok := f.(*HoltWinters); f == nil || ok && hw.Alpha >= holdAlpha {
			continue
		}
		if _, ok := f.(*robustLevel); ok {
			// The median of the last robustWindow windows is as quick: it
			// learns a shift in half of them and unlearns it as fast. Held,
			// it froze at what it had learned before the first flag, and a
			// metric whose incident had ended was never calm against it:
			// after an hour's shift of one feature on a model's second day,
			// its mean was flagged for the next four hours.
			continue
		}
		blamed := md.v[a]*md.v[a] >= blameZ*blameZ || md.runs.level.value[a] >= blameZ*blameZ
		switch {
		case md.held[a] > 0:
			md.held[a]++
			if math.Abs(md.v[a]) <= calmZ {
				md.calm[a]++
			} else {
				md.calm[a] = 0
			}
			if md.calm[a] >= calmRuns || md.held[a] > holdPeriods*period {
				md.held[a], md.calm[a] = 0, 0
			}
		case flagged && blamed:
			md.held[a], md.calm[a] = 1, 0
		}
	}
}

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

// totalSigma is the scale of active metric a's whole one-step error in standard
// units this window: its components' and its residual's, sampling included.
func (md *model) totalSigma(a int) float64 {
	if md.own[a] != nil {
		return md.sigE[a]
	}
	k := md.k
	v := md.sigR[a] * md.sigR[a]
	for i, w := range md.load[a*k : (a+1)*k] {
		v += w * w * md.sigC[i] * md.sigC[i]
	}
	return math.Sqrt(v)
}

// attribute splits the window's evidence between metrics: each statistic's score is
// shared out in proportion to each metric's part in that statistic.
func (md *model) attribute(cfg Config, names []string, row []float64, sampling []Sampling, expected []float64, sc, s [numStats + 1]float64, stuckAt int, brokenConstants []int) []Cause {
	clear(md.a)
	// Which statistic gave each metric most of its share, for its detail.
	via, viaShare := md.via, md.viaShare
	clear(viaShare)
	add := func(j, stat int, x float64) {
		md.a[j] += x
		if x > viaShare[j] {
			via[j], viaShare[j] = stat, x
		}
	}
	sumEG := 0.0
	for a := range md.active {
		sumEG += max(md.e[a]*md.g[a], 0)
	}
	resStat, runStat := statResidual, statResidualRun
	if sc[statMetric] > sc[statResidual] {
		resStat = statMetric
	}
	// A shift in some metrics moves the components, and with them the
	// reconstruction of every metric that loads on them: a calm metric then
	// shows a residual it did not make. A metric's share of the residual
	// statistics is therefore capped at what its own departure from its
	// forecast shows.
	blame := md.blame
	sumV, sumW := 0.0, 0.0
	for a := range md.active {
		own := md.e[a] / md.totalSigma(a)
		blame[a] = min(md.v[a]*md.v[a], own*own)
		sumV += blame[a]
		sumW += md.w[a]
	}
	for a, j := range md.active {
		if sumEG > 0 {
			add(j, statComponents, sc[statComponents]*max(md.e[a]*md.g[a], 0)/sumEG)
		}
		if sumV > 0 {
			add(j, resStat, sc[resStat]*blame[a]/sumV)
		}
		if sumW > 0 {
			add(j, runStat, sc[runStat]*md.w[a]/sumW)
		}
	}
	// The scores of lasting change go to the metrics in proportion to the
	// square of their statistic: mostly to the one that raised the maximum.
	sumL, sumS := 0.0, 0.0
	for a := range md.active {
		l, sp := md.runs.level.value[a], md.runs.spread.value[a]
		sumL += l * l
		sumS += sp * sp
	}
	for a, j := range md.active {
		if sumL > 0 {
			l := md.runs.level.value[a]
			add(j, statLevel, sc[statLevel]*l*l/sumL)
		}
		if sumS > 0 {
			sp := md.runs.spread.value[a]
			add(j, statSpread, sc[statSpread]*sp*sp/sumS)
		}
	}
	if stuckAt >= 0 {
		add(stuckAt, statStuck, sc[statStuck])
	}
	for _, j := range brokenConstants {
		add(j, statConstant, sc[statConstant])
	}
	total := 0.0
	for _, x := range md.a {
		total += x
	}
	if total <= 0 || cfg.TopCauses == 0 {
		return nil
	}
	causes := make([]Cause, 0, cfg.TopCauses)
	for j, x := range md.a {
		if x <= 0 {
			continue
		}
		c := Cause{Metric: names[j], Index: j, Actual: row[j], Expected: expected[j], Contribution: x / total, Statistic: statName(via[j])}
		i, _ := slices.BinarySearchFunc(causes, c, func(a, b Cause) int {
			switch {
			case a.Contribution > b.Contribution:
				return -1
			case a.Contribution < b.Contribution:
				return 1
			}
			return 0
		})
		if i < cfg.TopCauses {
			if len(causes) == cfg.TopCauses {
				causes = causes[:len(causes)-1]
			}
			causes = slices.Insert(causes, i, c)
		}
	}
	for i := range causes {
		md.explain(cfg, &causes[i], via[causes[i].Index], sampling)
	}
	return causes
}

// explain fills in a cause's Sigma and Detail. Details leave the actual and
// expected values to the cause's fields.
func (md *model) explain(cfg Config, c *Cause, stat int, sampling []Sampling) {
	j := c.Index
	var s Sampling
	if sampling != nil {
		s = sampling[j]
	}
	a, active := slices.BinarySearch(md.active, j)
	switch stat {
	case statConstant:
		if s.known() {
			c.Sigma = s.z(c.Actual, md.level[j], 0)
			c.Detail = fmt.Sprintf("constant in training; %s against the spread of its %s (count test)",
				sigmaWords(c.Sigma), sampleWords(s, md.level[j]))
			return
		}
		c.Sigma = math.Inf(1)
		if c.Actual < c.Expected {
			c.Sigma = math.Inf(-1)
		}
		c.Detail = "constant in training, now changed (constant)"
		return
	case statStuck:
		if active {
			c.Sigma = float64(md.run[a] + 1)
			c.Detail = fmt.Sprintf("the same value for %s, where a window repeats it with chance %.2g (stuck)",
				windowsWords(cfg, md.run[a]+1), math.Pow(10, md.runLog[a]/float64(max(md.run[a], 1))))
		}
		return
	}
	if !active {
		return
	}
	switch stat {
	case statLevel:
		shift, n := md.runs.level.dev[a], md.runs.level.length[a]
		c.Sigma = shift
		c.Detail = fmt.Sprintf("level %s expected for %s (level shift)", sigmaWords(shift), windowsWords(cfg, n))
		return
	case statSpread:
		ratio, n := md.runs.spreadRatio(a)
		c.Sigma = ratio
		c.Detail = fmt.Sprintf("spread %.1f× the expected for %s (variance)", ratio, windowsWords(cfg, n))
		return
	}
	zn := md.e[a] / md.totalSigma(a)
	if s.known() && !math.IsNaN(c.Actual) {
		if zt, ok := s.tailZ(c.Actual, md.level[j]); ok {
			zn = tame(zn, zt)
		}
	}
	c.Sigma = zn
	var b strings.Builder
	b.WriteString(sigmaWords(zn) + " expected")
	if s.known() {
		fmt.Fprintf(&b, ", sampling sd %s (%s)", FormatValue(math.Sqrt(s.variance(md.level[j]))), sampleWords(s, md.level[j]))
	}
	if stat == statResidualRun {
		fmt.Fprintf(&b, "; %.1fσ rms outside the usual correlations over the last %s", math.Sqrt(md.w[a]/runWindow), windowsWords(cfg, runWindow))
	}
	fmt.Fprintf(&b, " (%s)", statName(stat))
	c.Detail = b.String()
}

// sigmaWords says a signed deviation in words.
func sigmaWords(z float64) string {
	switch {
	case z >= 0:
		return fmt.Sprintf("%.1fσ above", z)
	default:
		return fmt.Sprintf("%.1fσ below", -z)
	}
}

// sampleWords names the sample behind a value, for details.
func sampleWords(s Sampling, level float64) string {
	switch s.Kind {
	case SamplingCount:
		return fmt.Sprintf("Poisson count, %s expected", FormatValue(level))
	case SamplingRate:
		return fmt.Sprintf("rate of %g", s.N)
	case SamplingMean:
		return fmt.Sprintf("mean of %g values", s.N)
	case SamplingQuantile:
		return fmt.Sprintf("quantile of %g values", s.N)
	case SamplingPSI, SamplingJS, SamplingKS:
		if s.M > 0 {
			return fmt.Sprintf("%s of %g against %g values", s.Kind, s.N, s.M)
		}
		return fmt.Sprintf("%s of %g values", s.Kind, s.N)
	case SamplingChiSquare:
		return fmt.Sprintf("chi2 with %g degrees of freedom", s.Scale)
	}
	return "unknown sample"
}

// windowsWords says how long n windows last: "6h" with a window length,
// "6 windows" without.
func windowsWords(cfg Config, n int) string {
	if cfg.Window > 0 {
		str := (time.Duration(n) * cfg.Window).String()
		if strings.HasSuffix(str, "m0s") {
			str = str[:len(str)-2]
		}
		if strings.HasSuffix(str, "h0m") {
			str = str[:len(str)-2]
		}
		return str
	}
	if n == 1 {
		return "1 window"
	}
	return fmt.Sprintf("%d windows", n)
}

// flaggedClip is how far, in error scales, a flagged window may move the
// forecasting state of the components and of the metrics not blamed for it
// (see hold).
const flaggedClip = 1

// blameZ is the evidence of a departure, in σ of one window's error or of
// the level scan, by which a metric is blamed for a flagged window.
const blameZ = 3

// learn advances every forecaster by one window. Each error is clipped to clip
// error scales first (a Huber-type robust update), which keeps a spike from
// dragging the forecasts after it.
func (md *model) learn(cfg Config, row []float64, flagged bool) {
	md.scored++
	clip := cfg.ClipSigma
	if flagged {
		clip = flaggedClip
	}
	for i, f := range md.comps {
		e := md.c[i] - md.chat[i]
		b := clip * md.sigC[i]
		y := md.chat[i] + min(max(e, -b), b)
		f.Update(y)
		// The clipped value, as learned, so that a retune does not learn a spike
		// the state was shielded from.
		md.compSeen[i] = append(md.compSeen[i], y)
	}
	for a, j := range md.active {
		f := md.resid[a]
		if o := md.own[a]; o != nil {
			f = o
		}
		if f == nil {
			continue
		}
		if math.IsNaN(row[j]) {
			f.Update(math.NaN())
			continue
		}
		clip := cfg.ClipSigma
		if md.held[a] > 0 {
			clip = 0
		} else if flagged {
			clip = flaggedClip
		}
		if f == md.own[a] {
			b := clip * md.sigE[a]
			f.Update(md.zhat[a] + min(max(md.e[a], -b), b))
			continue
		}
		e := md.r[a] - md.rhat[a]
		b := clip * md.sigR[a]
		f.Update(md.rhat[a] + min(max(e, -b), b))
	}
}
