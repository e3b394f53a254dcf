package trafficbench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/traffic"
)

// quick is the size of the runs `make test` holds to the goals: two days of
// 5-minute windows of 200 events on average (the daily curve takes them from
// about 100 to 400), the detector's first fit after the first day.
func quick(seed uint64, incidents []traffic.Incident) Setup {
	return Setup{Seed: seed, Window: 5 * time.Minute, EventsPerWindow: 200, Duration: 48 * time.Hour, Incidents: incidents}
}

// TestHealthyReplay is #15's and #16's goal on healthy traffic, the way a new
// user meets it: a contract inferred from a training sample, its baseline,
// and two days of serving traffic from the same distribution through replay.
// Findings in at most 1% of (feature or prediction, window) pairs, anomaly
// verdicts in at most 1% of the windows scored, no finding about the model
// as a whole, and no alert fires. make healthy measures the same at 100 to
// 10,000 events a window, in 1- and 5-minute windows, over three days.
func TestHealthyReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("replays two days of traffic")
	}
	o, err := Run(context.Background(), t.TempDir(), quick(1, nil))
	if err != nil {
		t.Fatal(err)
	}
	s := o.Healthy()
	t.Logf("%d windows of %.0f–%.0f events: findings in %d of %d pairs (%.2f%%); %d of %d scored windows flagged (%.2f%%); found: %s",
		s.Windows, s.MinEvents, s.MaxEvents, s.PairsFound, s.Pairs, 100*s.PairShare(), s.Flagged, s.Scored, 100*s.FlaggedShare(), s.FoundText())
	if s.Scored < s.Windows/3 {
		t.Errorf("the detector scored %d of %d windows: it should score the second day", s.Scored, s.Windows)
	}
	if s.PairShare() > 0.01 {
		t.Errorf("findings in %.2f%% of (feature, window) pairs, goal ≤ 1%%: %s", 100*s.PairShare(), s.FoundText())
	}
	if s.FlaggedShare() > 0.01 {
		t.Errorf("%d of %d scored windows flagged (%.2f%%), goal ≤ 1%%: %s", s.Flagged, s.Scored, 100*s.FlaggedShare(), s.FoundText())
	}
	if s.ModelFindings > 0 {
		t.Errorf("%d findings about the model as a whole: %s", s.ModelFindings, s.FoundText())
	}
	if len(s.Alerts) > 0 {
		t.Errorf("alerts fired on healthy traffic: %s", strings.Join(s.Alerts, "; "))
	}
}

// TestIncidentsFound injects, on the third day of the same traffic, five
// incidents at the event level, each for an hour with two clear hours after
// it: every one is found while it lasts, by a check of its feature or an
// anomaly that names one of its metrics. Whether an alert fires is logged,
// not asserted: SentinelAnomaly waits for five flagged windows in a row,
// which the detector does not give a shift of 6 standard errors or a tenth
// of a feature's values null in every run (the grid's recall table counts
// the alerts).
func TestIncidentsFound(t *testing.T) {
	if testing.Short() {
		t.Skip("replays three days of traffic")
	}
	at := Start.Add(50 * time.Hour)
	hour := func(kind traffic.Kind, feature string, size float64) traffic.Incident {
		in := traffic.Incident{Kind: kind, Feature: feature, Start: at, End: at.Add(time.Hour), Size: size}
		at = at.Add(3 * time.Hour)
		return in
	}
	sizes, se := traffic.DefaultSizes(), 1/14.142 // standard error of a window mean at 200 events
	incidents := []traffic.Incident{
		hour(traffic.MeanShift, "balance", sizes.Shift*se),
		hour(traffic.NullBurst, "age", sizes.Nulls),
		hour(traffic.NewCategory, "channel", sizes.Category),
		hour(traffic.NaNPredictions, "prediction", sizes.NaN),
		hour(traffic.TrafficDrop, "", sizes.Drop),
	}
	setup := quick(2, incidents)
	setup.Duration = 72 * time.Hour
	o, err := Run(context.Background(), t.TempDir(), setup)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range o.Detections() {
		switch {
		case !d.Found:
			t.Errorf("%s: not found", d.Incident.String())
		default:
			t.Logf("%s: found after %d windows by %s; alerts: %v", d.Incident.Kind, d.Delay, d.By, d.Alerted)
		}
	}
	s := o.Healthy()
	if s.FlaggedShare() > 0.01 || s.PairShare() > 0.01 || len(s.Alerts) > 0 {
		t.Errorf("outside the incidents: %d of %d windows flagged, findings in %d of %d pairs, alerts %v; found: %s",
			s.Flagged, s.Scored, s.PairsFound, s.Pairs, s.Alerts, s.FoundText())
	}
}
