package analyze

import (
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/drift"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/stats"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// runChecks runs every per-window check of w into r. prev is the previous
// window and ref the previous reference period, either nil when there is none
// yet. A feature's results come together (quality, skew, drift), feature by
// feature, which is the order reports list them in.
// est, when the model's baseline has a calibration, estimates the window's
// quality before its labels.
func runChecks(r *results, m *model.Model, w *window.Window, prev, ref *drift.Summaries, baseline []stats.Distribution, est *estimator) {
	r.add(check.Quality, "", check.Events, float64(w.Events), check.NoThreshold(), check.Above)
	if w.Latency.Finite > 0 {
		for _, q := range []struct {
			name string
			q    float64
		}{{check.LatencyP50, 0.5}, {check.LatencyP95, 0.95}, {check.LatencyP99, 0.99}} {
			r.add(check.Quality, "", q.name, w.Latency.Sketch.Quantile(q.q), check.NoThreshold(), check.Above)
		}
	}
	var nonFinite, numericValues uint64
	for i := range m.Contract.Features {
		cf := &m.Contract.Features[i]
		f := w.Features.Features[i]
		quality(r, cf, f)
		if cf.Type == config.Numeric {
			nonFinite += f.NaN + f.PosInf + f.NegInf
			numericValues += f.Rows - f.Violations[profile.Missing]
		}
		cur := lazyOf(f)
		if m.Baseline.Feature(cf.Name) != nil {
			if cur.n < r.minSamples {
				r.skip(check.Skew, cf.Name, string(cf.Drift.Method), cur.n)
			} else {
				skewStatistics(r, cf, baseline[i], cur.get())
			}
		}
		if prev != nil {
			earlier := lazyOf(prev.Feature(i))
			driftResult(r, m, cf.Name, check.VsPrevious, cf.Drift, cf.Type, &earlier, &cur)
		}
		if ref != nil {
			earlier := lazyOf(ref.Feature(i))
			driftResult(r, m, cf.Name, check.VsReference, cf.Drift, cf.Type, &earlier, &cur)
		}
	}
	if w.Features.UnexpectedOther > 0 || len(w.Features.Unexpected) > 0 {
		var n uint64
		for _, c := range w.Features.Unexpected {
			n += c
		}
		r.add(check.Skew, "", check.UnexpectedFields, float64(n+w.Features.UnexpectedOther), 0, check.Above)
	}
	if numericValues > 0 {
		r.add(check.Numerical, "", check.NonFiniteFeatures, float64(nonFinite)/float64(numericValues), 0, check.Above)
	}
	predictions := prediction(r, m, w, prev, ref)
	perf := performance(r, w)
	if est != nil {
		est.check(r, predictions.get().Atoms, w.Performance, perf)
	}
}

// distributed is a profile or summary the statistics compare.
type distributed interface {
	Samples() float64
	Distribution() stats.Distribution
}

// lazyDistribution is a distribution built the first time a statistic needs
// it: a side with fewer values than the statistics need skips them all, and
// then costs its count alone, not its sketch read back bucket by bucket.
type lazyDistribution struct {
	n    float64
	of   distributed
	d    stats.Distribution
	made bool
}

func lazyOf(of distributed) lazyDistribution { return lazyDistribution{n: of.Samples(), of: of} }

func (l *lazyDistribution) get() stats.Distribution {
	if !l.made {
		l.d, l.made = l.of.Distribution(), true
	}
	return l.d
}

// resultsPerFeature and resultsPerWindow size a window's results: quality
// rates and skew statistics (up to six) per feature, drift twice, and the
// model's own.
const resultsPerFeature, resultsPerWindow = 16, 24

// mostResults bounds the results of one of m's windows, to reserve room
// for them before the first.
func mostResults(m *model.Model) int {
	return resultsPerFeature*(len(m.Contract.Features)+1) + resultsPerWindow
}

func compare(t config.FeatureType, ref, cur stats.Distribution) stats.Comparison {
	if t == config.Numeric {
		return stats.CompareNumeric(ref, cur)
	}
	return stats.CompareCategorical(ref, cur)
}

// quality reports the feature's contract rates and the schema skew they show.
// A rate breaches when the window's count is significantly above what the
// contract tolerates (max_null_rate, max_wrong_type_rate,
// max_out_of_range_rate, max_unknown_category_rate; a non-nullable feature
// tolerates no null); one the contract does not constrain is kept without
// threshold.
func quality(r *results, cf *config.Feature, f *profile.Feature) {
	if f.Rows == 0 {
		return
	}
	nullLimit := 0.0
	switch {
	case cf.MaxNullRate != nil:
		nullLimit = *cf.MaxNullRate
	case cf.Nullable:
		nullLimit = check.NoThreshold()
	}
	r.addRate(check.Quality, cf.Name, check.NullRatio, f.Nulls, f.Rows, nullLimit)
	r.addRate(check.Quality, cf.Name, check.WrongTypeRatio, f.Violations[profile.WrongType], f.Rows, limitOf(cf.MaxWrongTypeRate, 0))
	r.add(check.Skew, cf.Name, check.MissingRatio, f.Rate(f.Violations[profile.Missing]), 0, check.Above)
	if present := f.Rows - f.Violations[profile.Missing]; present > 0 {
		// Mostly the wrong type: the producer changed the feature's type (schema
		// skew), as opposed to the odd bad value (a quality problem).
		share := float64(f.Violations[profile.WrongType]) / float64(present)
		r.add(check.Skew, cf.Name, check.TypeMismatch, share, typeMismatchShare, check.Above)
	}
	switch cf.Type {
	case config.Numeric:
		r.add(check.Quality, cf.Name, check.NaNRatio, f.Rate(f.NaN), check.NoThreshold(), check.Above)
		r.add(check.Quality, cf.Name, check.InfRatio, f.Rate(f.PosInf+f.NegInf), check.NoThreshold(), check.Above)
		r.addRate(check.Quality, cf.Name, check.OutOfRangeRatio, f.Violations[profile.OutOfRange], f.Rows,
			limitOf(cf.MaxOutOfRangeRate, check.NoThreshold()))
		if f.Finite > 0 {
			r.add(check.Quality, cf.Name, check.Mean, f.Mean, check.NoThreshold(), check.Above)
		}
	case config.Categorical:
		r.addRate(check.Quality, cf.Name, check.UnknownCategory, f.Violations[profile.UnknownCategory], f.Rows,
			limitOf(cf.MaxUnknownCategoryRate, check.NoThreshold()))
	}
}

// limitOf is a contract tolerance, or otherwise when the contract sets none
// (the rule does not apply).
func limitOf(tolerance *float64, otherwise float64) float64 {
	if tolerance == nil {
		return otherwise
	}
	return *tolerance
}

// typeMismatchShare is the share of wrong-typed values above which a feature's
// type is taken to have changed.
const typeMismatchShare = 0.5

// skewStatistics reports every statistic of cur against the baseline; the
// contract's drift method carries the threshold.
func skewStatistics(r *results, cf *config.Feature, baseline, cur stats.Distribution) {
	for _, s := range statistics(cf.Type, compare(cf.Type, baseline, cur)) {
		threshold := check.NoThreshold()
		if s.method == cf.Drift.Method {
			threshold = skew.Threshold(cf.Drift, baseline, cur)
		}
		r.add(check.Skew, cf.Name, string(s.method), s.value, threshold, direction(s.method.Below()))
	}
}

// driftResult reports the contract's drift statistic of cur against an
// earlier distribution, or its skip when either side holds too few values.
func driftResult(r *results, m *model.Model, feature string, against check.Against, rule config.DriftRule, t config.FeatureType, earlier, cur *lazyDistribution) {
	metric := m.DriftMetric(rule.Method, against)
	if n := min(earlier.n, cur.n); n < r.minSamples {
		r.skip(check.Drift, feature, metric, n)
		return
	}
	e, c := earlier.get(), cur.get()
	r.add(check.Drift, feature, metric, skew.Statistic(compare(t, e, c), rule.Method),
		skew.Threshold(rule, e, c), direction(rule.Method.Below()))
}

type namedStatistic struct {
	method config.DriftMethod
	value  float64
}

func statistics(t config.FeatureType, c stats.Comparison) []namedStatistic {
	if t == config.Numeric {
		return []namedStatistic{{config.PSI, c.PSI}, {config.JSDivergence, c.JSDivergence},
			{check.KSStatistic, c.KSStatistic}, {config.KSPValue, c.KSPValue},
			{check.Wasserstein, c.Wasserstein}, {config.WassersteinNormed, c.WassersteinNormed}}
	}
	return []namedStatistic{{config.PSI, c.PSI}, {config.JSDivergence, c.JSDivergence},
		{config.LInfinity, c.LInfinity}, {check.Chi2Statistic, c.Chi2Statistic}, {config.Chi2PValue, c.Chi2PValue}}
}

// prediction checks the model's output: numerical stability, and drift against
// the previous window and the reference period, by the model's prediction drift
// rule. It returns the window's distribution of predictions, which the
// estimate of quality reads too; it is built only if a statistic or the
// estimate asks for it.
func prediction(r *results, m *model.Model, w *window.Window, prev, ref *drift.Summaries) *lazyDistribution {
	p := w.Prediction
	if p.Rows == 0 {
		return &lazyDistribution{made: true}
	}
	const name = check.PredictionFeature
	r.add(check.Numerical, name, check.NaNRatio, p.Rate(p.NaN), 0, check.Above)
	r.add(check.Numerical, name, check.InfRatio, p.Rate(p.PosInf+p.NegInf), 0, check.Above)
	if m.PredictionKind() == config.Probability {
		r.add(check.Numerical, name, check.OutOfRangeRatio, p.Rate(w.ProbabilityOutOfRange), 0, check.Above)
	}
	r.add(check.Quality, name, check.MissingRatio, p.Rate(p.Violations[profile.Missing]), check.NoThreshold(), check.Above)
	if p.Sketch != nil && p.Finite > 0 {
		r.add(check.Quality, name, check.Mean, p.Mean, check.NoThreshold(), check.Above)
	}
	rule := m.PredictionDrift()
	t := config.Categorical
	if p.Sketch != nil {
		t = config.Numeric
	}
	cur := lazyOf(p)
	if prev != nil {
		earlier := lazyOf(prev.Prediction())
		driftResult(r, m, name, check.VsPrevious, rule, t, &earlier, &cur)
	}
	if ref != nil {
		earlier := lazyOf(ref.Prediction())
		driftResult(r, m, name, check.VsReference, rule, t, &earlier, &cur)
	}
	return &cur
}

// performance reports model quality over the labels joined in the window, and
// returns it (nil without labels). The realised values carry no threshold:
// they feed history and the anomaly detector, and a calibrated model's
// estimates judge them.
func performance(r *results, w *window.Window) *labels.Metrics {
	const name = check.PredictionFeature
	if w.BadLabels > 0 {
		r.add(check.Performance, name, check.BadLabels, float64(w.BadLabels), 0, check.Above)
	}
	if w.Performance == nil {
		return nil
	}
	m := w.Performance.Metrics()
	r.add(check.Performance, name, check.Labelled, float64(m.Count), check.NoThreshold(), check.Above)
	for _, v := range []struct {
		name  string
		value *float64
	}{{check.Accuracy, m.Accuracy}, {check.AUC, m.AUC}, {check.LogLoss, m.LogLoss}, {check.LabelPositiveRate, m.LabelPositiveRate},
		{check.MeanPrediction, m.MeanPrediction}, {check.MAE, m.MAE}, {check.RMSE, m.RMSE}, {check.MeanError, m.MeanError}} {
		if v.value != nil {
			r.add(check.Performance, name, v.name, *v.value, check.NoThreshold(), check.Above)
		}
	}
	return &m
}

// keyedResults adds keyed skew: per feature, the share of requests compared in
// the window whose served value differs from the offline one.
func keyedResults(r *results, m *model.Model, w *window.Window, limit float64) {
	for i, n := range w.KeyedCompared {
		if n > 0 {
			r.add(check.Skew, m.Contract.Features[i].Name, check.KeyedMismatch, float64(w.KeyedMismatch[i])/float64(n), limit, check.Above)
		}
	}
}
