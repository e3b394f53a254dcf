package pipeline

import (
	"math"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/stats"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// Check kinds, as stored and reported.
const (
	KindQuality     = "quality"
	KindSkew        = "skew"
	KindDrift       = "drift"
	KindStaleness   = "staleness"
	KindNumerical   = "numerical"
	KindPerformance = "performance"
	KindAnomaly     = "anomaly"
)

// noThreshold() marks a metric kept for history and anomaly detection only.
func noThreshold() float64 { return math.NaN() }

// results collects one window's check results.
type results struct {
	w          *window
	m          *Model
	minSamples float64
	out        []store.CheckResult
}

// add records a metric; breached compares with the threshold unless it is NaN:
// above it, or below it for p-values. Undefined values are left out.
func (r *results) add(kind, feature, metric string, value, threshold float64, below bool) {
	if math.IsNaN(value) {
		return
	}
	breached := false
	if !math.IsNaN(threshold) {
		if below {
			breached = value < threshold
		} else {
			breached = value > threshold
		}
	}
	r.out = append(r.out, store.CheckResult{
		Model: r.m.Name(), WindowStart: r.w.start, WindowEnd: r.w.end,
		Kind: kind, Feature: feature, Metric: metric, Value: value, Threshold: threshold, Breached: breached,
	})
}

// resultBounds bounds what check and keyedResults report for one window of m:
// how many results the anomaly detector watches, and how many carry a
// threshold (the published series, with the anomaly score). They size, when a
// model is configured, the memory its results need, so that memory is set at
// start rather than growing through the first windows; a window with more only
// costs an allocation. Per feature the watched are null, wrong-type,
// out-of-range or unknown-category ratios, mean, missing ratio, type mismatch,
// the contract's skew statistic and keyed mismatch; per model events, latency
// p99, the non-finite feature ratio, three numerical ratios of the prediction,
// its missing ratio and mean, and four quality metrics. The thresholded add both
// drift statistics and lose the mean: nine per feature; per model unexpected
// fields, non-finite features, the prediction's numerical ratios and drift, bad
// labels and the anomaly score. TestResultBounds holds check to them.
func resultBounds(m *Model) (watched, thresholded int) {
	n := len(m.Contract.Features)
	return 8*n + 12, 9*n + 9
}

// check runs every per-window check. prev is the previous window and ref the
// previous reference period, either nil when there is none yet.
func check(m *Model, w *window, prev, ref *summaries, baseline []stats.Distribution, minSamples int) []store.CheckResult {
	r := &results{w: w, m: m, minSamples: float64(minSamples)}
	r.add(KindQuality, "", "events", float64(w.events), noThreshold(), false)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		if w.latency.Finite > 0 {
			r.add(KindQuality, "", "latency_ms_p"+percentile(q), w.latency.Sketch.Quantile(q), noThreshold(), false)
		}
	}
	var nonFinite, numericValues uint64
	for i := range m.Contract.Features {
		cf := &m.Contract.Features[i]
		f := w.features.Features[i]
		r.quality(cf, f)
		if cf.Type == config.Numeric {
			nonFinite += f.NaN + f.PosInf + f.NegInf
			numericValues += f.Rows - f.Violations[profile.Missing]
		}
		cur := f.Distribution()
		if cur.N < r.minSamples {
			continue
		}
		if m.Baseline.Feature(cf.Name) != nil {
			r.skew(cf, compare(cf.Type, baseline[i], cur))
		}
		if prev != nil {
			r.drift(cf.Name, vsPrevious, cf.Drift, r.compare(cf.Type, prev.features[i].Distribution(), cur))
		}
		if ref != nil {
			r.drift(cf.Name, vsReference, cf.Drift, r.compare(cf.Type, ref.features[i].Distribution(), cur))
		}
	}
	if w.features.UnexpectedOther > 0 || len(w.features.Unexpected) > 0 {
		var n uint64
		for _, c := range w.features.Unexpected {
			n += c
		}
		r.add(KindSkew, "", "unexpected_fields", float64(n+w.features.UnexpectedOther), 0, false)
	}
	if numericValues > 0 {
		r.add(KindNumerical, "", "nonfinite_feature_ratio", float64(nonFinite)/float64(numericValues), 0, false)
	}
	r.prediction(prev, ref)
	r.performance()
	return r.out
}

