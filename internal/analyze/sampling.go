package analyze

import (
	"math"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/model"
)

// sampling says how each watched metric of a model is measured, so that the
// detector can tell a window's sampling noise from change: one out-of-range
// value in 600 events is noise, 5% is not, and the PSI of a quiet night's few
// hundred events is biased upwards by their number alone. It is derived from
// the window's own results (its events, labelled predictions and rates) and
// the baseline, never from the window itself, so that history read back from
// the store after a restart is sampled exactly as it was live.
type sampling struct {
	features map[string]featureSampling
	// numeric is the contract's numeric features: a window's nonfinite
	// feature ratio is over events times these.
	numeric float64
}

// featureSampling is what the baseline tells of one feature's statistics.
type featureSampling struct {
	// pValue: the contract's drift method is a p-value, and the detector
	// watches the test's statistic instead.
	pValue bool
	// dof is the degrees of freedom of PSI, JS and χ² (bins or categories
	// less one); std the baseline's standard deviation, the scale of a
	// window's mean; ref the baseline's values, the second sample of the
	// distances.
	dof, std, ref float64
	// heavy: the baseline's tails are heavy enough that a window's mean
	// moves with its largest value more than with the feature's level.
	heavy bool
}

func newSampling(m *model.Model) sampling {
	s := sampling{features: make(map[string]featureSampling, len(m.Contract.Features))}
	for i := range m.Contract.Features {
		cf := &m.Contract.Features[i]
		f := featureSampling{pValue: cf.Drift.Method == config.KSPValue || cf.Drift.Method == config.Chi2PValue}
		if cf.Type == config.Numeric {
			s.numeric++
		}
		if b := m.Baseline.Feature(cf.Name); b != nil {
			f.ref = float64(b.Count - b.Nulls)
			if cf.Type == config.Numeric {
				f.ref = float64(b.Finite)
				f.dof = float64(len(b.BinCounts) - 1)
				if b.StdDev != nil {
					f.std = *b.StdDev
				}
				if b.Mean != nil && b.StdDev != nil {
					f.heavy = heavyTailed(*b.Mean, *b.StdDev, b.Quantiles, float64(b.Finite))
				}
			} else {
				cells := len(b.Categories)
				if b.Other > 0 {
					cells++
				}
				f.dof = float64(cells - 1)
			}
		}
		s.features[cf.Name] = f
	}
	return s
}

func (s sampling) byPValue(feature string) bool { return s.features[feature].pValue }

// heavyTailed reports whether the feature's training values have tails too
// heavy for a window's mean to tell its level (see meanTail).
func (s sampling) heavyTailed(feature string) bool { return s.features[feature].heavy }

// fill sets dst[i] to how the value of keys[i] in row was sampled; index
// gives each key's position in row.
func (s sampling) fill(dst []anomaly.Sampling, keys []metricKey, index map[metricKey]int, row []float64, labelled float64) {
	value := func(feature, metric string) float64 {
		if i, ok := index[metricKey{feature, metric}]; ok && i < len(row) {
			return row[i]
		}
		return math.NaN()
	}
	events := value("", check.Events)
	for i, k := range keys {
		dst[i] = s.of(k, events, labelled, value)
	}
}

// of is one metric's sampling. Sizes it cannot know (NaN events) leave the
// metric unknown, judged on its history alone.
func (s sampling) of(k metricKey, events, labelled float64, value func(feature, metric string) float64) anomaly.Sampling {
	rate := func(n float64) anomaly.Sampling { return anomaly.Sampling{Kind: anomaly.SamplingRate, N: n} }
	switch k.feature {
	case "":
		switch k.metric {
		case check.Events:
			return anomaly.Sampling{Kind: anomaly.SamplingCount}
		case check.NonFiniteFeatures:
			return rate(events * s.numeric)
		case check.LatencyP95:
			return tailQuantile(0.95, events, value)
		case check.LatencyP99:
			return tailQuantile(0.99, events, value)
		}
		return anomaly.Sampling{}
	case check.PredictionFeature:
		switch k.metric {
		case check.NaNRatio, check.InfRatio, check.OutOfRangeRatio, check.MissingRatio:
			return rate(events)
		case check.Accuracy:
			return rate(labelled)
		}
		return anomaly.Sampling{}
	}
	f := s.features[k.feature]
	// The distances and the mean are over the values present and of the right
	// type, not over every event.
	present := events
	for _, m := range []string{check.NullRatio, check.MissingRatio, check.WrongTypeRatio} {
		if r := value(k.feature, m); !math.IsNaN(r) {
			present -= events * r
		}
	}
	switch k.metric {
	case check.NullRatio, check.WrongTypeRatio, check.MissingRatio, check.OutOfRangeRatio, check.UnknownCategory:
		return rate(events)
	case check.TypeMismatch:
		return rate(events * (1 - zeroIfNaN(value(k.feature, check.MissingRatio))))
	case check.Mean:
		if f.std == 0 {
			return anomaly.Sampling{}
		}
		return anomaly.Sampling{Kind: anomaly.SamplingMean, N: present, Scale: f.std}
	case string(config.PSI):
		return anomaly.Sampling{Kind: anomaly.SamplingPSI, N: present, M: f.ref, Scale: f.dof}
	case string(config.JSDivergence):
		return anomaly.Sampling{Kind: anomaly.SamplingJS, N: present, M: f.ref, Scale: f.dof}
	case check.KSStatistic:
		return anomaly.Sampling{Kind: anomaly.SamplingKS, N: present, M: f.ref}
	case check.Chi2Statistic:
		return anomaly.Sampling{Kind: anomaly.SamplingChiSquare, Scale: f.dof}
	}
	return anomaly.Sampling{}
}

// tailQuantile is the sampling of the window's q-quantile of latency, q in
// the upper tail, over n values: a p99 of a few hundred events moves by
// several milliseconds from window to window with nothing changed, and a
// detector that learned its spread from a short history takes that for a
// change. Its standard error needs the density at the quantile, which the
// results tell only through the quantiles themselves: the tail beyond p95 is
// taken to be exponential, of the scale the spacing of p95 and p99 gives:
// right to a tenth for exponential latencies, to a third for lognormal and
// Pareto ones (TestTailQuantileSampling). It is a floor under the spread the
// detector learns, which still judges the rest.
func tailQuantile(q, n float64, value func(feature, metric string) float64) anomaly.Sampling {
	p95, p99 := value("", check.LatencyP95), value("", check.LatencyP99)
	beta := (p99 - p95) / math.Log(5) // the exponential scale: x_q = a + β·ln(1/(1−q))
	if !(beta > 0) || math.IsInf(beta, 0) {
		return anomaly.Sampling{}
	}
	// √(q(1−q))/f(x_q), with f(x_q) = (1−q)/β.
	return anomaly.Sampling{Kind: anomaly.SamplingQuantile, N: n, Scale: beta * math.Sqrt(q/(1-q))}
}

func zeroIfNaN(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}
