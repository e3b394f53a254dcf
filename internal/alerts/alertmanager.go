package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Posted is one alert as Alertmanager's v2 API takes it (POST /api/v2/alerts).
// A hand-written client: the generated one pulls go-openapi's runtime for
// one endpoint.
type Posted struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// clientMetrics are the Alertmanager clients' series, labelled by the
// configured Alertmanager URL.
type clientMetrics struct {
	sent, failures, dropped *prometheus.CounterVec
	pending                 *prometheus.GaugeVec
}

func newClientMetrics() *clientMetrics {
	label := []string{"alertmanager"}
	return &clientMetrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_alertmanager_alerts_sent_total",
			Help: "Alerts Alertmanager accepted, firing and resolved, re-sends included."}, label),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_alertmanager_post_failures_total",
			Help: "POSTs to Alertmanager that failed and will be retried."}, label),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_alertmanager_alerts_dropped_total",
			Help: "Alerts given up: the queue was full (alertmanager.max_pending) or Alertmanager rejected them as invalid."}, label),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sentinel_alertmanager_pending_alerts",
			Help: "Alerts waiting to be delivered to Alertmanager."}, label),
	}
}

func (m *clientMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.sent, m.failures, m.dropped, m.pending}
}

// client delivers alerts to one Alertmanager. It holds the latest version of
// each alert not yet delivered, keyed by fingerprint, so that an outage
// neither loses a state change nor piles up copies of one alert: when
// Alertmanager is back it gets each alert once, in its latest state.
type client struct {
	endpoint     string
	name         string
	http         *http.Client
	maxPending   int
	retryInitial time.Duration
	retryMax     time.Duration
	log          *slog.Logger
	sent         prometheus.Counter
	failures     prometheus.Counter
	dropped      prometheus.Counter
	pendingGauge prometheus.Gauge

	mu      sync.Mutex
	pending map[string]queued
	seq     uint64
	wake    chan struct{}
}

type queued struct {
	alert Posted
	seq   uint64
}

// maxPerPost bounds one POST's body.
const maxPerPost = 256

func newClient(base string, timeout time.Duration, maxPending int, m *clientMetrics, log *slog.Logger) (*client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alertmanager URL %q: want http(s)://host[:port][/prefix]", base)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &client{
		endpoint: strings.TrimSuffix(base, "/") + "/api/v2/alerts", name: base,
		http: &http.Client{Timeout: timeout}, maxPending: maxPending,
		retryInitial: 500 * time.Millisecond, retryMax: 30 * time.Second, log: log,
		sent: m.sent.WithLabelValues(base), failures: m.failures.WithLabelValues(base),
		dropped: m.dropped.WithLabelValues(base), pendingGauge: m.pending.WithLabelValues(base),
		pending: make(map[string]queued), wake: make(chan struct{}, 1),
	}, nil
}

// enqueue replaces whatever of the alert is waiting with its latest state.
// When the queue is full, the alert queued longest ago is dropped.
func (c *client) enqueue(fp string, a Posted) {
	c.mu.Lock()
	if _, ok := c.pending[fp]; !ok && len(c.pending) >= c.maxPending {
		oldest, min := "", uint64(0)
		for k, q := range c.pending {
			if oldest == "" || q.seq < min {
				oldest, min = k, q.seq
			}
		}
		delete(c.pending, oldest)
		c.dropped.Inc()
	}
	c.seq++
	c.pending[fp] = queued{alert: a, seq: c.seq}
	c.pendingGauge.Set(float64(len(c.pending)))
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends, retrying with backoff while Alertmanager is
// unreachable.
func (c *client) run(ctx context.Context) {
	backoff := c.retryInitial
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-retry:
		}
		retry = nil
		err := c.deliver(ctx)
		switch {
		case err == nil:
			backoff = c.retryInitial
		case ctx.Err() != nil:
			return
		default:
			c.failures.Inc()
			wait := backoff/2 + rand.N(backoff/2+1)
			c.log.Warn("alertmanager: post failed, retrying", "alertmanager", c.name, "wait", wait, "err", err)
			retry = time.After(wait)
			backoff = min(2*backoff, c.retryMax)
		}
	}
}

// deliver posts everything pending, in batches, and forgets what was
// delivered unless a newer state of it arrived meanwhile.
func (c *client) deliver(ctx context.Context) error {
	for {
		c.mu.Lock()
		batch := make(map[string]queued, min(len(c.pending), maxPerPost))
		for fp, q := range c.pending {
			if len(batch) == maxPerPost {
				break
			}
			batch[fp] = q
		}
		c.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		alerts := make([]Posted, 0, len(batch))
		for _, q := range batch {
			alerts = append(alerts, q.alert)
		}
		err := c.post(ctx, alerts)
		var rejected rejectedError
		if err != nil && !errors.As(err, &rejected) {
			return err
		}
		c.mu.Lock()
		for fp, q := range batch {
			if cur, ok := c.pending[fp]; ok && cur.seq == q.seq {
				delete(c.pending, fp)
			}
		}
		c.pendingGauge.Set(float64(len(c.pending)))
		c.mu.Unlock()
		if err != nil {
			// Sending the same body again would be rejected again.
			c.dropped.Add(float64(len(alerts)))
			c.log.Error("alertmanager: alerts rejected", "alertmanager", c.name, "alerts", len(alerts), "err", err)
			continue
		}
		c.sent.Add(float64(len(alerts)))
	}
}

// rejectedError is Alertmanager refusing the alerts themselves (HTTP 400).
type rejectedError struct{ err error }

func (e rejectedError) Error() string { return e.err.Error() }

func (c *client) post(ctx context.Context, alerts []Posted) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return rejectedError{fmt.Errorf("encoding alerts: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("posting %d alerts: %w", len(alerts), err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		return rejectedError{fmt.Errorf("posting %d alerts: %s: %s", len(alerts), resp.Status, bytes.TrimSpace(msg))}
	}
	return fmt.Errorf("posting %d alerts: %s: %s", len(alerts), resp.Status, bytes.TrimSpace(msg))
}
