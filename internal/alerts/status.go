package alerts

import (
	"maps"
	"slices"

	"github.com/sentinel-ml/sentinel/internal/status"
)

// ActiveAlerts reports the alerts pending or firing for the status page. An
// alert on the anomaly detector, or on a metric among its causes, carries the
// causes its text names.
func (e *Evaluator) ActiveAlerts() []status.Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]status.Alert, 0, len(e.active))
	for _, fp := range slices.Sorted(maps.Keys(e.active)) {
		in := e.active[fp]
		a := status.Alert{Name: in.alert.Name, Model: in.model, Feature: in.labels["feature"], Severity: string(in.severity),
			Summary: in.alert.text(in.alert.Summary, &in.r), Since: in.startsAt, Firing: in.firing}
		if in.alert.Cause != nil || in.alert.Name == "SentinelAnomaly" {
			a.Causes = slices.Clone(in.r.causes)
		}
		out = append(out, a)
	}
	return out
}
