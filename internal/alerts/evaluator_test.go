package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// window returns window i's results: a NaN rate of the predictions (breached
// when bad) and a healthy null rate of a feature.
func window(model string, i int, bad bool) []check.Result {
	start := t0.Add(time.Duration(i) * time.Minute)
	v := 0.0
	if bad {
		v = 0.3
	}
	return []check.Result{
		{Model: model, WindowStart: start, WindowEnd: start.Add(time.Minute), Kind: check.Numerical,
			Feature: check.PredictionFeature, Metric: check.NaNRatio, Value: v, Threshold: 0, Breached: bad},
		{Model: model, WindowStart: start, WindowEnd: start.Add(time.Minute), Kind: check.Quality,
			Feature: "age", Metric: check.NullRatio, Value: 0.01, Threshold: 0.05},
	}
}

type historyRecorder struct {
	mu   sync.Mutex
	rows []store.AlertRecord
}

func (h *historyRecorder) WriteAlerts(_ context.Context, rs []store.AlertRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rows = append(h.rows, rs...)
	return nil
}

func (h *historyRecorder) states(alert string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.rows {
		if r.Alert == alert {
			out = append(out, r.State)
		}
	}
	return out
}

func newTestEvaluator(t *testing.T, opts EvaluatorOptions) (*Evaluator, *historyRecorder) {
	t.Helper()
	h := &historyRecorder{}
	if opts.Window == 0 {
		opts.Window = time.Minute
	}
	if opts.ResolveAfter == 0 {
		opts.ResolveAfter = 2
	}
	opts.Timeout, opts.ResendInterval, opts.MaxPending = time.Second, time.Minute, 100
	opts.RunbookURL, opts.History, opts.Registerer = DefaultOptions().RunbookURL, h, prometheus.NewRegistry()
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	e, err := NewEvaluator(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, h
}

func names(ps []Posted) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Labels["alertname"]+"/"+p.Labels["model"]+"/"+p.Labels["feature"]+"/"+p.Labels["severity"])
	}
	return out
}

