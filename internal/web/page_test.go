package web

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/status"
	"github.com/sentinel-ml/sentinel/internal/status/statustest"
	"github.com/sentinel-ml/sentinel/internal/store"
)

var day = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// batch is window i of a model, five minutes long: events, a skew check on
// feature (breached when told), a staleness row when silence is not NaN, and
// a verdict when score is not NaN.
func batch(model, feature string, i int, breached bool, score, silence float64, causes ...check.Cause) store.Batch {
	start := day.Add(time.Duration(i) * 5 * time.Minute)
	end := start.Add(5 * time.Minute)
	res := func(kind check.Kind, feature, metric string, value, threshold float64, breached bool) check.Result {
		return check.Result{Model: model, WindowStart: start, WindowEnd: end, Kind: kind, Feature: feature, Metric: metric,
			Value: value, Threshold: threshold, Breached: breached}
	}
	b := store.Batch{Results: []check.Result{
		res(check.Quality, "", check.Events, 200, math.NaN(), false),
		res(check.Skew, feature, "psi", 0.7, 0.2, breached),
		res(check.Skew, feature, "chi2_p_value", 1e-9, 0.001, breached),
	}}
	if !math.IsNaN(silence) {
		b.Results = append(b.Results, res(check.Staleness, "", check.SecondsSinceEvent, silence, 300, silence > 300))
	}
	if !math.IsNaN(score) {
		b.Results = append(b.Results, res(check.Anomaly, "", check.Score, score, 3.48, score >= 3.48))
		b.Anomalies = []check.Verdict{{Model: model, WindowStart: start, WindowEnd: end, Score: score, Anomaly: score >= 3.48,
			Statistic: "metric", Causes: causes}}
	}
	return b
}

type nothing struct{}

func (nothing) Write(context.Context, store.Batch) error { return nil }

// page serves a request to the routes with src as the page's source (nil:
// none) and returns the response.
func page(t *testing.T, src StatusSource, method, path string) (*http.Response, string) {
	t.Helper()
	h, err := Handler(Options{Gatherer: prometheus.NewRegistry(), Alive: func() error { return nil },
		Ready: func(context.Context) error { return nil }, Status: src})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func recorder(models []string, batches ...store.Batch) *status.Recorder {
	r := status.NewRecorder(nothing{}, status.Options{Models: models, Windows: 600,
		Now: func() time.Time { return day.Add(3 * time.Hour) }})
	for _, b := range batches {
		if err := r.Write(context.Background(), b); err != nil {
			panic(err)
		}
	}
	return r
}

// hostile strings, each a way out of the context it lands in: text, an
// attribute, an SVG title, a URL.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(2)>`,
	`</title><svg onload=alert(3)>`,
	`' onmouseover='alert(4)`,
	`javascript:alert(5)`,
	`]]><!--<iframe src=//evil>-->`,
}

