package sentinelchart

import (
	"os"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestChartRulesAreTheGeneratedRules: the chart's PrometheusRule holds the
// rules `sentinel alerts rules` generates, as committed in
// deploy/prometheus/sentinel.rules.yml (internal/alerts keeps the chart's copy
// equal to it, byte for byte).
func TestChartRulesAreTheGeneratedRules(t *testing.T) {
	rules := renderedRules(t, chartDir)
	want, err := os.ReadFile("../../deploy/prometheus/sentinel.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, err := yaml.YAMLToJSON(want)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, rules, wantJSON) {
		t.Errorf("the chart's PrometheusRule spec differs from deploy/prometheus/sentinel.rules.yml:\n%s", rules)
	}
}
