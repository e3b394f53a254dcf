package analyze

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// maxCauses bounds the causes published per model: the ones an on-call
// engineer reads first, and few enough series for a fleet.
const maxCauses = 3

// causeCollector publishes the top causes of each model's last verdict while
// that verdict flags the window, so that an alert can name what to look at:
// sentinel_anomaly_cause{model, rank, metric} holds the cause's contribution
// to the score, _actual and _expected its value and the detector's
// expectation, in the metric's own unit. A verdict that flags nothing clears
// the model's causes: they explain anomalies, not ordinary windows.
type causeCollector struct {
	contribution, actual, expected *prometheus.Desc

	mu      sync.Mutex
	byModel map[string][]check.Cause
}

func newCauseCollector(models []string) *causeCollector {
	labels := []string{"model", "rank", "metric"}
	c := &causeCollector{
		contribution: prometheus.NewDesc("sentinel_anomaly_cause",
			"Contribution to the anomaly score of each top cause of the model's last window, while the detector flags it (rank 1 is the largest).", labels, nil),
		actual: prometheus.NewDesc("sentinel_anomaly_cause_actual",
			"Value of each top cause's metric in the model's last flagged window, in the metric's unit.", labels, nil),
		expected: prometheus.NewDesc("sentinel_anomaly_cause_expected",
			"Value the detector expected of each top cause's metric in the model's last flagged window.", labels, nil),
		byModel: make(map[string][]check.Cause, len(models)),
	}
	for _, name := range models {
		c.byModel[name] = make([]check.Cause, 0, maxCauses)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *causeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.contribution
	ch <- c.actual
	ch <- c.expected
}

// Collect implements prometheus.Collector.
func (c *causeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for model, causes := range c.byModel {
		for i, cause := range causes {
			rank := strconv.Itoa(i + 1)
			ch <- prometheus.MustNewConstMetric(c.contribution, prometheus.GaugeValue, cause.Contribution, model, rank, cause.Metric)
			ch <- prometheus.MustNewConstMetric(c.actual, prometheus.GaugeValue, cause.Actual, model, rank, cause.Metric)
			ch <- prometheus.MustNewConstMetric(c.expected, prometheus.GaugeValue, cause.Expected, model, rank, cause.Metric)
		}
	}
}

// observe replaces the model's published causes with those of verdict v.
func (c *causeCollector) observe(v *check.Verdict) {
	c.mu.Lock()
	defer c.mu.Unlock()
	causes, ok := c.byModel[v.Model]
	if !ok {
		return
	}
	causes = causes[:0]
	if v.Anomaly {
		causes = append(causes, v.Causes[:min(len(v.Causes), maxCauses)]...)
	}
	c.byModel[v.Model] = causes
}
