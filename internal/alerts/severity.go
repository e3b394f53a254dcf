package alerts

import (
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
)

// ModelSeverity is the severity a contract sets for its model's alerts and,
// per feature, for that feature's; "" leaves the alert's default.
type ModelSeverity struct {
	Model    string
	Severity Severity
	Features []FeatureSeverity
}

// FeatureSeverity is one feature's severity override.
type FeatureSeverity struct {
	Name     string
	Severity Severity
}

// Severities resolves the severity of a model's or feature's alerts: the
// feature's own, else its model's, else the alert's default. The rules read
// the same resolution from sentinel_alert_severity{model, feature, severity},
// which Severities exports as a collector: one series per model (feature "",
// and "prediction" for the model's output) and per feature that has an
// override, so that a fleet without overrides exports nothing.
type Severities struct {
	byKey map[[2]string]Severity
	desc  *prometheus.Desc
}

// NewSeverities checks and resolves the overrides.
func NewSeverities(models []ModelSeverity) (*Severities, error) {
	s := &Severities{byKey: map[[2]string]Severity{},
		desc: prometheus.NewDesc("sentinel_alert_severity",
			"1 for the severity a model's contract sets for the alerts of the model (feature \"\" and \"prediction\") or of one feature; absent: the alert's default.",
			[]string{"model", "feature", "severity"}, nil)}
	for _, m := range models {
		if m.Severity != "" && !m.Severity.Valid() {
			return nil, fmt.Errorf("model %s: severity %q is not critical, warning or info", m.Model, m.Severity)
		}
		if m.Severity != "" {
			s.byKey[[2]string{m.Model, ""}] = m.Severity
			s.byKey[[2]string{m.Model, check.PredictionFeature}] = m.Severity
		}
		for _, f := range m.Features {
			sev := f.Severity
			if sev != "" && !sev.Valid() {
				return nil, fmt.Errorf("model %s: feature %s: severity %q is not critical, warning or info", m.Model, f.Name, sev)
			}
			if sev == "" {
				sev = m.Severity
			}
			if sev != "" {
				s.byKey[[2]string{m.Model, f.Name}] = sev
			}
		}
	}
	return s, nil
}

// Of returns the severity of alert a for a model's feature ("" for the model
// as a whole).
func (s *Severities) Of(a *Alert, model, feature string) Severity {
	if s != nil && a.Evaluable() {
		if sev, ok := s.byKey[[2]string{model, feature}]; ok {
			return sev
		}
	}
	return a.Severity
}

// Describe implements prometheus.Collector.
func (s *Severities) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

// Collect implements prometheus.Collector.
func (s *Severities) Collect(ch chan<- prometheus.Metric) {
	keys := make([][2]string, 0, len(s.byKey))
	for k := range s.byKey {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1] })
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, 1, k[0], k[1], string(s.byKey[k]))
	}
}

// ContractSeverities are the severity overrides of contracts.
func ContractSeverities(contracts []*config.Contract) []ModelSeverity {
	out := make([]ModelSeverity, 0, len(contracts))
	for _, c := range contracts {
		ms := ModelSeverity{Model: c.Model, Severity: Severity(c.Severity)}
		for _, f := range c.Features {
			ms.Features = append(ms.Features, FeatureSeverity{Name: f.Name, Severity: Severity(f.Severity)})
		}
		out = append(out, ms)
	}
	return out
}
