package demo

import (
	"testing"
	"time"
)

// TestScoreEchoes: an alert after an incident counts as its echo only for as
// long as what it compares can still hold the incident's windows.
func TestScoreEchoes(t *testing.T) {
	const window = time.Second
	in := Incident{Kind: NewCategory, Model: "fraud", Feature: "country", Start: 36 * window, End: 40 * window}
	for _, tc := range []struct {
		name       string
		fired      Fired
		falseAlarm bool
	}{
		{"drift during", Fired{Name: "SentinelFeatureDrift", Model: "fraud", Feature: "country", At: 38 * window}, false},
		{"drift a period and more after", Fired{Name: "SentinelFeatureDrift", Model: "fraud", Feature: "country", At: 55 * window}, false},
		{"drift past two periods", Fired{Name: "SentinelFeatureDrift", Model: "fraud", Feature: "country", At: 63 * window}, true},
		{"drift of another feature", Fired{Name: "SentinelFeatureDrift", Model: "fraud", Feature: "amount", At: 38 * window}, true},
		{"anomaly just after", Fired{Name: "SentinelAnomaly", Model: "fraud", At: 50 * window}, false},
		{"anomaly a period and more after", Fired{Name: "SentinelAnomaly", Model: "fraud", At: 55 * window}, true},
		{"anomaly of another model", Fired{Name: "SentinelAnomaly", Model: "eta", At: 38 * window}, true},
		{"quality during", Fired{Name: "SentinelDataQuality", Model: "fraud", Feature: "country", At: 39 * window}, false},
		{"quality a period and more after", Fired{Name: "SentinelDataQuality", Model: "fraud", Feature: "country", At: 55 * window}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := score([]Incident{in}, []Fired{tc.fired}, window, time.Minute, "memory")
			if got := len(card.FalseAlarms) == 1; got != tc.falseAlarm {
				t.Errorf("false alarm %t, want %t (incident detected: %t)", got, tc.falseAlarm, card.Incidents[0].Detected)
			}
		})
	}
}
