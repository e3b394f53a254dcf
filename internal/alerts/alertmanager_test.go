package alerts

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gopkg.in/yaml.v3"

	"github.com/sentinel-ml/sentinel/internal/alerts/alertstest"
	"github.com/sentinel-ml/sentinel/internal/check"
)

const exampleAlertmanager = "../../deploy/prometheus/alertmanager.yml"

// exampleInhibitRules returns the inhibit_rules of the example
// alertmanager.yml, to run them in a real Alertmanager with a test route.
func exampleInhibitRules(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(exampleAlertmanager)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(map[string]any{"inhibit_rules": cfg["inhibit_rules"]})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestExampleAlertmanagerConfig: amtool accepts the example.
func TestExampleAlertmanagerConfig(t *testing.T) {
	amtool := alertstest.Binary(t, "SENTINEL_AMTOOL", "amtool")
	if out, err := exec.Command(amtool, "check-config", exampleAlertmanager).CombinedOutput(); err != nil {
		t.Errorf("amtool check-config: %v\n%s", err, out)
	}
}

// TestDirectDeliveryToAlertmanager runs the evaluator against the real
// Alertmanager: it starts while Alertmanager is not yet up, so the firing
// alert waits and is retried; once Alertmanager is up the alert arrives once,
// with its labels and annotations, amtool lists it, and the example's
// inhibition silences the data-quality alert of a silent model; the clean
// windows resolve it.
func TestDirectDeliveryToAlertmanager(t *testing.T) {
	amtool := alertstest.Binary(t, "SENTINEL_AMTOOL", "amtool")
	webhook := alertstest.NewWebhook(t)
	addr := alertstest.FreeAddr(t)
	reg := prometheus.NewRegistry()
	e, err := NewEvaluator(EvaluatorOptions{Window: time.Minute, ResolveAfter: 2, Alertmanagers: []string{"http://" + addr},
		Timeout: 2 * time.Second, ResendInterval: time.Minute, MaxPending: 100, RunbookURL: DefaultOptions().RunbookURL,
		ExternalLabels: map[string]string{"cluster": "test"}, Now: time.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range e.clients {
		c.retryInitial, c.retryMax = 50*time.Millisecond, 200*time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()

	// Windows of wall-clock time, all in the past, so that Alertmanager takes
	// a resolution at a window's end as ended.
	base := time.Now().Truncate(time.Minute).Add(-20 * time.Minute)
	windowAt := func(i int, bad bool) []check.Result {
		rs := window("fraud", 0, bad)
		for j := range rs {
			rs[j].WindowStart = base.Add(time.Duration(i) * time.Minute)
			rs[j].WindowEnd = rs[j].WindowStart.Add(time.Minute)
		}
		return rs
	}
	for i := range 4 {
		e.Observe(time.Now(), windowAt(i, true), nil)
	}
	waitFor(t, func() bool { return testutil.ToFloat64(e.metrics.failures.WithLabelValues("http://"+addr)) >= 2 })

	alertstest.StartAlertmanagerAt(t, addr, alertstest.AlertmanagerConfig(webhook.URL, exampleInhibitRules(t)))
	got, err := webhook.Await(ctx, "the numerical instability alert", func(a alertstest.Alert) bool {
		return a.Labels["alertname"] == "SentinelNumericalInstability" && a.Status == "firing"
	})
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{"alertname": "SentinelNumericalInstability", "model": "fraud", "kind": "numerical",
		"feature": "prediction", "metric": "nan_ratio", "severity": "critical", "cluster": "test"}
	for k, v := range wantLabels {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, got.Labels[k], v, got.Labels)
		}
	}
	if want := "NaN, infinite or impossible values reach or leave the model: nan_ratio of the predictions of model fraud is 30%, above its threshold 0%, in every window for 3m. Share of predictions that are NaN."; got.Annotations["description"] != want {
		t.Errorf("description %q", got.Annotations["description"])
	}
	if !got.StartsAt.Equal(base.Add(time.Minute)) {
		t.Errorf("startsAt %v, want the end of the first bad window %v", got.StartsAt, base.Add(time.Minute))
	}
	out, err := exec.Command(amtool, "alert", "query", "--alertmanager.url=http://"+addr, "-o", "json", "alertname=SentinelNumericalInstability").CombinedOutput()
	if err != nil {
		t.Fatalf("amtool alert query: %v\n%s", err, out)
	}
	var listed []map[string]any
	if err := json.Unmarshal(out, &listed); err != nil || len(listed) != 1 {
		t.Errorf("amtool lists %d alerts (%v), want 1:\n%s", len(listed), err, out)
	}

	// A silent model inhibits its data-quality alerts, as the example says.
	stale := check.Result{Model: "fraud", WindowStart: base, WindowEnd: base.Add(time.Minute), Kind: check.Staleness,
		Metric: check.SecondsSinceEvent, Value: 400, Threshold: 300, Breached: true}
	quality := func(i int) check.Result {
		return check.Result{Model: "fraud", WindowStart: base.Add(time.Duration(i) * time.Minute), WindowEnd: base.Add(time.Duration(i+1) * time.Minute),
			Kind: check.Quality, Feature: "age", Metric: check.NullRatio, Value: 0.5, Threshold: 0.05, Breached: true}
	}
	e.Observe(time.Now().Add(-2*time.Minute), []check.Result{stale}, nil)
	e.Observe(time.Now(), []check.Result{stale}, nil)
	for i := 4; i < 16; i++ {
		e.Observe(time.Now(), append(windowAt(i, true), quality(i)), nil)
	}
	waitFor(t, func() bool {
		var am []struct {
			Labels map[string]string `json:"labels"`
			Status struct {
				InhibitedBy []string `json:"inhibitedBy"`
			} `json:"status"`
		}
		resp, err := http.Get("http://" + addr + "/api/v2/alerts?filter=alertname%3D%22SentinelDataQuality%22")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&am) != nil || len(am) != 1 {
			return false
		}
		return len(am[0].Status.InhibitedBy) == 1
	})
	for _, a := range webhook.Alerts() {
		if a.Labels["alertname"] == "SentinelDataQuality" {
			t.Errorf("an inhibited alert reached the receiver: %v", a.Labels)
		}
	}

	// The model speaks again: two clean ticks end the silence and its
	// inhibition, two clean windows resolve the instability.
	spoke := stale
	spoke.Value, spoke.Breached = 5, false
	e.Observe(time.Now(), []check.Result{spoke}, nil)
	e.Observe(time.Now(), []check.Result{spoke}, nil)
	for i := 16; i < 18; i++ {
		e.Observe(time.Now(), windowAt(i, false), nil)
	}
	if _, err := webhook.Await(ctx, "the resolution", func(a alertstest.Alert) bool {
		return a.Labels["alertname"] == "SentinelNumericalInstability" && a.Status == "resolved"
	}); err != nil {
		for _, a := range webhook.Alerts() {
			t.Logf("received %s %v %v-%v", a.Status, a.Labels, a.StartsAt, a.EndsAt)
		}
		resp, _ := http.Get("http://" + addr + "/api/v2/alerts")
		b, _ := io.ReadAll(resp.Body)
		t.Logf("alertmanager holds %s", b)
		t.Fatal(err)
	}
	firings := 0
	for _, a := range webhook.Alerts() {
		if a.Labels["alertname"] == "SentinelNumericalInstability" && a.Status == "firing" {
			firings++
		}
	}
	if firings != 1 {
		t.Errorf("the receiver got the firing alert %d times, want once", firings)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(e.metrics.sent.WithLabelValues("http://" + addr)); n < 3 {
		t.Errorf("sent %v alerts, want at least the instability firing and resolved and the quality alert", n)
	}
	if !strings.HasPrefix(got.Annotations["runbook_url"], "https://") {
		t.Errorf("runbook_url %q", got.Annotations["runbook_url"])
	}
}