// performance reports model quality over the labels joined in the window. The
// contract sets no quality thresholds yet: the values feed history and the
// anomaly detector.
func (r *results) performance() {
	if r.w.badLabels > 0 {
		r.add(KindPerformance, "prediction", "bad_labels", float64(r.w.badLabels), 0, false)
	}
	if r.w.performance == nil {
		return
	}
	m := r.w.performance.Metrics()
	r.add(KindPerformance, "prediction", "labelled", float64(m.Count), noThreshold(), false)
	for _, v := range []struct {
		name  string
		value *float64
	}{{"accuracy", m.Accuracy}, {"auc", m.AUC}, {"log_loss", m.LogLoss}, {"label_positive_rate", m.LabelPositiveRate},
		{"mean_prediction", m.MeanPrediction}, {"mae", m.MAE}, {"rmse", m.RMSE}, {"mean_error", m.MeanError}} {
		if v.value != nil {
			r.add(KindPerformance, "prediction", v.name, *v.value, noThreshold(), false)
		}
	}
}

func percentile(q float64) string {
	switch q {
	case 0.5:
		return "50"
	case 0.95:
		return "95"
	}
	return "99"
}

// compare compares with an earlier window, whose statistics are undefined (NaN)
// when it holds too few values.
func (r *results) compare(t config.FeatureType, ref, cur stats.Distribution) stats.Comparison {
	if ref.N < r.minSamples {
		return stats.Undefined()
	}
	return compare(t, ref, cur)
}

func compare(t config.FeatureType, ref, cur stats.Distribution) stats.Comparison {
	if t == config.Numeric {
		return stats.CompareNumeric(ref, cur)
	}
	return stats.CompareCategorical(ref, cur)
}

// quality reports the feature's contract rates. A rate whose contract allows none
// has threshold 0; one the contract does not constrain is kept without threshold.
func (r *results) quality(cf *config.Feature, f *profile.Feature) {
	if f.Rows == 0 {
		return
	}
	nullLimit := 0.0
	switch {
	case cf.MaxNullRate != nil:
		nullLimit = *cf.MaxNullRate
	case cf.Nullable:
		nullLimit = noThreshold()
	}
	r.add(KindQuality, cf.Name, "null_ratio", f.Rate(f.Nulls), nullLimit, false)
	r.add(KindQuality, cf.Name, "wrong_type_ratio", f.Rate(f.Violations[profile.WrongType]), 0, false)
	r.add(KindSkew, cf.Name, "missing_ratio", f.Rate(f.Violations[profile.Missing]), 0, false)
	if present := f.Rows - f.Violations[profile.Missing]; present > 0 {
		// Mostly the wrong type: the producer changed the feature's type (schema
		// skew), as opposed to the odd bad value (a quality problem).
		share := float64(f.Violations[profile.WrongType]) / float64(present)
		r.add(KindSkew, cf.Name, "type_mismatch", share, 0.5, false)
	}
	switch cf.Type {
	case config.Numeric:
		r.add(KindQuality, cf.Name, "nan_ratio", f.Rate(f.NaN), noThreshold(), false)
		r.add(KindQuality, cf.Name, "inf_ratio", f.Rate(f.PosInf+f.NegInf), noThreshold(), false)
		limit := noThreshold()
		if cf.Min != nil || cf.Max != nil {
			limit = 0
		}
		r.add(KindQuality, cf.Name, "out_of_range_ratio", f.Rate(f.Violations[profile.OutOfRange]), limit, false)
		if f.Finite > 0 {
			r.add(KindQuality, cf.Name, "mean", f.Mean, noThreshold(), false)
		}
	case config.Categorical:
		limit := noThreshold()
		if len(cf.Categories) > 0 {
			limit = 0
		}
		r.add(KindQuality, cf.Name, "unknown_category_ratio", f.Rate(f.Violations[profile.UnknownCategory]), limit, false)
	}
}