// TestEvaluatorLifecycle: pending from the first bad window, firing once the
// condition held for the alert's windows, still firing after one clean
// window, resolved after two; a flapping check and another model's windows
// change nothing.
func TestEvaluatorLifecycle(t *testing.T) {
	e, h := newTestEvaluator(t, EvaluatorOptions{})
	const nan = "SentinelNumericalInstability/fraud/prediction/critical"
	steps := []struct {
		model            string
		bad              bool
		pending, firing  []string
		wantHistoryAfter []string
	}{
		{"fraud", false, nil, nil, nil},
		{"fraud", true, []string{nan}, nil, []string{"pending"}},
		{"fraud", true, []string{nan}, nil, nil},
		{"other", false, []string{nan}, nil, nil},                          // another model's window; fraud had no events
		{"fraud", true, nil, []string{nan}, []string{"pending", "firing"}}, // three windows after the first
		{"fraud", false, nil, []string{nan}, nil},                          // one clean window: hysteresis
		{"fraud", true, nil, []string{nan}, nil},
		{"fraud", false, nil, []string{nan}, nil},
		{"fraud", false, nil, nil, []string{"pending", "firing", "resolved"}},
		// Flapping: pending, inactive, pending, never firing.
		{"fraud", true, []string{nan}, nil, nil},
		{"fraud", false, nil, nil, []string{"pending", "firing", "resolved", "pending", "inactive"}},
		{"fraud", true, []string{nan}, nil, nil},
		{"fraud", false, nil, nil, nil},
	}
	for i, s := range steps {
		e.Observe(t0, window(s.model, i, s.bad), nil)
		pending, firing := e.Active(t0)
		if !slices.Equal(names(pending), s.pending) || !slices.Equal(names(firing), s.firing) {
			t.Fatalf("window %d: pending %v firing %v, want %v %v", i, names(pending), names(firing), s.pending, s.firing)
		}
		if s.wantHistoryAfter != nil {
			if err := e.writeHistory(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := h.states("SentinelNumericalInstability"); !slices.Equal(got, s.wantHistoryAfter) {
				t.Fatalf("window %d: history %v, want %v", i, got, s.wantHistoryAfter)
			}
		}
	}
}

// TestEvaluatorWindowsOfOneBatch: a batch that closes several windows is
// judged window by window, so three bad windows written together count.
func TestEvaluatorWindowsOfOneBatch(t *testing.T) {
	e, _ := newTestEvaluator(t, EvaluatorOptions{})
	var batch []check.Result
	for i := range 4 {
		batch = append(batch, window("fraud", 3-i, true)...) // out of order on purpose
	}
	e.Observe(t0, batch, nil)
	if _, firing := e.Active(t0); len(firing) != 1 {
		t.Errorf("firing %v after four bad windows in one batch", names(firing))
	}
}

// TestEvaluatorClockAndSeverity: staleness is judged on the clock, apart from
// windows; a contract's severity overrides the alert's default.
func TestEvaluatorClockAndSeverity(t *testing.T) {
	sev, err := NewSeverities([]ModelSeverity{{Model: "fraud", Severity: Warning,
		Features: []FeatureSeverity{{Name: "age", Severity: Critical}, {Name: "amount"}}}})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newTestEvaluator(t, EvaluatorOptions{Severities: sev})
	stale := func(at time.Time, seconds float64) []check.Result {
		start := at.Truncate(time.Minute)
		return []check.Result{{Model: "fraud", WindowStart: start, WindowEnd: start.Add(time.Minute), Kind: check.Staleness,
			Metric: check.SecondsSinceEvent, Value: seconds, Threshold: 300, Breached: seconds > 300}}
	}
	e.Observe(t0, stale(t0, 310), nil)
	e.Observe(t0.Add(30*time.Second), window("fraud", 0, false), nil) // a window does not clean the clock's alert
	e.Observe(t0.Add(60*time.Second), stale(t0.Add(60*time.Second), 370), nil)
	_, firing := e.Active(t0)
	if got := names(firing); !slices.Equal(got, []string{"SentinelModelSilent/fraud//warning"}) {
		t.Errorf("firing %v, want the silent model at the contract's severity", got)
	}
	if a, _ := ByName("SentinelDataQuality"); sev.Of(&a, "fraud", "age") != Critical || sev.Of(&a, "fraud", "amount") != Warning ||
		sev.Of(&a, "churn", "age") != Warning {
		t.Error("feature severity, model severity, default: not resolved in that order")
	}
	if _, err := NewSeverities([]ModelSeverity{{Model: "fraud", Severity: "page"}}); err == nil {
		t.Error("severity \"page\" accepted")
	}
	want := `
# HELP sentinel_alert_severity 1 for the severity a model's contract sets for the alerts of the model (feature "" and "prediction") or of one feature; absent: the alert's default.
# TYPE sentinel_alert_severity gauge
sentinel_alert_severity{feature="",model="fraud",severity="warning"} 1
sentinel_alert_severity{feature="age",model="fraud",severity="critical"} 1
sentinel_alert_severity{feature="amount",model="fraud",severity="warning"} 1
sentinel_alert_severity{feature="prediction",model="fraud",severity="warning"} 1
`
	if err := testutil.CollectAndCompare(sev, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestEvaluatorCauses: a flagged window whose top cause is the AUC, lower
// than expected, counts towards the quality drop; the anomaly's description
// lists the causes.
func TestEvaluatorCauses(t *testing.T) {
	e, _ := newTestEvaluator(t, EvaluatorOptions{})
	for i := range 12 {
		start := t0.Add(time.Duration(i) * time.Minute)
		v := check.Verdict{Model: "fraud", WindowStart: start, WindowEnd: start.Add(time.Minute), Score: 9.5, Anomaly: true,
			Causes: []check.Cause{{Metric: "prediction.auc", Actual: 0.61, Expected: 0.83, Contribution: 0.6},
				{Metric: "latency_ms_p99", Actual: 40, Expected: 48.5, Contribution: 0.25},
				{Metric: "age.null_ratio", Actual: 0.04, Expected: 0.01, Contribution: 0.1}, {Metric: "events", Actual: 1, Expected: 2}}}
		score := check.Result{Model: "fraud", WindowStart: start, WindowEnd: start.Add(time.Minute), Kind: check.Anomaly,
			Metric: check.Score, Value: 9.5, Threshold: 4.2, Breached: true}
		e.Observe(t0, []check.Result{score}, []check.Verdict{v})
		// churn's latency is above its forecast, but with too small a share
		// of the evidence to be what went wrong.
		v = check.Verdict{Model: "churn", WindowStart: start, WindowEnd: start.Add(time.Minute), Score: 8, Anomaly: true,
			Causes: []check.Cause{{Metric: "prediction.rmse", Actual: 3.5, Expected: 1.25, Contribution: 0.8},
				{Metric: "latency_ms_p99", Actual: 60, Expected: 50, Contribution: 0.2}}}
		score.Model, score.Value = "churn", 8
		e.Observe(t0, []check.Result{score}, []check.Verdict{v})
	}
	_, firing := e.Active(t0)
	got := names(firing)
	want := []string{"SentinelAnomaly/churn//warning", "SentinelAnomaly/fraud//warning", "SentinelModelErrorRise/churn//warning",
		"SentinelModelQualityDrop/fraud//warning"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("firing %v, want %v (fraud's latency is lower than expected, churn's too small a cause: no regression)", got, want)
	}
	for _, p := range firing {
		if p.Labels["alertname"] == "SentinelAnomaly" && p.Labels["model"] == "fraud" {
			if d := p.Annotations["description"]; !strings.HasSuffix(d, "Top causes (metric: actual vs expected): prediction.auc 0.61 vs 0.83; latency_ms_p99 40 vs 48.5; age.null_ratio 0.04 vs 0.01.") {
				t.Errorf("description %q", d)
			}
		}
	}
	// The status page's view: the same alerts, the anomaly's with its causes
	// and the quality drop's, which fires on one of them, with them too.
	var shown []string
	for _, a := range e.ActiveAlerts() {
		shown = append(shown, fmt.Sprintf("%s/%s/%s/%v/%d", a.Name, a.Model, a.Severity, a.Firing, len(a.Causes)))
		if a.Summary == "" || a.Since.Before(t0) {
			t.Errorf("%s: summary %q since %v", a.Name, a.Summary, a.Since)
		}
	}
	slices.Sort(shown)
	if want := []string{"SentinelAnomaly/churn/warning/true/2", "SentinelAnomaly/fraud/warning/true/3",
		"SentinelModelErrorRise/churn/warning/true/2", "SentinelModelQualityDrop/fraud/warning/true/3"}; !slices.Equal(shown, want) {
		t.Errorf("active alerts %v, want %v", shown, want)
	}
}

// TestTextMatchesTemplates: the evaluator's notifications read word for word
// as Prometheus renders the rules' templates in deploy/prometheus/tests.
func TestTextMatchesTemplates(t *testing.T) {
	cat := check.NewCatalogue()
	lookup := func(kind check.Kind, feature, metric string) *check.Metric {
		m, ok := cat.Lookup(&check.Result{Kind: kind, Feature: feature, Metric: metric})
		if !ok {
			t.Fatalf("%s %s not in the catalogue", kind, metric)
		}
		return m
	}
	tests := []struct {
		alert                string
		r                    rendering
		summary, description string
	}{
		{"SentinelFeatureDrift",
			rendering{labels: map[string]string{"model": "churn", "feature": "tenure", "metric": "ks_p_value_vs_reference"},
				value: 0.0001, threshold: 0.001, metric: lookup(check.Drift, "tenure", "ks_p_value_vs_reference")},
			"Feature tenure of model churn drifted (ks_p_value_vs_reference 0.0001)",
			"Feature values stopped looking like recent traffic: ks_p_value_vs_reference of feature tenure of model churn is 0.0001, below its threshold 0.001, in every window for 15m. The contract's drift statistic (ks_p_value) of the window against the previous reference period."},
		{"SentinelSchemaSkew",
			rendering{labels: map[string]string{"model": "fraud", "feature": "device", "metric": "missing_ratio"},
				value: 1, threshold: 0, metric: lookup(check.Skew, "device", "missing_ratio")},
			"Feature device of model fraud: schema skew (missing_ratio 100%)",
			"Serving sends a different schema than the contract: missing_ratio of feature device of model fraud is 100%, above its threshold 0%, in every window for 5m. Share of events in which the feature is absent (schema skew: serving does not send it)."},
		{"SentinelModelSilent",
			rendering{labels: map[string]string{"model": "fraud", "metric": "seconds_since_last_event"},
				value: 430, threshold: 300, metric: lookup(check.Staleness, "", "seconds_since_last_event")},
			"Model fraud has sent no events for 7m 10s",
			"Model fraud has sent no event for 7m 10s, longer than staleness.max_silence (5m 0s). Either the model stopped serving, its producer stopped publishing, or Sentinel no longer reads its topic."},
		{"SentinelLatencyRegression",
			rendering{labels: map[string]string{"model": "fraud", "metric": "latency_ms_p99"}, value: 240, expected: 48.5},
			"Model fraud: p99 serving latency 240 ms (expected 48.5 ms)",
			"The 99th percentile of the serving latency that model fraud's events report is 240 ms where the anomaly detector expected 48.5 ms for this time of day, and it is among the top causes of anomalous windows for 10m."},
	}
	for _, tc := range tests {
		a, ok := ByName(tc.alert)
		if !ok {
			t.Fatalf("no alert %s", tc.alert)
		}
		tc.r.forText = promDuration(a.forDuration(DefaultOptions()))
		if got := a.text(a.Summary, &tc.r); got != tc.summary {
			t.Errorf("%s summary\n%s\nwant\n%s", tc.alert, got, tc.summary)
		}
		if got := a.text(a.Description, &tc.r); got != tc.description {
			t.Errorf("%s description\n%s\nwant\n%s", tc.alert, got, tc.description)
		}
	}
}

// fakeAlertmanager records what it is posted, and fails while down; refused
// records what was posted while down.
type fakeAlertmanager struct {
	mu      sync.Mutex
	down    bool
	status  int
	posts   [][]Posted
	refused [][]Posted
}

func (f *fakeAlertmanager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if f.down {
		var ps []Posted
		if json.NewDecoder(r.Body).Decode(&ps) == nil {
			f.refused = append(f.refused, ps)
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if f.status != 0 {
		http.Error(w, "bad alerts", f.status)
		return
	}
	var ps []Posted
	if err := json.NewDecoder(r.Body).Decode(&ps); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.posts = append(f.posts, ps)
}

func (f *fakeAlertmanager) received() []Posted {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Posted
	for _, p := range f.posts {
		out = append(out, p...)
	}
	return out
}

// TestClientOutage: while Alertmanager is down, alerts wait, one per
// fingerprint in its latest state; when it is back, each is delivered once.
// A full queue drops the oldest; alerts Alertmanager rejects are dropped.
func TestClientOutage(t *testing.T) {
	am := &fakeAlertmanager{down: true}
	srv := httptest.NewServer(am)
	defer srv.Close()
	m := newClientMetrics()
	c, err := newClient(srv.URL, time.Second, 2, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.retryInitial, c.retryMax = 10*time.Millisecond, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.run(ctx)
	post := func(name, state string) Posted {
		return Posted{Labels: map[string]string{"alertname": name}, Annotations: map[string]string{"state": state}, StartsAt: t0, EndsAt: t0}
	}
	c.enqueue("a", post("A", "firing"))
	c.enqueue("b", post("B", "firing"))
	time.Sleep(50 * time.Millisecond)
	c.enqueue("a", post("A", "resolved")) // replaces A's firing
	c.enqueue("c", post("C", "firing"))   // the queue holds 2: B, the oldest, goes
	if got := testutil.ToFloat64(c.dropped); got != 1 {
		t.Errorf("dropped %v, want 1", got)
	}
	if testutil.ToFloat64(c.failures) < 1 {
		t.Error("no failure counted while Alertmanager was down")
	}
	// Back once a post of the latest states has been refused: the client
	// posts one batch at a time, so none of an older state is on its way
	// (one that left before A resolved, landing after, would deliver A twice).
	waitFor(t, func() bool {
		am.mu.Lock()
		defer am.mu.Unlock()
		for _, ps := range am.refused {
			for _, p := range ps {
				if p.Labels["alertname"] == "A" && p.Annotations["state"] == "resolved" {
					am.down = false
					return true
				}
			}
		}
		return false
	})
	waitFor(t, func() bool { return len(am.received()) >= 2 })
	time.Sleep(50 * time.Millisecond)
	got := map[string]string{}
	for _, p := range am.received() {
		got[p.Labels["alertname"]] = p.Annotations["state"]
	}
	if len(am.received()) != 2 || got["A"] != "resolved" || got["C"] != "firing" {
		t.Errorf("received %v, want A resolved and C firing, once each", got)
	}
	am.mu.Lock()
	am.status = http.StatusBadRequest
	am.mu.Unlock()
	c.enqueue("d", post("D", "firing"))
	waitFor(t, func() bool { return testutil.ToFloat64(c.dropped) == 2 })
	waitFor(t, func() bool { return testutil.ToFloat64(c.pendingGauge) == 0 })
	if _, err := newClient("alertmanager:9093", time.Second, 1, m, nil); err == nil {
		t.Error("a URL without scheme accepted")
	}
}

// TestEvaluatorPostsAndResends: the evaluator posts a firing alert with its
// labels, annotations and validity, re-sends it, and posts its resolution.
func TestEvaluatorPostsAndResends(t *testing.T) {
	am := &fakeAlertmanager{}
	srv := httptest.NewServer(am)
	defer srv.Close()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e, err := NewEvaluator(EvaluatorOptions{Window: time.Minute, ResolveAfter: 1, Alertmanagers: []string{srv.URL},
		Timeout: time.Second, ResendInterval: 40 * time.Millisecond, MaxPending: 10, RunbookURL: "https://runbooks",
		ExternalLabels: map[string]string{"cluster": "eu-1"}, GeneratorURL: "https://grafana/d/sentinel-model", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	for i := range 4 {
		e.Observe(t0, window("fraud", i, true), nil)
	}
	waitFor(t, func() bool { return len(am.received()) >= 1 })
	first := am.received()[0]
	if first.Labels["cluster"] != "eu-1" || first.Labels["severity"] != "critical" || first.Labels["metric"] != "nan_ratio" ||
		first.Annotations["runbook_url"] != "https://runbooks#sentinelnumericalinstability" ||
		first.GeneratorURL != "https://grafana/d/sentinel-model" || !first.StartsAt.Equal(t0.Add(time.Minute)) ||
		!first.EndsAt.Equal(t0.Add(160*time.Millisecond)) {
		t.Errorf("posted %+v", first)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	waitFor(t, func() bool { return len(am.received()) >= 2 }) // re-sent
	e.Observe(t0, window("fraud", 4, false), nil)
	waitFor(t, func() bool {
		r := am.received()
		return r[len(r)-1].EndsAt.Equal(t0.Add(5 * time.Minute))
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitFor waits for cond; the bound is generous because a real
// Alertmanager on a loaded two-core machine can take seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// firstFiring is a store.Writer that records, after each batch the evaluator
// observed, the window at which each alert first fired.
type firstFiring struct {
	e     *Evaluator
	first map[string]time.Time
	last  time.Time
}

func (f *firstFiring) Write(_ context.Context, b store.Batch) error {
	for _, r := range b.Results {
		if r.WindowEnd.After(f.last) && r.Kind != check.Staleness {
			f.last = r.WindowEnd
		}
	}
	_, firing := f.e.Active(f.last)
	for _, p := range firing {
		key := p.Labels["alertname"] + " " + p.Labels["feature"] + " " + p.Labels["metric"]
		if _, ok := f.first[key]; !ok {
			f.first[key] = f.last
		}
	}
	return nil
}

// TestEvaluatorOnReplay wires the evaluator as the daemon would, behind the
// store in a Tee, and replays the example's two hours: nothing fires in the
// healthy first hour, and the incident of the second (ages lost, a new
// market, a new device type, NaN predictions) fires the alerts of the checks
// it broke (those whose rates are significant in windows this small). The
// example's one-minute windows hold about 40 events, fewer
// than drift.min_samples' default 100, so skew and drift are skipped: with
// 20, PSI between two windows of 40 events is about 0.5 on healthy traffic,
// and drift against the previous window fires in the healthy hour.
func TestEvaluatorOnReplay(t *testing.T) {
	e, _ := newTestEvaluator(t, EvaluatorOptions{})
	rec := &firstFiring{e: e, first: map[string]time.Time{}}
	m := modeltest.Example(t, "../../examples/fraud")
	p, err := pipeline.New(pipeline.Options{Models: []*model.Model{m}, Window: time.Minute, ReferencePeriod: time.Hour,
		MinSamples: 100, MaxMessageBytes: 4096, Writer: store.Tee(e.Tee(store.NewMemory()), rec), EventTime: true,
		ReplayTick: time.Minute, MaxSilence: time.Hour, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: "../../examples/fraud/events.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := pipeline.Replay(context.Background(), src, p); err != nil {
		t.Fatal(err)
	}
	incident := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for key, at := range rec.first {
		t.Logf("%s fired at %s", key, at.Format("15:04"))
		if at.Before(incident) {
			t.Errorf("%s fired at %s, in the healthy hour", key, at.Format("15:04"))
		}
	}
	for _, want := range []string{"SentinelDataQuality country unknown_category_ratio", "SentinelNumericalInstability prediction nan_ratio"} {
		if _, ok := rec.first[want]; !ok {
			t.Errorf("%s did not fire during the incident", want)
		}
	}
}

// TestForScale: a demonstration's compressed `for` keeps two windows at
// least, so that one window's chance flag does not fire, and one for an alert
// that waits one.
func TestForScale(t *testing.T) {
	e, _ := newTestEvaluator(t, EvaluatorOptions{ForScale: 0.2})
	for _, tt := range []struct {
		windows, want int
	}{{1, 1}, {3, 2}, {5, 2}, {10, 2}, {15, 3}, {60, 12}} {
		if got := e.forWindows(&Alert{Windows: tt.windows}); got != tt.want {
			t.Errorf("for %d windows at scale 0.2: %d, want %d", tt.windows, got, tt.want)
		}
	}
}
