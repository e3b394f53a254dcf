package check

import (
	"slices"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// Scope says what a metric describes.
type Scope int

const (
	// OfModel metrics describe the model's window as a whole (Result.Feature "").
	OfModel Scope = iota
	// OfFeature metrics describe one contract feature.
	OfFeature
	// OfPrediction metrics describe the model's output (Result.Feature "prediction").
	OfPrediction
	// OfVersion metrics describe one version of the model (Result.Feature
	// VersionFeature(label), a label bounded by the contract).
	OfVersion
)

// PredictionFeature is the Feature of results about the model's output.
const PredictionFeature = "prediction"

// Direction says which side of its threshold a value breaches.
type Direction int

const (
	// Above: a value above the threshold breaches (rates, distances).
	Above Direction = iota
	// Below: a value below the threshold breaches (p-values).
	Below
)

// Thresholding says when a metric carries a threshold.
type Thresholding int

const (
	// Never: kept for history and the anomaly detector only.
	Never Thresholding = iota
	// Always: every result has a threshold.
	Always
	// ByContract: the contract may leave the metric unconstrained (a nullable
	// feature without max_null_rate, a numeric feature without a range).
	ByContract
	// ByMethod: the statistic carries the threshold when it is the feature's
	// drift method; the other statistics are kept without.
	ByMethod
	// ByConfig: sentinel.yaml may turn the threshold off.
	ByConfig
)

// Watching says whether the anomaly detector watches a metric: the headline
// value of each check, not every statistic, which keeps its history small.
type Watching int

const (
	// Unwatched metrics are not given to the detector.
	Unwatched Watching = iota
	// Watched metrics always are.
	Watched
	// WatchedWithThreshold metrics are when they carry a threshold (the
	// feature's own drift statistic, not the others).
	WatchedWithThreshold
)

// Metric describes one metric a check reports.
type Metric struct {
	Kind  Kind
	Name  string
	Scope Scope
	// Types lists the feature types a feature metric is reported for; nil is all.
	Types []config.FeatureType
	// Method, for a drift metric, is the drift method whose features report it;
	// for a skew statistic, the method under which it carries the threshold.
	Method config.DriftMethod
	// Unit is the metric's unit in words: "ratio", "count", "seconds",
	// "milliseconds", "p-value", or "statistic" for a dimensionless distance.
	Unit string
	// Help says what the metric measures, for people: /metrics help, alerts and
	// the documentation take it from here.
	Help      string
	Breach    Direction
	Threshold Thresholding
	Watch     Watching
}

// AppliesTo reports whether a feature metric is reported for features of type t.
func (m *Metric) AppliesTo(t config.FeatureType) bool {
	return m.Types == nil || slices.Contains(m.Types, t)
}

// Catalogue indexes the metrics for lookups on the hot path of closing windows.
type Catalogue struct {
	all   []Metric
	index map[key]int
}

type key struct {
	kind       Kind
	name       string
	prediction bool
}

// NewCatalogue indexes Metrics.
func NewCatalogue() *Catalogue {
	c := &Catalogue{all: Metrics(), index: make(map[key]int)}
	for i, m := range c.all {
		c.index[key{m.Kind, m.Name, m.Scope == OfPrediction}] = i
	}
	return c
}

// Metrics returns every metric of the catalogue.
func (c *Catalogue) Metrics() []Metric { return c.all }

// Lookup finds the metric of a result.
func (c *Catalogue) Lookup(r *Result) (*Metric, bool) {
	i, ok := c.index[key{r.Kind, r.Metric, r.Feature == PredictionFeature}]
	if !ok {
		return nil, false
	}
	return &c.all[i], true
}

// Watched reports whether the anomaly detector watches the result.
func (c *Catalogue) Watched(r *Result) bool {
	m, ok := c.Lookup(r)
	if !ok {
		return false
	}
	switch m.Watch {
	case Watched:
		return true
	case WatchedWithThreshold:
		return r.HasThreshold()
	}
	return false
}

// Bounds bounds what one window of a model with the given features reports: how
// many results the anomaly detector watches, and how many carry a threshold
// (the published series, the anomaly score among them). They size, when a model
// is configured, the memory its results need, so that memory is set at start
// rather than growing through the first windows. TestBounds holds the checks
// to them.
func (c *Catalogue) Bounds(features []config.Feature, prediction config.DriftMethod) (watched, thresholded int) {
	for i := range c.all {
		m := &c.all[i]
		if m.Kind == Staleness || m.Scope == OfVersion {
			// Staleness is published by the clock, not by windows; version
			// metrics are unwatched, and as many as the contract bounds.
			continue
		}
		switch m.Scope {
		case OfModel:
			w, t := m.counts(m.Method)
			watched, thresholded = watched+w, thresholded+t
		case OfPrediction:
			if m.Kind == Drift && m.Method != prediction {
				continue
			}
			w, t := m.counts(prediction)
			watched, thresholded = watched+w, thresholded+t
		case OfFeature:
			for _, f := range features {
				if m.Kind == Drift && m.Method != f.Drift.Method {
					continue
				}
				w, t := m.featureCounts(f)
				watched, thresholded = watched+w, thresholded+t
			}
		}
	}
	return watched, thresholded
}

// featureCounts is counts for one feature of the contract.
func (m *Metric) featureCounts(f config.Feature) (watched, thresholded int) {
	if !m.AppliesTo(f.Type) {
		return 0, 0
	}
	return m.counts(f.Drift.Method)
}

// counts is 1, 1 when the metric is watched and carries a threshold for a
// feature (or prediction) whose drift method is method.
func (m *Metric) counts(method config.DriftMethod) (watched, thresholded int) {
	has := m.Threshold != Never && (m.Threshold != ByMethod || m.Method == method)
	if has {
		thresholded = 1
	}
	if m.Watch == Watched || (m.Watch == WatchedWithThreshold && has) {
		watched = 1
	}
	return watched, thresholded
}
