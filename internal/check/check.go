// Package check is Sentinel's vocabulary of checks: the kinds, the result a
// check reports for one window, and the catalogue of every metric a check can
// report. Everything that names a check — the pipeline that computes it, the
// store that keeps it, /metrics, the anomaly detector that watches it and the
// alert rules generated from it — takes the names from here, so that none can
// name a metric the others do not know.
package check

import (
	"math"
	"strings"
	"time"
)

// Kind groups checks by what they test.
type Kind string

// The kinds of check, as stored and exported.
const (
	Quality     Kind = "quality"
	Skew        Kind = "skew"
	Drift       Kind = "drift"
	Staleness   Kind = "staleness"
	Numerical   Kind = "numerical"
	Performance Kind = "performance"
	Anomaly     Kind = "anomaly"
	// Shadow compares the predictions two versions of a model made for the
	// same requests; Availability says which versions serve; Version profiles
	// each version of a window on its own; Canary judges a version taking a
	// slice of the traffic against the one serving the rest.
	Shadow       Kind = "shadow"
	Availability Kind = "availability"
	Version      Kind = "version"
	Canary       Kind = "canary"
)

// Kinds lists every kind, in the order reports show them.
func Kinds() []Kind {
	return []Kind{Quality, Skew, Drift, Numerical, Performance, Shadow, Canary, Version, Availability, Staleness, Anomaly}
}

// Result is one metric of one check in one window: every value is stored,
// breached or not, so that history feeds the anomaly detector.
type Result struct {
	Model       string
	WindowStart time.Time
	WindowEnd   time.Time
	Kind        Kind
	Feature     string // "" for model-level metrics, "prediction" for the model's output, VersionFeature for a version
	Metric      string
	Value       float64
	Threshold   float64 // NaN when the metric has no threshold
	Breached    bool
	// Skipped, when set, says why the check did not run ("too_few_samples"):
	// Value is then the samples the window had and Threshold the fewest the
	// check needs, so that a skip is visible rather than a silent gap.
	Skipped string
	// Detail, when set, says what the value alone cannot ("feature amount:
	// KS p-value 3e-12 between the versions"): kept for logs and findings,
	// not stored.
	Detail string
}

// SkipTooFewSamples is the reason of a distribution check skipped because a
// side held fewer values than drift.min_samples.
const SkipTooFewSamples = "too_few_samples"

// HasThreshold reports whether the result carries a threshold: the results an
// alert can fire on.
func (r *Result) HasThreshold() bool { return !math.IsNaN(r.Threshold) }

// NoThreshold marks a metric kept for history and anomaly detection only.
func NoThreshold() float64 { return math.NaN() }

// Breaches reports whether value breaks threshold in the metric's direction; a
// NaN threshold is never broken.
func Breaches(value, threshold float64, d Direction) bool {
	if math.IsNaN(threshold) {
		return false
	}
	if d == Below {
		return value < threshold
	}
	return value > threshold
}

// Cause is one metric blamed for an anomaly, in its own units.
type Cause struct {
	Metric       string
	Actual       float64
	Expected     float64
	Contribution float64
	// Detail is the detector's account of what it saw in the metric ("level
	// 3.8σ above expected for 6h (level shift)"); kept with the verdict in
	// memory for logs, findings and the status page, not stored.
	Detail string
}

// Verdict is the anomaly detector's judgement of one window.
type Verdict struct {
	Model       string
	WindowStart time.Time
	WindowEnd   time.Time
	Score       float64
	Anomaly     bool
	Statistic   string
	Causes      []Cause
}

// versionPrefix marks the Feature of a result about one version of the
// model. Only availability, version and canary results carry it, and no
// feature metric is of those kinds, so a feature named alike is not mistaken
// for a version.
const versionPrefix = "version:"

// VersionFeature is the Feature of results about the version labelled label.
func VersionFeature(label string) string { return versionPrefix + label }

// VersionOf returns the version label of a result's Feature, and whether it
// is about a version; "" when it is not.
func VersionOf(feature string) (string, bool) {
	if v, ok := strings.CutPrefix(feature, versionPrefix); ok {
		return v, true
	}
	return "", false
}