func TestStatusPageEscapes(t *testing.T) {
	resp, body := page(t, hostileBoard(), "GET", "/")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, s := range hostile {
		if strings.ContainsAny(s, `<>"'`) && strings.Contains(body, s) {
			t.Errorf("the page holds %q unescaped", s)
		}
	}
	noActiveContent(t, body)
	// The strings are shown, as text.
	for _, want := range []string{`&lt;script&gt;alert(1)&lt;/script&gt;`, `&#34;&gt;&lt;img src=x onerror=alert(2)&gt;`,
		`&lt;/title&gt;&lt;svg onload=alert(3)&gt;`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Ids and anchors are positions, never names.
	if !strings.Contains(body, `id="m0"`) || !strings.Contains(body, `href="#m0"`) {
		t.Error("the model's section is not anchored by its position")
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		"Content-Type":            "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}

// noActiveContent fails the test on what a browser would build from an
// escape: script, image and frame elements, event handlers, javascript:
// links, an attribute broken out of.
func noActiveContent(t *testing.T, body string) {
	t.Helper()
	for _, re := range []string{`(?i)<script`, `(?i)<img`, `(?i)<iframe`, `(?i)<svg onload`, `(?i)href="javascript`} {
		if m := regexp.MustCompile(re).FindString(body); m != "" {
			t.Errorf("the page holds %q (%s)", m, re)
		}
	}
	// No tag has an event handler or an attribute a value broke out to:
	// within a tag, with its (quoted, quotes escaped) attribute values taken
	// out, no on…= and no second class remain.
	values := regexp.MustCompile(`"[^"]*"`)
	broken := regexp.MustCompile(`(?i)\son\w+\s*=|\sclass=.*\sclass=`)
	for _, tag := range regexp.MustCompile(`<[a-zA-Z][^>]*>`).FindAllString(body, -1) {
		if broken.MatchString(values.ReplaceAllString(tag, `""`)) {
			t.Errorf("a tag has an event handler or a broken attribute: %s", tag)
		}
	}
}

// hostileBoard names a model, its feature, metric, cause, alert and
// annotation with hostile strings.
func hostileBoard() *status.Board {
	model, feature, metric := hostile[0], hostile[1], hostile[2]
	cause := check.Cause{Metric: hostile[2], Actual: 3, Expected: 1, Contribution: 1}
	var batches []store.Batch
	for i := range 6 {
		batches = append(batches, batch(model, feature, i, i > 3, float64(i), 10, cause))
	}
	batches[5].Results[1].Metric = metric
	alerts := &statustest.Alerts{}
	alerts.Set(status.Alert{Name: hostile[3], Model: model, Feature: hostile[4], Severity: `critical" class="x`, Summary: hostile[5],
		Since: day, Firing: true, Causes: []check.Cause{cause}},
		status.Alert{Name: "elsewhere", Model: hostile[4], Severity: hostile[1]})
	notes := status.Annotations{{Model: model, Start: day.Add(10 * time.Minute), End: day.Add(20 * time.Minute), Text: hostile[1] + hostile[0]}}
	return &status.Board{Recorder: recorder(nil, batches...), Alerts: alerts, Annotations: notes}
}

func TestStatusPageStates(t *testing.T) {
	none := &statustest.Alerts{}
	firing := &statustest.Alerts{}
	firing.Set(status.Alert{Name: "SentinelTrainServeSkew", Model: "fraud", Feature: "amount", Severity: "warning", Firing: true,
		Since: day, Summary: "psi 0.7 above 0.2"})
	var many []store.Batch
	for i := range 500 {
		many = append(many, batch("fraud", "amount", i, i%50 == 0, float64(i%9), math.NaN()))
	}
	canary := batch("fraud", "amount", 0, false, 1, math.NaN())
	canary.Results = append(canary.Results, check.Result{Model: "fraud", WindowStart: day, WindowEnd: day.Add(5 * time.Minute),
		Kind: check.Canary, Feature: check.VersionFeature("v2"), Metric: check.PredictionDrift, Value: 0.5, Threshold: 0.2, Breached: true})
	gap := []store.Batch{batch("fraud", "amount", 0, false, 1, math.NaN()), batch("fraud", "amount", 1, false, 2, math.NaN()),
		batch("fraud", "amount", 5, false, 2, math.NaN()), batch("fraud", "amount", 6, false, 9, math.NaN())}
	for _, tc := range []struct {
		name    string
		board   *status.Board
		want    []string
		notWant []string
		check   func(t *testing.T, body string)
	}{
		{"no model", &status.Board{Recorder: recorder(nil)},
			[]string{"No model has been configured or written a window yet."}, []string{`<section`, `<svg`}, nil},
		{"a model waiting for its first window", &status.Board{Recorder: recorder([]string{"fraud"})},
			[]string{`<span class="badge idle">waiting</span>`, "No window checked yet", "No window yet.",
				"This process does not evaluate alerts"}, []string{`<svg`, "Latest anomaly verdict", `<table class="checks">`}, nil},
		{"windows before the detector's first verdict", &status.Board{Recorder: recorder([]string{"fraud"},
			batch("fraud", "amount", 0, false, math.NaN(), math.NaN())), Alerts: none},
			[]string{`<span class="badge ok">ok</span>`, "No verdict yet: the anomaly detector is gathering history.", "No active alerts.",
				`<span class="cell ok" title="Population stability index of the window against the training baseline.">psi <span class="v">0.7 ≤ 0.2</span>`},
			[]string{`<polyline`, "Latest anomaly verdict"}, nil},
		{"breached checks, in their direction", &status.Board{Recorder: recorder(nil, batch("fraud", "amount", 0, true, 1, 20))},
			[]string{`<span class="badge warn">checks breached</span>`, `psi <span class="v">0.7 &gt; 0.2</span>`,
				`chi2_p_value <span class="v">1e-09 &lt; 0.001</span>`, "Last event 20 s before the clock check at 12:00:00 UTC (limit 5m 0s).",
				"Window 09:00–09:05 UTC: score 1.00 (a chance of about 1 in 10) — not flagged."}, nil, nil},
		{"anomalous", &status.Board{Recorder: recorder(nil, batch("fraud", "amount", 0, false, 300, math.NaN(),
			check.Cause{Metric: "amount.mean", Actual: 140, Expected: 62, Contribution: 0.7}))},
			[]string{`<span class="badge warn">anomalous</span>`, "score 300 (the cap: a chance below 1 in 10^300) — flagged",
				"amount.mean: value 140, expected 62, deviation &#43;78 (2.26× expected); contribution 70% of the anomaly&#39;s evidence",
				`<circle class="pt flag"`}, nil, nil},
		{"silent", &status.Board{Recorder: recorder(nil, batch("fraud", "amount", 0, false, 1, 912)), Alerts: firing},
			[]string{`<span class="badge bad">silent</span>`, "Silent: last event 15m 12s before the clock check", "longer than the limit"}, nil, nil},
		{"an alert firing", &status.Board{Recorder: recorder(nil, batch("fraud", "amount", 0, false, 1, 20)), Alerts: firing},
			[]string{`<span class="badge warn">alerting</span>`, `<tr class="alert firing"><td><span class="sev warning">warning</span></td><td>SentinelTrainServeSkew</td>`,
				"1 firing, 0 pending", "2026-11-20 09:00 UTC (3h 0m)"}, nil, nil},
		{"many windows", &status.Board{Recorder: recorder(nil, many...)}, []string{">Nov 20 09:00</text>"}, nil,
			func(t *testing.T, body string) {
				if n := strings.Count(body, `<rect class="c-`); n != 5*500 {
					t.Errorf("%d timeline cells, want 5 kinds × 500 windows", n)
				}
				if n := strings.Count(body, `<circle class="pt`); n != 500 {
					t.Errorf("%d score points, want 500", n)
				}
				if n := strings.Count(body, `text-anchor="start"`); n > 8 {
					t.Errorf("%d time labels, want at most 8", n)
				}
			}},
		{"a canary", &status.Board{Recorder: recorder(nil, canary)},
			[]string{`<th>canary</th>`, `<tr><td>version:v2</td>`, `prediction_drift <span class="v">0.5 &gt; 0.2</span>`}, nil,
			func(t *testing.T, body string) {
				if n := strings.Count(body, `<rect class="c-`); n != 6 {
					t.Errorf("%d timeline cells, want 6 kinds (the canary's too) × 1 window", n)
				}
			}},
		{"a gap breaks the score line", &status.Board{Recorder: recorder(nil, gap...)}, nil, nil,
			func(t *testing.T, body string) {
				if n := strings.Count(body, `<polyline class="score"`); n != 2 {
					t.Errorf("%d score lines, want 2 on either side of the gap", n)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := page(t, tc.board, "GET", "/")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("the page holds %q", w)
				}
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

// TestStatusPageRoutes: the page is the root alone, for GET and HEAD, asks
// its sources on every request, and is absent without a source.
func TestStatusPageRoutes(t *testing.T) {
	alerts := &statustest.Alerts{}
	board := &status.Board{Recorder: recorder([]string{"fraud"}), Alerts: alerts}
	for _, tc := range []struct {
		method, path string
		src          StatusSource
		status       int
	}{
		{"GET", "/", board, 200},
		{"HEAD", "/", board, 200},
		{"POST", "/", board, 405},
		{"GET", "/index.html", board, 404},
		{"GET", "/fraud", board, 404},
		{"GET", "/", nil, 404},
		{"GET", "/healthz", board, 200},
	} {
		if resp, _ := page(t, tc.src, tc.method, tc.path); resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
	alerts.Set(status.Alert{Name: "SentinelModelSilent", Model: "fraud", Severity: "critical", Firing: true})
	if _, body := page(t, board, "GET", "/"); !strings.Contains(body, "SentinelModelSilent") {
		t.Error("an alert set after the first request is not on the page")
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		s    float64
		want string
	}{{3, "3 s"}, {59.6, "1m 0s"}, {312, "5m 12s"}, {3*3600 + 300, "3h 5m"}, {19*86400 + 36000, "19d 10h"}, {math.NaN(), "–"}} {
		if got := duration(tc.s); got != tc.want {
			t.Errorf("duration(%g) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func ExampleStatusSource() {
	rec := status.NewRecorder(nothing{}, status.Options{Models: []string{"fraud"}})
	h, _ := Handler(Options{Gatherer: prometheus.NewRegistry(), Alive: func() error { return nil },
		Ready: func(context.Context) error { return nil }, Status: &status.Board{Recorder: rec}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output: 200 text/html; charset=utf-8
}

// BenchmarkStatusPage renders the page of ten models of 50 features, each
// with a full timeline of 24 windows and a verdict naming three causes.
func BenchmarkStatusPage(b *testing.B) {
	var batches []store.Batch
	for m := range 10 {
		model := fmt.Sprintf("model_%02d", m)
		for i := range status.DefaultWindows {
			w := batch(model, "feature_00", i, i%6 == 0, float64(i%11), 20,
				check.Cause{Metric: "feature_01.mean", Actual: 3, Expected: 1, Contribution: 0.5},
				check.Cause{Metric: "feature_02.psi", Actual: 0.4, Expected: 0.01, Contribution: 0.3},
				check.Cause{Metric: "prediction.auc", Actual: 0.6, Expected: 0.8, Contribution: 0.2})
			for f := 1; f < 50; f++ {
				for _, r := range w.Results[1:3] {
					r.Feature = fmt.Sprintf("feature_%02d", f)
					w.Results = append(w.Results, r)
					r.Kind, r.Metric = check.Drift, r.Metric+"_vs_previous"
					w.Results = append(w.Results, r)
				}
			}
			batches = append(batches, w)
		}
	}
	board := &status.Board{Recorder: recorder(nil, batches...), Alerts: &statustest.Alerts{}}
	h, err := Handler(Options{Gatherer: prometheus.NewRegistry(), Alive: func() error { return nil },
		Ready: func(context.Context) error { return nil }, Status: board})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "page-bytes")
}
