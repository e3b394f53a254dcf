package anomaly

import (
	"math"
)

// score judges a row: the forecasts and the row's errors against them, each
// statistic and its score from its tail, the verdict, then what the model
// learns of the row. Each stage is a method below, working on the model's
// scratch state.
func (md *model) score(cfg Config, names []string, row []float64, sampling []Sampling) Point {
	p := Point{Expected: make([]float64, len(row))}
	obs, sampled := md.forecastRow(row, sampling, p.Expected)
	var s [numStats + 1]float64
	s[statComponents] = md.componentStat(sampled)
	sumQ, bestStuck, stuckAt := md.metricErrors(row, sampling, &s)
	na := len(md.active)
	if obs > 0 {
		s[statResidual] = sumQ * float64(na) / float64(obs)
	}
	s[statResidualRun] = md.pushRun(cfg, obs)
	md.departures(cfg, row)
	s[statLevel], s[statSpread] = md.runs.add(md.x, md.v, cfg.ClipSigma)
	var sc [numStats + 1]float64
	for i := range statStuck {
		sc[i] = min(md.tails[i].score(s[i]), md.null[i].score(s[i]))
	}
	sc[statStuck] = min(bestStuck, maxScore)
	threshold := md.threshold
	var brokenConstants []int
	sc[statConstant], brokenConstants = md.constantsMoved(row, sampling, threshold)
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
			md.runs.level.resetWhere(md.x, blameZ)
		}
	}
	md.learn(cfg, row, p.Anomaly)
	return p
}

// forecastRow sets every metric's forecast (expected, on the metrics' own
// scale with the sampling's bias) and the row in standard units (md.z);
// obs counts the values present, sampled says some value's sampling is known.
func (md *model) forecastRow(row []float64, sampling []Sampling, expected []float64) (obs int, sampled bool) {
	k := md.k
	for i, f := range md.comps {
		md.chat[i] = f.Forecast()
	}
	for j, s := range md.status {
		switch s {
		case statusConstant:
			md.level[j] = fromModel(md.logged[j], md.mean[j])
			expected[j] = md.level[j]
			if sampling != nil && sampling[j].known() {
				expected[j] += sampling[j].bias(md.level[j])
			}
		case statusUnmodelled:
			md.level[j] = math.NaN()
			expected[j] = math.NaN()
		}
	}
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
		md.level[j], expected[j] = level, level
		x := row[j]
		md.wz[a] = 0
		if sampling != nil && sampling[j].known() {
			s := sampling[j]
			b := s.bias(level)
			expected[j] += b
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
	return obs, sampled
}

// componentStat projects the row on the components and returns the component
// statistic, each component's error over its scale (sampling included) squared
// and summed; it also sets the residuals' sampling variances (md.wr).
func (md *model) componentStat(sampled bool) float64 {
	k, na := md.k, len(md.active)
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
		md.residualSampling(md.wz, md.mScratch, md.wr)
	} else {
		clear(md.wr)
	}
	st := 0.0
	for i := range k {
		md.sigC[i] = math.Sqrt(md.sigC[i])
		u := (md.c[i] - md.chat[i]) / md.sigC[i]
		st += u * u
	}
	return st
}

// metricErrors sets each metric's standardised error (md.v) and its share of
// the component statistic (md.g), adds the largest squared error to s as the
// metric statistic, and follows runs of repeated values. It returns the sum of
// squared errors, and the stuck statistic with the metric it is at (-1: none).
func (md *model) metricErrors(row []float64, sampling []Sampling, s *[numStats + 1]float64) (sumQ, bestStuck float64, stuckAt int) {
	k, na := md.k, len(md.active)
	stuckAt = -1
	// g is what the component statistic would be were this metric's error the
	// only one: it splits that statistic between the metrics. (A gradient's
	// share, e·∂s/∂e, is exact but hands a calm metric the cross terms of a
	// loud one it shares a component with.)
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
	return sumQ, bestStuck, stuckAt
}

// pushRun adds the row's capped squared errors to the run of recent windows
// and returns the residual-run statistic.
func (md *model) pushRun(cfg Config, obs int) float64 {
	na := len(md.active)
	copy(md.vRing, md.vRing[na:])
	capped := 0.0
	for a := range na {
		x := min(md.v[a]*md.v[a], capSq(cfg))
		md.vRing[(runWindow-1)*na+a] = x
		capped += x
	}
	copy(md.qRing, md.qRing[1:])
	md.qRing[runWindow-1] = capped * float64(na) / float64(max(obs, 1))
	return runSums(md.qRing, md.vRing, na, md.w)
}

// departures sets each metric's departure from its slow reference level
// (md.x), for the level scan, and its clipped value (md.d).
func (md *model) departures(cfg Config, row []float64) {
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
}

// constantsMoved scores the metrics constant in training that moved, and
// returns the score with the metrics.
func (md *model) constantsMoved(row []float64, sampling []Sampling, threshold float64) (float64, []int) {
	score := 0.0
	var moved []int
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
				moved = append(moved, j)
				score = max(score, sj)
			}
			continue
		}
		moved = append(moved, j)
		// A metric that never moved in training moving at all deserves a look even
		// when the history is too short for its probability to clear the threshold.
		score = max(score, threshold+1)
	}
	return score, moved
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
