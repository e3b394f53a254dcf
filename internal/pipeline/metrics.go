package pipeline

import (
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/store"
)

// metrics are the pipeline's Prometheus series. Model and feature label values
// come from the contracts only; messages of other models count under "unknown".
type metrics struct {
	events, late, skipped, windows *prometheus.CounterVec
	rejected                       *prometheus.CounterVec
	lastEvent                      *prometheus.GaugeVec
	value, breached                *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, models []string) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_events_total",
			Help: "Events accepted into a window."}, []string{"model"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_events_late_total",
			Help: "Events whose window had already closed (later than the allowed lateness)."}, []string{"model"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_events_replayed_total",
			Help: "Events re-read after a restart whose window was already written, and so skipped."}, []string{"model"}),
		windows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_windows_closed_total",
			Help: "Windows checked and written."}, []string{"model"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_events_rejected_total",
			Help: "Messages rejected to the dead-letter topic, by reason."}, []string{"model", "reason"}),
		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sentinel_last_event_timestamp_seconds",
			Help: "Wall-clock time the model's last event was accepted."}, []string{"model"}),
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sentinel_check_value",
			Help: "Latest value of each check metric that has a threshold, from the last closed window."}, []string{"model", "kind", "feature", "metric"}),
		breached: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sentinel_check_breached",
			Help: "1 when the check metric broke its threshold in the last closed window."}, []string{"model", "kind", "feature", "metric"}),
	}
	for _, c := range []prometheus.Collector{m.events, m.late, m.skipped, m.windows, m.rejected, m.lastEvent, m.value, m.breached} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering pipeline metrics: %w", err)
		}
	}
	for _, name := range models {
		m.events.WithLabelValues(name)
		m.late.WithLabelValues(name)
		m.skipped.WithLabelValues(name)
		m.windows.WithLabelValues(name)
	}
	return m, nil
}

// observe publishes a closed window's results that carry a threshold: the ones
// an alert can fire on. The rest (every statistic of every feature) stay in the
// store, where history is queried, instead of multiplying series.
func (m *metrics) observe(model string, results []store.CheckResult) {
	for _, r := range results {
		if math.IsNaN(r.Value) || math.IsNaN(r.Threshold) {
			continue
		}
		m.value.WithLabelValues(model, r.Kind, r.Feature, r.Metric).Set(r.Value)
		b := 0.0
		if r.Breached {
			b = 1
		}
		m.breached.WithLabelValues(model, r.Kind, r.Feature, r.Metric).Set(b)
	}
}
