package analyze

import (
	"math"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
)

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
	value, breached, threshold *prometheus.Desc
	// versionValue publishes each version's own metrics without threshold
	// (the version mix, its latency, error rates, predictions and quality),
	// for dashboards to set the versions side by side: as many series per
	// model as the contract gives versions labels.
	versionValue *prometheus.Desc

	mu      sync.Mutex
	byModel map[string]*modelChecks
}

// modelChecks are one model's published results; slices are reused.
type modelChecks struct {
	window, clock []checkSample
	versions      []checkSample
}

type checkSample struct {
	kind            check.Kind
	feature, metric string
	value           float64
	threshold       float64
	breached        bool
}

func newCheckCollector(models []string) *checkCollector {
	labels := []string{"model", "kind", "feature", "metric"}
	c := &checkCollector{
		value: prometheus.NewDesc("sentinel_check_value",
			"Latest value of each check metric that has a threshold: from the model's last closed window, or for staleness its last tick.", labels, nil),
		breached: prometheus.NewDesc("sentinel_check_breached",
			"1 when the check metric broke its threshold in the model's last closed window (staleness: last tick).", labels, nil),
		threshold: prometheus.NewDesc("sentinel_check_threshold",
			"Threshold of each published check metric, for alerts to quote.", labels, nil),
		versionValue: prometheus.NewDesc("sentinel_version_value",
			"Latest value of each metric of one version of the model (kinds availability and version: its events and share, latency, error and NaN rates, predictions, quality), from the model's last closed window.",
			[]string{"model", "version", "kind", "metric"}, nil),
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
	ch <- c.threshold
	ch <- c.versionValue
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
				ch <- prometheus.MustNewConstMetric(c.value, prometheus.GaugeValue, s.value, model, string(s.kind), s.feature, s.metric)
				ch <- prometheus.MustNewConstMetric(c.breached, prometheus.GaugeValue, b, model, string(s.kind), s.feature, s.metric)
				ch <- prometheus.MustNewConstMetric(c.threshold, prometheus.GaugeValue, s.threshold, model, string(s.kind), s.feature, s.metric)
			}
		}
		for _, s := range mc.versions {
			ch <- prometheus.MustNewConstMetric(c.versionValue, prometheus.GaugeValue, s.value, model, s.feature, string(s.kind), s.metric)
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
func (c *checkCollector) observeWindow(model string, results []check.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mc := c.byModel[model]
	mc.window = thresholded(mc.window[:0], results)
	mc.versions = versionSamples(mc.versions[:0], results)
}

// versionSamples are the results of one version without threshold, with
// the version's label as their feature.
func versionSamples(dst []checkSample, results []check.Result) []checkSample {
	for _, r := range results {
		if r.Kind != check.Version && r.Kind != check.Availability || !math.IsNaN(r.Threshold) || math.IsNaN(r.Value) || r.Skipped != "" {
			continue
		}
		if v, ok := check.VersionOf(r.Feature); ok {
			dst = append(dst, checkSample{kind: r.Kind, feature: v, metric: r.Metric, value: r.Value})
		}
	}
	return dst
}

// observeClock replaces the model's published clock-driven results.
func (c *checkCollector) observeClock(model string, results []check.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mc := c.byModel[model]
	mc.clock = thresholded(mc.clock[:0], results)
}

func thresholded(dst []checkSample, results []check.Result) []checkSample {
	for _, r := range results {
		if math.IsNaN(r.Value) || math.IsNaN(r.Threshold) || r.Skipped != "" {
			continue
		}
		dst = append(dst, checkSample{kind: r.Kind, feature: r.Feature, metric: r.Metric, value: r.Value, threshold: r.Threshold, breached: r.Breached})
	}
	return dst
}
