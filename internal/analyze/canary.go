package analyze

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/stats"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// canaryZ is the one-sided normal quantile of rateAlpha: a canary's
// difference breaches only when it is this many standard errors past its
// tolerance, the same false-finding budget as the rates'.
var canaryZ = distuv.UnitNormal.Quantile(1 - rateAlpha)

// versionProfiles reports each version's own profile, when the window holds
// more than one version: with one, the model's results are the version's.
func versionProfiles(r *results, m *model.Model, by *window.ByVersion) {
	n := 0
	by.Each(func(string, *window.Window) { n++ })
	if n < 2 {
		return
	}
	by.Each(func(label string, v *window.Window) {
		feature := check.VersionFeature(label)
		add := func(metric string, value float64) {
			r.add(check.Version, feature, metric, value, check.NoThreshold(), check.Above)
		}
		if l := v.Latency; l.Finite > 0 {
			add(check.LatencyP50, l.Sketch.Quantile(0.5))
			add(check.LatencyP95, l.Sketch.Quantile(0.95))
			add(check.LatencyP99, l.Sketch.Quantile(0.99))
		}
		p := v.Prediction
		if p.Rows == 0 {
			return
		}
		add(check.ErrorRatio, p.Rate(predictionErrors(p)))
		add(check.NaNRatio, p.Rate(p.NaN))
		add(check.InfRatio, p.Rate(p.PosInf+p.NegInf))
		if m.PredictionKind() == config.Probability {
			add(check.OutOfRangeRatio, p.Rate(v.ProbabilityOutOfRange))
		}
		if p.Sketch != nil && p.Finite > 0 {
			add(check.Mean, p.Mean)
			add(check.PredictionP50, p.Sketch.Quantile(0.5))
			add(check.PredictionP95, p.Sketch.Quantile(0.95))
		}
		if v.Performance == nil {
			return
		}
		q := v.Performance.Metrics()
		add(check.Labelled, float64(q.Count))
		for _, x := range []struct {
			name  string
			value *float64
		}{{check.Accuracy, q.Accuracy}, {check.AUC, q.AUC}, {check.LogLoss, q.LogLoss}, {check.MAE, q.MAE}, {check.RMSE, q.RMSE}} {
			if x.value != nil {
				add(x.name, *x.value)
			}
		}
	})
}

// predictionErrors counts predictions missing, null or of the wrong type.
func predictionErrors(p *profile.Feature) uint64 {
	return p.Violations[profile.Missing] + p.Nulls + p.Violations[profile.WrongType]
}

// canaryResults judges each candidate version of the window against the
// reference version, by the contract's canary rules. The reference is the
// contract's, else busiest, the version with the most events in the last
// reference period, else (before one has passed, or when that version does
// not send in the window) the window's own busiest.
func canaryResults(r *results, m *model.Model, by *window.ByVersion, busiest string) {
	k := m.Contract.Canary
	refLabel := k.Reference
	if v := by.Get(busiest); refLabel == "" && busiest != "" && v != nil && v.Events > 0 {
		refLabel = busiest
	}
	if refLabel == "" {
		var most uint64
		by.Each(func(label string, v *window.Window) {
			if label != config.VersionOther && v.Events > most {
				refLabel, most = label, v.Events
			}
		})
	}
	ref := by.Get(refLabel)
	if ref == nil || ref.Events == 0 {
		return
	}
	by.Each(func(label string, cand *window.Window) {
		if label == refLabel || label == config.VersionOther || (k.Candidate != "" && label != k.Candidate) {
			return
		}
		c := canary{r: r, m: m, k: k, feature: check.VersionFeature(label), ref: ref, cand: cand, refLabel: refLabel}
		c.judge()
	})
}

// canary compares one candidate version's profile with the reference's.
type canary struct {
	r         *results
	m         *model.Model
	k         *config.Canary
	feature   string
	refLabel  string
	ref, cand *window.Window
}

