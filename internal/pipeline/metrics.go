package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pipeline's Prometheus series, shared by its workers. Model
// label values come from the contracts only; messages of other models count
// under "unknown".
type metrics struct {
	events, late, skipped, windows, updated *prometheus.CounterVec
	rejected                                *prometheus.CounterVec
	lastEvent                               *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, models []string) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_events_total",
			Help: "Events accepted into a window."}, []string{"model"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_events_late_total",
			Help: "Events whose window was written longer ago than windows.late_horizon, and so not counted."}, []string{"model"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_events_replayed_total",
			Help: "Events read again after a restart or a rebalance that their stored window already held, and so skipped."}, []string{"model"}),
		windows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_windows_closed_total",
			Help: "Windows checked and written."}, []string{"model"}),
		updated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_windows_updated_total",
			Help: "Windows written again with events that arrived after they were written."}, []string{"model"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_events_rejected_total",
			Help: "Messages rejected to the dead-letter topic, by reason."}, []string{"model", "reason"}),
		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sentinel_last_event_timestamp_seconds",
			Help: "Wall-clock time the model's last event was accepted."}, []string{"model"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.events, m.late, m.skipped, m.windows, m.updated, m.rejected, m.lastEvent} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering pipeline metrics: %w", err)
			}
		}
	}
	for _, name := range models {
		for _, c := range []*prometheus.CounterVec{m.events, m.late, m.skipped, m.windows, m.updated} {
			c.WithLabelValues(name)
		}
	}
	return m, nil
}
