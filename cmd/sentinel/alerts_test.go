package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentinel-ml/sentinel/internal/alerts"
	"github.com/sentinel-ml/sentinel/internal/alerts/alertstest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/store/storetest"
)

// TestAlertsRules: `sentinel alerts rules` prints the committed rules file,
// and `alerts list` every alert.
func TestAlertsRules(t *testing.T) {
	code, stdout, stderr := run(t, "alerts", "rules")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want, err := os.ReadFile("../../deploy/prometheus/sentinel.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(want) {
		t.Error("alerts rules differs from deploy/prometheus/sentinel.rules.yml (go test ./internal/alerts -update rewrites it)")
	}
	code, stdout, _ = run(t, "alerts", "list")
	if code != 0 || strings.Count(stdout, "\n| Sentinel") != len(alerts.List()) || !strings.Contains(stdout, "| SentinelModelSilent | critical | 1m |") {
		t.Errorf("alerts list: exit %d\n%s", code, stdout)
	}
	code, _, stderr = run(t, "alerts", "rules", "--window", "10ms")
	if code != 2 || !strings.Contains(stderr, "shorter than 1s") {
		t.Errorf("--window 10ms: exit %d, %s", code, stderr)
	}
	if code, _, _ = run(t, "alerts", "page"); code != 2 {
		t.Errorf("unknown sub-command: exit %d", code)
	}
}

// traffic produces events of the example's healthy first hour at the wall
// clock, for two models, and injects incidents on demand.
type traffic struct {
	cl    *kgo.Client
	lines []eventLine
	mu    sync.Mutex
	drift bool // fraud: merchant_risk shifted by +0.5
	nan   bool // fraud: 30% of predictions NaN
	quiet bool // churn sends nothing
	errs  chan error
}

type eventLine struct {
	Features   json.RawMessage `json:"features"`
	Prediction float64         `json:"prediction"`
	LatencyMS  float64         `json:"latency_ms"`
}

func newTraffic(t *testing.T, brokers []string) *traffic {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	f, err := os.Open(example + "events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := &traffic{cl: cl, errs: make(chan error, 1)}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `"features"`) {
			continue // a label
		}
		if strings.Contains(line, `"timestamp": "2026-11-20T10:`) {
			break // the recorded incident starts at 10:00
		}
		var e eventLine
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			continue // the recording's malformed messages, for the dead-letter topic
		}
		tr.lines = append(tr.lines, e)
	}
	return tr
}

func (tr *traffic) set(f func(tr *traffic)) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	f(tr)
}

// run sends 10 events per model every 100 ms until ctx ends.
func (tr *traffic) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tr.mu.Lock()
		drift, nan, quiet := tr.drift, tr.nan, tr.quiet
		tr.mu.Unlock()
		var rs []*kgo.Record
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for _, model := range []string{"fraud", "churn"} {
			if model == "churn" && quiet {
				continue
			}
			for range 10 {
				e := tr.lines[n%len(tr.lines)]
				n++
				features := string(e.Features)
				pred := strconv.FormatFloat(e.Prediction, 'g', -1, 64)
				if model == "fraud" && drift {
					var fs map[string]any
					_ = json.Unmarshal(e.Features, &fs)
					if v, ok := fs["merchant_risk"].(float64); ok {
						fs["merchant_risk"] = v + 0.5
					}
					b, _ := json.Marshal(fs)
					features = string(b)
				}
				if model == "fraud" && nan && n%10 < 3 {
					pred = "NaN"
				}
				v := fmt.Sprintf(`{"model": %q, "request_id": "r-%d", "timestamp": %q, "features": %s, "prediction": %s, "latency_ms": %g}`,
					model, n, now, features, pred, e.LatencyMS)
				rs = append(rs, &kgo.Record{Partition: int32(n % 2), Value: []byte(v)})
			}
		}
		if err := tr.cl.ProduceSync(ctx, rs...).FirstErr(); err != nil && ctx.Err() == nil {
			select {
			case tr.errs <- err:
			default:
			}
			return
		}
	}
}