// skew reports every statistic against the baseline; the contract's drift method
// carries the threshold.
func (r *results) skew(cf *config.Feature, c stats.Comparison) {
	for _, s := range statistics(cf.Type, c) {
		threshold := noThreshold()
		if s.method == cf.Drift.Method {
			threshold = *cf.Drift.Threshold
		}
		r.add(KindSkew, cf.Name, string(s.method), s.value, threshold, s.method.Below())
	}
}

// drift reports the contract's drift statistic against an earlier distribution.
func (r *results) drift(feature string, against comparedWith, rule config.DriftRule, c stats.Comparison) {
	r.add(KindDrift, feature, r.m.driftMetric(rule.Method, against), skew.Statistic(c, rule.Method), *rule.Threshold, rule.Method.Below())
}

type namedStatistic struct {
	method config.DriftMethod
	value  float64
}

func statistics(t config.FeatureType, c stats.Comparison) []namedStatistic {
	if t == config.Numeric {
		return []namedStatistic{{config.PSI, c.PSI}, {config.JSDivergence, c.JSDivergence},
			{"ks_statistic", c.KSStatistic}, {config.KSPValue, c.KSPValue},
			{"wasserstein", c.Wasserstein}, {config.WassersteinNormed, c.WassersteinNormed}}
	}
	return []namedStatistic{{config.PSI, c.PSI}, {config.JSDivergence, c.JSDivergence},
		{config.LInfinity, c.LInfinity}, {"chi2_statistic", c.Chi2Statistic}, {config.Chi2PValue, c.Chi2PValue}}
}

// prediction checks the model's output: numerical stability, and drift against
// the previous window and the reference period, by the model's predictionDrift.
func (r *results) prediction(prev, ref *summaries) {
	p := r.w.prediction
	if p.Rows == 0 {
		return
	}
	r.add(KindNumerical, "prediction", "nan_ratio", p.Rate(p.NaN), 0, false)
	r.add(KindNumerical, "prediction", "inf_ratio", p.Rate(p.PosInf+p.NegInf), 0, false)
	if r.m.predictionKind() == config.Probability {
		r.add(KindNumerical, "prediction", "out_of_range_ratio", p.Rate(r.w.probabilityOutOfRange), 0, false)
	}
	r.add(KindQuality, "prediction", "missing_ratio", p.Rate(p.Violations[profile.Missing]), noThreshold(), false)
	if p.Sketch != nil && p.Finite > 0 {
		r.add(KindQuality, "prediction", "mean", p.Mean, noThreshold(), false)
	}
	rule := r.m.predictionDrift()
	t := config.Categorical
	if p.Sketch != nil {
		t = config.Numeric
	}
	cur := p.Distribution()
	if cur.N < r.minSamples {
		return
	}
	if prev != nil {
		r.drift("prediction", vsPrevious, rule, r.compare(t, prev.prediction.Distribution(), cur))
	}
	if ref != nil {
		r.drift("prediction", vsReference, rule, r.compare(t, ref.prediction.Distribution(), cur))
	}
}

// keyedResults adds keyed skew: per feature, the share of requests compared in
// the window whose served value differs from the offline one.
func keyedResults(m *Model, w *window, limit float64, out []store.CheckResult) []store.CheckResult {
	if w.keyedCompared == nil {
		return out
	}
	r := &results{w: w, m: m, out: out}
	for i, n := range w.keyedCompared {
		if n > 0 {
			r.add(KindSkew, m.Contract.Features[i].Name, "keyed_mismatch_ratio", float64(w.keyedMismatch[i])/float64(n), limit, false)
		}
	}
	return r.out
}
