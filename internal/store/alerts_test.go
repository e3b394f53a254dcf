package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAlertHistory: state changes are written and read back whole; the same
// change written twice (a window checked again after a crash) is one row.
func TestAlertHistory(t *testing.T) {
	s, reg := openTestStore(t)
	ctx := testContext(t)
	at := time.Date(2026, 11, 30, 10, 2, 0, 250_000_000, time.UTC)
	firing := AlertRecord{Model: "fraud", Alert: "SentinelNumericalInstability", Fingerprint: "0a1b2c", At: at, State: "firing",
		Severity: "critical", Labels: map[string]string{"model": "fraud", "feature": "prediction", "metric": "nan_ratio"},
		Value: 0.3, StartsAt: at.Add(-3 * time.Minute), Summary: "The predictions of model fraud: numerical instability (nan_ratio 30%)",
		Description: "NaN, infinite or impossible values reach or leave the model."}
	resolved := firing
	resolved.At, resolved.State, resolved.EndsAt, resolved.Value = at.Add(2*time.Minute), "resolved", at.Add(2*time.Minute), 0
	if err := s.WriteAlerts(ctx, []AlertRecord{firing, resolved}); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAlerts(ctx, []AlertRecord{firing}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Alerts(ctx, "fraud", at.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []AlertRecord{firing, resolved}) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, []AlertRecord{firing, resolved})
	}
	if n := testutil.ToFloat64(s.metrics.rows.WithLabelValues(tableAlerts)); n != 3 {
		t.Errorf("rows written to alerts: %v, want 3", n)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Alerts(ctx, "fraud", at.Add(time.Minute)); err != nil || len(got) != 1 || got[0].State != "resolved" {
		t.Errorf("since a minute after firing: %+v, %v", got, err)
	}
}