func (c *canary) add(metric string, value, threshold float64, breached bool, detail string) {
	if math.IsNaN(value) {
		return
	}
	c.r.out = append(c.r.out, check.Result{Model: c.r.model, WindowStart: c.r.start, WindowEnd: c.r.end,
		Kind: check.Canary, Feature: c.feature, Metric: metric, Value: value, Threshold: threshold,
		Breached: breached, Detail: detail})
}

// skip records a canary check without enough of either side: samples is the
// smaller side's count, the threshold canary.min_events.
func (c *canary) skip(metric string, samples uint64) {
	c.r.out = append(c.r.out, check.Result{Model: c.r.model, WindowStart: c.r.start, WindowEnd: c.r.end,
		Kind: check.Canary, Feature: c.feature, Metric: metric, Value: float64(samples),
		Threshold: float64(c.k.MinEvents), Skipped: check.SkipTooFewSamples})
	c.r.skipped++
}

func (c *canary) judge() {
	minEvents := uint64(c.k.MinEvents)
	if n := min(c.ref.Events, c.cand.Events); n < minEvents {
		for _, metric := range []string{check.PredictionDrift, check.ErrorRatioIncrease, check.NaNRatioIncrease, check.SplitPValue} {
			c.skip(metric, n)
		}
	} else {
		c.predictionDrift()
		c.rates()
		c.split()
	}
	c.latency()
	c.quality()
}

// predictionDrift compares the two versions' predictions by the model's
// prediction drift rule, its threshold raised to what samples of their
// sizes reach by chance.
func (c *canary) predictionDrift() {
	rule := c.m.PredictionDrift()
	if c.k.MaxPredictionDrift != nil {
		rule.Threshold = c.k.MaxPredictionDrift
	}
	rp, cp := c.ref.Prediction, c.cand.Prediction
	if rp.Samples() < 1 || cp.Samples() < 1 {
		return
	}
	t := config.Categorical
	if rp.Sketch != nil {
		t = config.Numeric
	}
	e, d := rp.Distribution(), cp.Distribution()
	value, threshold := skew.Statistic(compare(t, e, d), rule.Method), skew.Threshold(rule, e, d)
	c.add(check.PredictionDrift, value, threshold, check.Breaches(value, threshold, direction(rule.Method.Below())),
		fmt.Sprintf("%s against version %s", rule.Method, c.refLabel))
}

// rates compares the shares of failed and non-finite predictions: the
// candidate breaches when its count is significantly above the reference's
// rate plus the tolerance.
func (c *canary) rates() {
	rp, cp := c.ref.Prediction, c.cand.Prediction
	if rp.Rows == 0 || cp.Rows == 0 {
		return
	}
	for _, x := range []struct {
		metric      string
		refK, candK uint64
		limit       float64
	}{
		{check.ErrorRatioIncrease, predictionErrors(rp), predictionErrors(cp), *c.k.MaxErrorRateIncrease},
		{check.NaNRatioIncrease, rp.NaN + rp.PosInf + rp.NegInf, cp.NaN + cp.PosInf + cp.NegInf, *c.k.MaxNaNRateIncrease},
	} {
		refRate, candRate := rp.Rate(x.refK), cp.Rate(x.candK)
		increase := candRate - refRate
		tolerated := min(1, refRate+x.limit)
		breached := increase > x.limit && binomialTail(x.candK, cp.Rows, tolerated) < rateAlpha
		c.add(x.metric, increase, x.limit, breached,
			fmt.Sprintf("%d of %d against %d of %d for version %s", x.candK, cp.Rows, x.refK, rp.Rows, c.refLabel))
	}
}

