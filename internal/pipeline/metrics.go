package pipeline

import (
	"fmt"
	"math"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/store"
)

// metrics are the pipeline's Prometheus series. Model and feature label values
// come from the contracts only; messages of other models count under "unknown".
type metrics struct {
	events, late, skipped, windows *prometheus.CounterVec
	rejected                       *prometheus.CounterVec
	lastEvent                      *prometheus.GaugeVec
	checks                         *checkCollector
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
		checks: newCheckCollector(models),
	}
	for _, c := range []prometheus.Collector{m.events, m.late, m.skipped, m.windows, m.rejected, m.lastEvent, m.checks} {
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

// checkCollector publishes the check results that carry a threshold, the ones
// an alert can fire on: those of each model's last closed window, and of its last
// clock tick (staleness). The rest (every statistic of every feature) stay in the
// store, where history is queried, instead of multiplying series.
//
// It keeps the results and makes the samples at scrape time, as node_exporter's
// collectors do, rather than holding a gauge per series: a check that the last
// window did not produce (a statistic undefined for want of samples) disappears
// instead of repeating a stale value, possibly a breach, and a fleet of models
// costs a few bytes per series between scrapes.
type checkCollector struct {
	value, breached *prometheus.Desc

	mu      sync.Mutex
	byModel map[string]*modelChecks
}

// modelChecks are one model's published results; slices are reused.
type modelChecks struct {
	window, clock []checkSample
}

type checkSample struct {
	kind, feature, metric string
	value                 float64
	breached              bool
}

func newCheckCollector(models []string) *checkCollector {
	labels := []string{"model", "kind", "feature", "metric"}
	c := &checkCollector{
		value: prometheus.NewDesc("sentinel_check_value",
			"Latest value of each check metric that has a threshold: from the model's last closed window, or for staleness its last tick.", labels, nil),
		breached: prometheus.NewDesc("sentinel_check_breached",
			"1 when the check metric broke its threshold in the model's last closed window (staleness: last tick).", labels, nil),
		byModel: make(map[string]*modelChecks, len(models)),
	}
	for _, name := range models {
		c.byModel[name] = &modelChecks{}
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *checkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.value
	ch <- c.breached
}

// Collect implements prometheus.Collector.
func (c *checkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for model, mc := range c.byModel {
		for _, samples := range [][]checkSample{mc.window, mc.clock} {
			for _, s := range samples {
				b := 0.0
				if s.breached {
					b = 1
				}
				ch <- prometheus.MustNewConstMetric(c.value, prometheus.GaugeValue, s.value, model, s.kind, s.feature, s.metric)
				ch <- prometheus.MustNewConstMetric(c.breached, prometheus.GaugeValue, b, model, s.kind, s.feature, s.metric)
			}
		}
	}
}

// reserve sizes a model's published results for n samples, ahead of its first
// window.
func (c *checkCollector) reserve(model string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byModel[model].window = make([]checkSample, 0, n)
}

// observeWindow replaces the model's published window results.
func (c *checkCollector) observeWindow(model string, results []store.CheckResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mc := c.byModel[model]
	mc.window = thresholded(mc.window[:0], results)
}

// observeClock replaces the model's published clock-driven results.
func (c *checkCollector) observeClock(model string, results []store.CheckResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mc := c.byModel[model]
	mc.clock = thresholded(mc.clock[:0], results)
}

func thresholded(dst []checkSample, results []store.CheckResult) []checkSample {
	for _, r := range results {
		if math.IsNaN(r.Value) || math.IsNaN(r.Threshold) {
			continue
		}
		dst = append(dst, checkSample{kind: r.Kind, feature: r.Feature, metric: r.Metric, value: r.Value, breached: r.Breached})
	}
	return dst
}
