package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the admission side's Prometheus series. Model label values come
// from the contracts only; messages of other models count under "unknown".
type metrics struct {
	events, late, skipped, windows *prometheus.CounterVec
	rejected                       *prometheus.CounterVec
	lastEvent                      *prometheus.GaugeVec
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
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.late, m.skipped, m.windows, m.rejected, m.lastEvent} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering pipeline metrics: %w", err)
			}
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
