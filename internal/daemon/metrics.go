package daemon

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the daemon's own series.
type metrics struct {
	lag        *prometheus.GaugeVec
	unreported prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sentinel_ingest_lag",
			Help: "Messages behind the high-water mark, summed over this member's partitions of the topic, from the brokers' offsets every few seconds."},
			[]string{"topic"}),
		unreported: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sentinel_partitions_unreported",
			Help: "Partitions of the events topic that report nothing to this process: every window waits for them."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lag, m.unreported} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering daemon metrics: %w", err)
			}
		}
	}
	return m, nil
}
