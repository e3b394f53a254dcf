package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Alertmanager configures direct delivery of alerts: Sentinel evaluates its
// alert list itself and posts to Alertmanager's v2 API, for teams without
// Prometheus rule evaluation. No URLs turns it off.
type Alertmanager struct {
	// URLs are the Alertmanagers to post to, every one of them, as Prometheus
	// does with an HA pair: http(s)://host:port[/prefix].
	URLs []string `yaml:"urls"`
	// Timeout bounds one POST.
	Timeout time.Duration `yaml:"timeout"`
	// ResendInterval re-sends firing alerts; each is valid for four intervals,
	// so that Alertmanager resolves them by itself if Sentinel goes away.
	ResendInterval time.Duration `yaml:"resend_interval"`
	// ResolveAfter is how many consecutive clean windows resolve a firing
	// alert: one clean window in a bad patch does not end an incident.
	ResolveAfter int `yaml:"resolve_after"`
	// MaxPending bounds, per Alertmanager, the alerts waiting during an outage.
	MaxPending int `yaml:"max_pending"`
	// ExternalLabels are added to every alert (cluster, environment).
	ExternalLabels map[string]string `yaml:"external_labels"`
	// GeneratorURL is each alert's link back, a Grafana dashboard for instance.
	GeneratorURL string `yaml:"generator_url"`
}

// Enabled reports whether alerts are posted directly.
func (a *Alertmanager) Enabled() bool { return len(a.URLs) > 0 }

// DefaultAlertmanager returns the section's defaults.
func DefaultAlertmanager() Alertmanager {
	return Alertmanager{Timeout: 10 * time.Second, ResendInterval: time.Minute, ResolveAfter: 2, MaxPending: 10_000}
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// validate reports the section's problems through bad.
func (a *Alertmanager) validate(bad func(field, format string, args ...any)) {
	for i, raw := range a.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(fmt.Sprintf("alertmanager.urls[%d]", i), "%q is not an http(s) URL with a host", raw)
		}
	}
	if a.Timeout <= 0 {
		bad("alertmanager.timeout", "must be positive, got %s", a.Timeout)
	}
	if a.ResendInterval <= 0 {
		bad("alertmanager.resend_interval", "must be positive, got %s", a.ResendInterval)
	}
	if a.ResolveAfter < 1 {
		bad("alertmanager.resolve_after", "must be at least 1 window, got %d", a.ResolveAfter)
	}
	if a.MaxPending < 1 {
		bad("alertmanager.max_pending", "must be at least 1, got %d", a.MaxPending)
	}
	for k := range a.ExternalLabels {
		if !labelName.MatchString(k) {
			bad("alertmanager.external_labels", "%q is not a Prometheus label name", k)
		}
		switch k {
		case "alertname", "severity", "model", "feature", "kind", "metric":
			bad("alertmanager.external_labels", "%q is a label of Sentinel's alerts", k)
		}
	}
	if a.GeneratorURL != "" {
		if u, err := url.Parse(a.GeneratorURL); err != nil || u.Scheme == "" || u.Host == "" {
			bad("alertmanager.generator_url", "%q is not an absolute URL", a.GeneratorURL)
		}
	}
}