// latency compares the p95 and p99 latencies. A quantile of a hundred events
// is nearly their maximum, so the ratio breaches only when the candidate's
// lower confidence bound over the reference's upper one is past the
// tolerance too: bounds by the quantile's rank, q ± z·√(q(1−q)/n), read from
// the sketches.
func (c *canary) latency() {
	rl, cl := c.ref.Latency, c.cand.Latency
	if rl.Finite == 0 || cl.Finite == 0 {
		return
	}
	minEvents := uint64(c.k.MinEvents)
	limit := *c.k.MaxLatencyRatio
	for _, x := range []struct {
		metric string
		q      float64
	}{{check.LatencyP95Ratio, 0.95}, {check.LatencyP99Ratio, 0.99}} {
		if n := min(rl.Finite, cl.Finite); n < minEvents {
			c.skip(x.metric, n)
			continue
		}
		refQ, candQ := rl.Sketch.Quantile(x.q), cl.Sketch.Quantile(x.q)
		if refQ <= 0 {
			continue // a ratio to zero latency says nothing
		}
		ratio := candQ / refQ
		candLow := cl.Sketch.Quantile(rankBound(x.q, cl.Finite, -1))
		refHigh := rl.Sketch.Quantile(rankBound(x.q, rl.Finite, +1))
		breached := ratio > limit && refHigh > 0 && candLow/refHigh > limit
		c.add(x.metric, ratio, limit, breached,
			fmt.Sprintf("%.4g ms against %.4g ms for version %s", candQ, refQ, c.refLabel))
	}
}

// rankBound is the quantile level at the edge of q's confidence interval for
// n values, below (side −1) or above (+1).
func rankBound(q float64, n uint64, side float64) float64 {
	return min(1, max(0, q+side*canaryZ*math.Sqrt(q*(1-q)/float64(n))))
}

// quality compares label-based quality once both versions have enough
// labelled predictions: accuracy and ROC AUC lost, or the mean absolute
// error's relative increase, each breached when its excess over the
// tolerance is significant for the labels (normal approximations: binomial
// accuracy, Hanley–McNeil AUC, the absolute errors' variance RMSE² − MAE²).
func (c *canary) quality() {
	if c.ref.Performance == nil || c.cand.Performance == nil {
		return
	}
	rq, cq := c.ref.Performance.Metrics(), c.cand.Performance.Metrics()
	minEvents := int64(c.k.MinEvents)
	if n := min(rq.Count, cq.Count); n < minEvents {
		metric := check.AccuracyLoss
		if rq.MAE != nil {
			metric = check.MAEIncrease
		}
		c.skip(metric, uint64(max(n, 0)))
		return
	}
	limit := *c.k.MaxQualityLoss
	detail := fmt.Sprintf("%d labelled against %d for version %s", cq.Count, rq.Count, c.refLabel)
	if rq.Accuracy != nil && cq.Accuracy != nil && rq.MAE == nil {
		a, b := *rq.Accuracy, *cq.Accuracy
		se := math.Sqrt(a*(1-a)/float64(rq.Count) + b*(1-b)/float64(cq.Count))
		loss := a - b
		c.add(check.AccuracyLoss, loss, limit, significant(loss-limit, se), detail)
	}
	if rq.AUC != nil && cq.AUC != nil {
		se := math.Hypot(aucSE(rq), aucSE(cq))
		loss := *rq.AUC - *cq.AUC
		c.add(check.AUCLoss, loss, limit, significant(loss-limit, se), detail)
	}
	if rq.MAE != nil && cq.MAE != nil && rq.RMSE != nil && cq.RMSE != nil && *rq.MAE > 0 {
		tolerated := (1 + limit) * *rq.MAE
		se := math.Sqrt(absErrorVar(cq)/float64(cq.Count) + (1+limit)*(1+limit)*absErrorVar(rq)/float64(rq.Count))
		c.add(check.MAEIncrease, *cq.MAE / *rq.MAE - 1, limit, significant(*cq.MAE-tolerated, se), detail)
	}
}

// significant reports whether excess, a difference past its tolerance, is
// positive by canaryZ standard errors; with no spread, any excess is.
func significant(excess, se float64) bool {
	if excess <= 0 {
		return false
	}
	return se == 0 || excess/se > canaryZ
}

