package analyze

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// TestCauses: a flagged verdict publishes its top three causes; a verdict
// that flags nothing clears them; a model not configured publishes nothing.
func TestCauses(t *testing.T) {
	c := newCauseCollector([]string{"fraud"})
	causes := []check.Cause{{Metric: "prediction.auc", Actual: 0.61, Expected: 0.83, Contribution: 6},
		{Metric: "latency_ms_p99", Actual: 240, Expected: 48.5, Contribution: 2.5},
		{Metric: "age.null_ratio", Actual: 0.04, Expected: 0.01, Contribution: 1},
		{Metric: "events", Actual: 90, Expected: 100, Contribution: 0.5}}
	c.observe(&check.Verdict{Model: "fraud", Anomaly: true, Causes: causes})
	c.observe(&check.Verdict{Model: "ghost", Anomaly: true, Causes: causes})
	want := `
# HELP sentinel_anomaly_cause_actual Value of each top cause's metric in the model's last flagged window, in the metric's unit.
# TYPE sentinel_anomaly_cause_actual gauge
sentinel_anomaly_cause_actual{metric="age.null_ratio",model="fraud",rank="3"} 0.04
sentinel_anomaly_cause_actual{metric="latency_ms_p99",model="fraud",rank="2"} 240
sentinel_anomaly_cause_actual{metric="prediction.auc",model="fraud",rank="1"} 0.61
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "sentinel_anomaly_cause_actual"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c); n != 9 {
		t.Errorf("%d series, want 3 causes × 3 series", n)
	}
	c.observe(&check.Verdict{Model: "fraud", Anomaly: false, Causes: causes})
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("%d series after a verdict that flags nothing, want 0", n)
	}
}
