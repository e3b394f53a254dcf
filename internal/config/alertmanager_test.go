package config

import (
	"strings"
	"testing"
	"time"
)

// TestAlertmanagerSection: the section parses, defaults and names each bad
// field; without URLs direct delivery is off.
func TestAlertmanagerSection(t *testing.T) {
	d, err := ParseDaemon([]byte(`kafka: {brokers: ["k:9092"], topics: {events: e}}
clickhouse: {dsn: "clickhouse://c:9000"}
models: [{contract: c.yml, baseline: b.json}]
alertmanager:
  urls: [http://am-0:9093, https://am-1.example:9093/prefix]
  resend_interval: 30s
  external_labels: {cluster: eu-1}
  generator_url: https://grafana.example/d/sentinel-model
`))
	if err != nil {
		t.Fatal(err)
	}
	a := d.Alertmanager
	if !a.Enabled() || len(a.URLs) != 2 || a.ResendInterval != 30*time.Second || a.Timeout != 10*time.Second ||
		a.ResolveAfter != 2 || a.MaxPending != 10_000 || a.ExternalLabels["cluster"] != "eu-1" {
		t.Errorf("parsed %+v", a)
	}
	if validDaemon().Alertmanager.Enabled() {
		t.Error("direct delivery on by default")
	}
	tests := []struct {
		name   string
		change func(*Alertmanager)
		want   string
	}{
		{"no scheme", func(a *Alertmanager) { a.URLs = []string{"am:9093"} }, `alertmanager.urls[0]: "am:9093" is not an http(s) URL`},
		{"no host", func(a *Alertmanager) { a.URLs = []string{"http://"} }, "alertmanager.urls[0]"},
		{"timeout", func(a *Alertmanager) { a.Timeout = 0 }, "alertmanager.timeout: must be positive"},
		{"resend", func(a *Alertmanager) { a.ResendInterval = -time.Second }, "alertmanager.resend_interval: must be positive"},
		{"resolve after", func(a *Alertmanager) { a.ResolveAfter = 0 }, "alertmanager.resolve_after: must be at least 1 window"},
		{"max pending", func(a *Alertmanager) { a.MaxPending = 0 }, "alertmanager.max_pending"},
		{"label name", func(a *Alertmanager) { a.ExternalLabels = map[string]string{"team-a": "x"} }, `"team-a" is not a Prometheus label name`},
		{"own label", func(a *Alertmanager) { a.ExternalLabels = map[string]string{"severity": "x"} }, `"severity" is a label of Sentinel's alerts`},
		{"generator", func(a *Alertmanager) { a.GeneratorURL = "/d/x" }, "alertmanager.generator_url"},
	}
	for _, tc := range tests {
		d := validDaemon()
		tc.change(&d.Alertmanager)
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