// aucSE is the standard error of a ROC AUC (Hanley & McNeil, 1982).
func aucSE(q labels.Metrics) float64 {
	if q.AUC == nil || q.LabelPositiveRate == nil {
		return 0
	}
	a := *q.AUC
	pos := math.Round(*q.LabelPositiveRate * float64(q.Count))
	neg := float64(q.Count) - pos
	if pos < 1 || neg < 1 {
		return 0
	}
	q1, q2 := a/(2-a), 2*a*a/(1+a)
	return math.Sqrt((a*(1-a) + (pos-1)*(q1-a*a) + (neg-1)*(q2-a*a)) / (pos * neg))
}

// absErrorVar is the variance of the absolute errors, E[e²] − E[|e|]².
func absErrorVar(q labels.Metrics) float64 {
	return max(0, *q.RMSE**q.RMSE-*q.MAE**q.MAE)
}

// split tests whether the two versions saw alike inputs, feature by feature
// (KS for numeric features, χ² for the others), Bonferroni over the features
// tested: a random split leaves every p-value uniform.
func (c *canary) split() {
	tested, worst, worstP := 0, "", 1.0
	for i := range c.m.Contract.Features {
		cf := &c.m.Contract.Features[i]
		rf, cfp := c.ref.Features.Features[i], c.cand.Features.Features[i]
		if rf.Samples() < 1 || cfp.Samples() < 1 {
			continue
		}
		var p float64
		if cf.Type == config.Numeric {
			p = stats.CompareNumeric(rf.Distribution(), cfp.Distribution()).KSPValue
		} else {
			p = pooledChiSquare(rf.Distribution(), cfp.Distribution())
		}
		if math.IsNaN(p) {
			continue
		}
		tested++
		if worst == "" || p < worstP {
			worst, worstP = cf.Name, p
		}
	}
	if tested == 0 {
		return
	}
	adjusted := min(1, worstP*float64(tested))
	alpha := *c.k.SplitAlpha
	c.add(check.SplitPValue, adjusted, alpha, adjusted < alpha,
		fmt.Sprintf("feature %s differs most from version %s's (p-value %.3g before adjusting for %d features)", worst, c.refLabel, worstP, tested))
}

// pooledChiSquare is the p-value of a χ² test that two samples' categories
// come from one distribution, with the categories either sample would expect
// fewer than five of pooled into one cell: a canary of a hundred events
// expects under one of a category a hundredth of the traffic sends, and
// cells that small make the test's tail, where the split's threshold is,
// far too likely by chance.
func pooledChiSquare(ref, cur stats.Distribution) float64 {
	counts := make(map[string][2]float64, len(ref.Categories)+1)
	for k, n := range ref.Categories {
		v := counts[k]
		v[0] += n
		counts[k] = v
	}
	for k, n := range cur.Categories {
		v := counts[k]
		v[1] += n
		counts[k] = v
	}
	pooled := [2]float64{ref.Other, cur.Other}
	var totalR, totalC float64
	for _, v := range counts {
		totalR, totalC = totalR+v[0], totalC+v[1]
	}
	totalR, totalC = totalR+ref.Other, totalC+cur.Other
	n := totalR + totalC
	if totalR == 0 || totalC == 0 {
		return math.NaN()
	}
	var rc, cc []float64
	for _, v := range counts {
		col := v[0] + v[1]
		if min(totalR, totalC)*col/n < 5 {
			pooled[0], pooled[1] = pooled[0]+v[0], pooled[1]+v[1]
			continue
		}
		rc, cc = append(rc, v[0]), append(cc, v[1])
	}
	if pooled[0]+pooled[1] > 0 {
		rc, cc = append(rc, pooled[0]), append(cc, pooled[1])
	}
	_, p, _ := stats.ChiSquare(rc, cc)
	return p
}
