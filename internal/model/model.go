// Package model holds a monitored model as the daemon sees it: its contract,
// its baseline and the profile specs derived from both, which every stage reads.
package model

import (
	"fmt"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

// Model is a monitored model: its contract, its baseline and the profile specs
// derived from both.
type Model struct {
	Contract *config.Contract
	Baseline *profile.Baseline
	specs    []profile.Spec
	// prediction and latency are the specs of the output's and latency's
	// profiles, made once as the features' are.
	prediction, latency profile.Spec
	// driftMetrics names the drift results of each method the model uses. Built
	// per window, the names were strings of every feature that the published
	// results then kept alive among the windows' short-lived memory.
	driftMetrics map[config.DriftMethod][2]string
}

// Load reads a model's contract and baseline files.
func Load(ref config.ModelRef) (*Model, error) {
	var l Loader
	return l.Load(ref)
}

// Loader loads models one after another, their baselines through one buffer
// (profile.BaselineLoader).
type Loader struct{ baselines profile.BaselineLoader }

// Load is Load through l.
func (l *Loader) Load(ref config.ModelRef) (*Model, error) {
	c, err := config.LoadContract(ref.Contract)
	if err != nil {
		return nil, err
	}
	b, err := l.baselines.Load(ref.Baseline)
	if err != nil {
		return nil, err
	}
	return New(c, b)
}

// New checks that contract and baseline agree and derives the specs.
func New(c *config.Contract, b *profile.Baseline) (*Model, error) {
	if b.Model != "" && b.Model != c.Model {
		return nil, fmt.Errorf("baseline is of model %q, contract of %q", b.Model, c.Model)
	}
	m := &Model{Contract: c, Baseline: b}
	for i := range c.Features {
		f := &c.Features[i]
		if fb := b.Feature(f.Name); fb != nil && fb.Type != f.Type {
			return nil, fmt.Errorf("model %s: feature %s is %s in the contract but %s in the baseline", c.Model, f.Name, f.Type, fb.Type)
		}
		m.specs = append(m.specs, b.Spec(f, c.MaxCategories).Prepared())
	}
	m.prediction, m.latency = m.predictionSpec().Prepared(), m.latencySpec().Prepared()
	m.driftMetrics = make(map[config.DriftMethod][2]string)
	for _, f := range c.Features {
		m.driftMetrics[f.Drift.Method] = driftMetricNames(f.Drift.Method)
	}
	m.driftMetrics[m.PredictionDrift().Method] = driftMetricNames(m.PredictionDrift().Method)
	return m, nil
}

func driftMetricNames(method config.DriftMethod) [2]string {
	return [2]string{check.DriftMetric(method, check.VsPrevious), check.DriftMetric(method, check.VsReference)}
}

// Name is the model's name.
func (m *Model) Name() string { return m.Contract.Model }

// Specs are the profile specs of the contract's features, in contract order.
func (m *Model) Specs() []profile.Spec { return m.specs }

// DriftMetric names a drift result of the model: "psi_vs_previous".
func (m *Model) DriftMetric(method config.DriftMethod, against check.Against) string {
	if names, ok := m.driftMetrics[method]; ok {
		return names[against]
	}
	return check.DriftMetric(method, against)
}

// PredictionKind returns the contract's prediction kind; a contract without one
// is read as a score, which makes no claim about range.
func (m *Model) PredictionKind() config.PredictionKind {
	if m.Contract.Prediction == nil {
		return config.Score
	}
	return m.Contract.Prediction.Kind
}

// probabilityEdges bin probabilities in tenths, so window-over-window prediction
// drift has shared bins without a baseline of predictions.
func probabilityEdges() []float64 {
	return []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
}

// PredictionSpec is the profile spec of the model's output.
func (m *Model) PredictionSpec() profile.Spec { return m.prediction }

func (m *Model) predictionSpec() profile.Spec {
	s := profile.Spec{Name: check.PredictionFeature, Type: config.Numeric, Nullable: true, RelativeAccuracy: m.Baseline.RelativeAccuracy}
	switch m.PredictionKind() {
	case config.Probability:
		s.Edges = probabilityEdges()
	case config.Class:
		s.Type = config.Categorical
		s.Categories = m.Contract.Prediction.Classes
		s.MaxCategories = m.Contract.MaxCategories
	}
	return s
}

// PredictionDrift is the drift rule of the prediction. Probabilities and classes
// have shared bins, so PSI applies; scores and regressions are compared by the
// Wasserstein distance in standard deviations.
func (m *Model) PredictionDrift() config.DriftRule {
	rule := config.DriftRule{Method: config.PSI}
	if k := m.PredictionKind(); k != config.Probability && k != config.Class {
		rule.Method = config.WassersteinNormed
	}
	threshold, _ := rule.Method.DefaultThreshold()
	rule.Threshold = &threshold
	return rule
}

// LatencyFeature is the name under which serving latency is profiled and stored.
const LatencyFeature = "latency_ms"

// LatencySpec is the profile spec of the events' serving latency.
func (m *Model) LatencySpec() profile.Spec { return m.latency }

func (m *Model) latencySpec() profile.Spec {
	return profile.Spec{Name: LatencyFeature, Type: config.Numeric, Nullable: true, RelativeAccuracy: m.Baseline.RelativeAccuracy}
}