// startDaemon runs `sentinel run` in-process and returns its listen address
// and the channel its exit code arrives on.
func startDaemon(t *testing.T, ctx context.Context, config string) (string, chan int) {
	t.Helper()
	logs, out := io.Pipe()
	t.Cleanup(func() { logs.Close() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		sent := false
		for sc.Scan() {
			if i := strings.Index(sc.Text(), `"addr":"`); i >= 0 && !sent {
				rest := sc.Text()[i+8:]
				addr <- rest[:strings.Index(rest, `"`)]
				sent = true
			}
		}
	}()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- dispatch(ctx, []string{"run", "--config", config}, io.Discard, io.MultiWriter(out, &stderr))
		out.Close()
	}()
	select {
	case a := <-addr:
		return a, done
	case code := <-done:
		t.Fatalf("run exited %d before serving: %s", code, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("run did not start serving")
	}
	return "", nil
}

// TestAlertsEndToEnd runs the daemon on an in-process Kafka and the test
// ClickHouse, a real Prometheus scraping it every second with the rules
// generated for two-second windows, and a real Alertmanager that notifies a
// webhook. Clean traffic raises nothing; a drift of fraud's merchant_risk, a
// storm of NaN predictions of fraud and the silence of churn each raise their
// alert, with labels and words, and each resolves when its incident ends;
// Sentinel going away raises SentinelDown.
func TestAlertsEndToEnd(t *testing.T) {
	dsn := storetest.DSN(t)
	webhook := alertstest.NewWebhook(t)
	am := alertstest.StartAlertmanager(t, alertstest.AlertmanagerConfig(webhook.URL, ""))
	cluster := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 2}, kafkatest.Topic{Name: "dead", Partitions: 1})

	dir := t.TempDir()
	contract, err := os.ReadFile(example + "contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var models strings.Builder
	for _, name := range []string{"fraud", "churn"} {
		c := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(c, []byte(strings.Replace(string(contract), "model: fraud", "model: "+name, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		b := filepath.Join(dir, name+".json")
		if code, _, stderr := run(t, "baseline", "--contract", c, "--input", example+"train.csv", "--out", b); code != 0 {
			t.Fatal(stderr)
		}
		fmt.Fprintf(&models, "  - {contract: %s, baseline: %s}\n", c, b)
	}
	db := fmt.Sprintf("sentinel_alerts_test_%d", time.Now().UnixNano())
	t.Cleanup(func() { dropAlertsDatabase(t, dsn, db) })
	config := filepath.Join(dir, "sentinel.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`kafka:
  brokers: [%q]
  topics: {events: events, dead_letters: dead}
clickhouse: {dsn: %q, database: %s}
windows: {size: 2s, allowed_lateness: 500ms}
drift: {reference_period: 10s, min_samples: 50}
staleness: {check_interval: 250ms, max_silence: 6s}
anomaly: {enabled: false}
listen: {http: "127.0.0.1:0"}
shutdown_timeout: 20s
models:
%s`, strings.Join(cluster.Brokers(), ","), dsn, db, models.String())), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tr := newTraffic(t, cluster.Brokers())
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	go tr.run(trafficCtx)
	daemonCtx, stopDaemon := context.WithCancel(ctx)
	defer stopDaemon()
	addr, done := startDaemon(t, daemonCtx, config)

	// The rules of production, at the speed of two-second windows: every for
	// and range is 2s/1m of its production value.
	opts := alerts.DefaultOptions()
	opts.Window, opts.TimeScale, opts.Job = 2*time.Second, 2.0/60, "sentinel"
	rules, err := alerts.Rules(opts)
	if err != nil {
		t.Fatal(err)
	}
	prom := alertstest.StartPrometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
  - job_name: sentinel
    static_configs: [{targets: [%q]}]
`, strings.TrimPrefix(am.URL, "http://"), addr), rules)

	// Warm-up: Prometheus sees every check of both models, and nothing fires.
	waitQuery(t, ctx, prom.URL, `count by (model) (sentinel_check_value{kind="skew"})`, 2)
	warm := time.Now()
	time.Sleep(20 * time.Second)
	if got := webhook.Alerts(); len(got) > 0 {
		t.Fatalf("alerts during clean traffic: %v", got[0].Labels)
	}
	if n := queryCount(t, prom.URL, `ALERTS{alertstate="pending"}`); n > 0 {
		t.Logf("pending during the warm-up (not notified): %d", n)
	}
	t.Logf("warm-up %s without alerts", time.Since(warm).Round(time.Second))

	// The incidents.
	incident := time.Now()
	tr.set(func(tr *traffic) { tr.drift, tr.nan, tr.quiet = true, true, true })
	type expect struct {
		name, alert   string
		labels        map[string]string
		words         []string
		firedAt       time.Time
		resolved      bool
		resolvedAfter time.Duration
	}
	expects := []*expect{
		{name: "drift of merchant_risk", alert: "SentinelTrainServeSkew",
			labels: map[string]string{"model": "fraud", "feature": "merchant_risk", "kind": "skew", "metric": "ks_p_value", "severity": "warning"},
			words:  []string{"ks_p_value of feature merchant_risk of model fraud is", "below its threshold 0.001", "for 30s"}},
		{name: "NaN predictions", alert: "SentinelNumericalInstability",
			labels: map[string]string{"model": "fraud", "feature": "prediction", "kind": "numerical", "metric": "nan_ratio", "severity": "critical"},
			words:  []string{"nan_ratio of the predictions of model fraud is 30%, above its threshold 0%", "for 6s"}},
		{name: "silent churn", alert: "SentinelModelSilent",
			labels: map[string]string{"model": "churn", "metric": "seconds_since_last_event", "severity": "critical", "job": "sentinel"},
			words:  []string{"Model churn has sent no event for", "longer than staleness.max_silence (6s)"}},
	}
	match := func(e *expect, status string) func(alertstest.Alert) bool {
		return func(a alertstest.Alert) bool {
			if a.Status != status || a.Labels["alertname"] != e.alert {
				return false
			}
			for k, v := range e.labels {
				if k != "severity" && a.Labels[k] != v {
					return false
				}
			}
			return true
		}
	}
	for _, e := range expects {
		a, err := webhook.Await(ctx, e.name, match(e, "firing"))
		if err != nil {
			t.Fatal(err)
		}
		e.firedAt = a.Received
		if a.Labels["severity"] != e.labels["severity"] {
			t.Errorf("%s: severity %q, want %q", e.name, a.Labels["severity"], e.labels["severity"])
		}
		for _, w := range e.words {
			if !strings.Contains(a.Annotations["description"], w) {
				t.Errorf("%s: description %q lacks %q", e.name, a.Annotations["description"], w)
			}
		}
		if !strings.HasSuffix(a.Annotations["runbook_url"], "#"+strings.ToLower(e.alert)) || a.Annotations["summary"] == "" {
			t.Errorf("%s: annotations %v", e.name, a.Annotations)
		}
		t.Logf("%s: %s fired %s after the incident began: %s", e.name, e.alert, e.firedAt.Sub(incident).Round(100*time.Millisecond), a.Annotations["summary"])
	}

	// The incidents end; each alert resolves.
	ended := time.Now()
	tr.set(func(tr *traffic) { tr.drift, tr.nan, tr.quiet = false, false, false })
	for _, e := range expects {
		a, err := webhook.Await(ctx, e.name+" resolved", match(e, "resolved"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: resolved %s after the incident ended", e.name, a.Received.Sub(ended).Round(100*time.Millisecond))
	}
	for _, a := range webhook.Alerts() {
		t.Logf("received %s %s %v", a.Status, a.Labels["alertname"], a.Labels)
	}

	// Sentinel goes away.
	gone := time.Now()
	stopTraffic()
	stopDaemon()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited %d, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not exit")
	}
	a, err := webhook.Await(ctx, "SentinelDown", func(a alertstest.Alert) bool {
		return a.Status == "firing" && a.Labels["alertname"] == "SentinelDown" && a.Labels["instance"] == addr
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SentinelDown fired %s after Sentinel stopped: %s", a.Received.Sub(gone).Round(100*time.Millisecond), a.Annotations["summary"])
	select {
	case err := <-tr.errs:
		t.Errorf("producing traffic: %v", err)
	default:
	}
}

// dropAlertsDatabase drops the test's database, trying again for a while:
// ClickHouse 18.16 may hold the DROP behind the merges of the minute of
// windows just written.
func dropAlertsDatabase(t *testing.T, dsn, db string) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Error(err)
		return
	}
	opts.ReadTimeout = time.Minute
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Errorf("dropping %s: %v", db, err)
	}
}

// queryCount returns the number of series a PromQL query returns now.
func queryCount(t *testing.T, base, q string) int {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return len(r.Data.Result)
}

// waitQuery waits until q returns n series.
func waitQuery(t *testing.T, ctx context.Context, base, q string, n int) {
	t.Helper()
	for queryCount(t, base, q) != n {
		select {
		case <-ctx.Done():
			t.Fatalf("%s never returned %d series", q, n)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
