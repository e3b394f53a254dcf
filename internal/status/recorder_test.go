package status_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/status"
	"github.com/sentinel-ml/sentinel/internal/status/statustest"
	"github.com/sentinel-ml/sentinel/internal/store"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

const size = 5 * time.Minute

// sink is the writer a recorder wraps in these tests.
type sink struct {
	mu      sync.Mutex
	fail    error
	batches int
}

func (s *sink) Write(_ context.Context, _ store.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.batches++
	return nil
}

// window builds the batch of window i of a model: its events, a skew and a
// drift check (breached when told), a skipped check, and a verdict with its
// threshold row when score is not NaN.
func window(model string, i int, events float64, skewBreached, driftBreached bool, score float64) store.Batch {
	start := t0.Add(time.Duration(i) * size)
	res := func(kind check.Kind, feature, metric string, value, threshold float64, breached bool) check.Result {
		return check.Result{Model: model, WindowStart: start, WindowEnd: start.Add(size), Kind: kind, Feature: feature,
			Metric: metric, Value: value, Threshold: threshold, Breached: breached}
	}
	b := store.Batch{Results: []check.Result{
		res(check.Quality, "", check.Events, events, math.NaN(), false),
		res(check.Skew, "amount", "psi", 0.7, 0.2, skewBreached),
		res(check.Drift, "amount", "psi_vs_previous", 0.5, 0.2, driftBreached),
		{Model: model, WindowStart: start, WindowEnd: start.Add(size), Kind: check.Drift, Feature: "country",
			Metric: "chi2_p_value_vs_previous", Value: 12, Threshold: 100, Skipped: check.SkipTooFewSamples},
	}}
	if !math.IsNaN(score) {
		b.Results = append(b.Results, res(check.Anomaly, "", check.Score, score, 3.48, score >= 3.48))
		b.Anomalies = []check.Verdict{{Model: model, WindowStart: start, WindowEnd: start.Add(size), Score: score,
			Anomaly: score >= 3.48, Statistic: "components", Causes: []check.Cause{{Metric: "amount.mean", Actual: 140, Expected: 62, Contribution: 0.7}}}}
	}
	return b
}

func starts(m status.Model) []string {
	var out []string
	for _, w := range m.Windows {
		out = append(out, w.Start.Format("15:04"))
	}
	return out
}

func TestRecorder(t *testing.T) {
	ctx := context.Background()
	clock := t0.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		keep    int
		models  []string
		batches []store.Batch
		check   func(t *testing.T, s status.Snapshot)
	}{
		{
			name: "configured models before their first window", models: []string{"fraud", "churn", "fraud"},
			check: func(t *testing.T, s status.Snapshot) {
				if len(s.Models) != 2 || s.Models[0].Name != "fraud" || s.Models[1].Name != "churn" || s.Models[0].Latest() != nil {
					t.Errorf("models %+v, want fraud then churn, no windows", s.Models)
				}
				if !s.At.Equal(clock) {
					t.Errorf("snapshot at %v, want %v", s.At, clock)
				}
			},
		},
		{
			name: "a window with its verdict", models: []string{"fraud"},
			batches: []store.Batch{window("fraud", 0, 40, true, false, 115)},
			check: func(t *testing.T, s status.Snapshot) {
				w := s.Models[0].Latest()
				if w == nil || w.Events != 40 || w.Total() != (status.Count{Checks: 2, Breached: 1, Skipped: 1}) ||
					w.Kinds[check.Skew] != (status.Count{Checks: 1, Breached: 1}) || len(w.Breached) != 1 || w.Breached[0].Metric != "psi" {
					t.Fatalf("window %+v", w)
				}
				v := w.Verdict
				if v == nil || v.Score != 115 || v.Threshold != 3.48 || !v.Anomaly || v.Statistic != "components" || len(v.Causes) != 1 {
					t.Errorf("verdict %+v", v)
				}
				if got := s.Models[0].Checks; len(got) != 3 || got[0].Feature != "amount" || got[0].Kind != check.Skew ||
					got[1].Kind != check.Drift || got[2].Feature != "country" {
					t.Errorf("checks %+v, want amount's skew and drift, then country's skipped drift", got)
				}
			},
		},
		{
			name: "many windows keep the latest, in order", keep: 5,
			batches: func() []store.Batch {
				var bs []store.Batch
				for _, i := range []int{3, 1, 2, 0, 4, 5, 6, 7, 8, 9, 0, 10, 11} {
					bs = append(bs, window("fraud", i, float64(i), false, false, math.NaN()))
				}
				return bs
			}(),
			check: func(t *testing.T, s status.Snapshot) {
				if got := fmt.Sprint(starts(s.Models[0])); got != "[09:35 09:40 09:45 09:50 09:55]" {
					t.Errorf("windows %s, want the last five", got)
				}
				if w := s.Models[0].Latest(); w.Verdict != nil || w.Events != 11 {
					t.Errorf("latest %+v, want no verdict and 11 events", w)
				}
			},
		},
		{
			name: "a window written again keeps its drift and verdict",
			batches: []store.Batch{
				window("fraud", 0, 40, false, true, 5),
				{Results: window("fraud", 0, 44, true, false, math.NaN()).Results[:2]}, // events and skew: a recheck
			},
			check: func(t *testing.T, s status.Snapshot) {
				w := s.Models[0].Latest()
				if len(s.Models[0].Windows) != 1 || w.Rewrites != 1 || w.Events != 44 || w.Verdict == nil || w.Verdict.Score != 5 {
					t.Fatalf("window %+v, want one rewritten window with 44 events and its verdict", w)
				}
				if w.Total() != (status.Count{Checks: 2, Breached: 2, Skipped: 1}) || len(w.Breached) != 2 {
					t.Errorf("counts %+v, breached %+v; want drift's kept and skew's new breach", w.Kinds, w.Breached)
				}
				if got := s.Models[0].Checks; len(got) != 3 || !got[0].Breached || !got[1].Breached {
					t.Errorf("checks %+v, want the rechecked skew and the kept drift, both breached", got)
				}
			},
		},
		{
			name: "a late rewrite of an older window leaves the table alone",
			batches: []store.Batch{
				window("fraud", 0, 40, false, false, math.NaN()),
				window("fraud", 1, 40, false, false, math.NaN()),
				{Results: window("fraud", 0, 41, true, false, math.NaN()).Results[:2]},
			},
			check: func(t *testing.T, s status.Snapshot) {
				m := s.Models[0]
				if m.Windows[0].Events != 41 || m.Windows[0].Total().Breached != 1 || m.Checks[0].Breached {
					t.Errorf("windows %+v, checks %+v", m.Windows, m.Checks)
				}
			},
		},
		{
			name: "staleness is the clock's, not a window",
			batches: []store.Batch{{Results: []check.Result{
				{Model: "fraud", WindowStart: t0, WindowEnd: t0.Add(size), Kind: check.Staleness, Metric: check.SecondsSinceEvent, Value: 912, Threshold: 300, Breached: true},
				{Model: "fraud", WindowStart: t0, WindowEnd: t0.Add(size), Kind: check.Staleness, Metric: check.ModelAgeSeconds, Value: 1e6, Threshold: math.NaN()},
			}}},
			check: func(t *testing.T, s status.Snapshot) {
				m := s.Models[0]
				if len(m.Windows) != 0 || len(m.Clock) != 2 || m.Clock[0].Value != 912 || !m.ClockAt.Equal(clock) {
					t.Errorf("model %+v, want the clock's two results and no window", m)
				}
			},
		},
		{
			name: "breaches past the bound are counted",
			batches: func() []store.Batch {
				b := window("fraud", 0, 40, true, true, math.NaN())
				for i := range 50 {
					r := b.Results[1]
					r.Feature = fmt.Sprintf("f%02d", i)
					b.Results = append(b.Results, r)
				}
				return []store.Batch{b}
			}(),
			check: func(t *testing.T, s status.Snapshot) {
				w := s.Models[0].Latest()
				if len(w.Breached) != status.MaxBreached || w.MoreBreached != 52-status.MaxBreached || w.Kinds[check.Skew].Breached != 51 {
					t.Errorf("%d breached kept, %d more, %+v by kind; want %d, %d and 51 skew", len(w.Breached), w.MoreBreached, w.Kinds,
						status.MaxBreached, 52-status.MaxBreached)
				}
			},
		},
		{
			name: "several models in one batch, unconfigured ones by name", models: []string{"fraud"},
			batches: []store.Batch{{Results: append(append(window("zeta", 0, 1, false, false, math.NaN()).Results,
				window("alpha", 0, 2, false, false, math.NaN()).Results...), window("fraud", 0, 3, false, false, math.NaN()).Results...)}},
			check: func(t *testing.T, s status.Snapshot) {
				var got []string
				for _, m := range s.Models {
					got = append(got, fmt.Sprintf("%s:%g", m.Name, m.Latest().Events))
				}
				if fmt.Sprint(got) != "[fraud:3 alpha:2 zeta:1]" {
					t.Errorf("models %v", got)
				}
			},
		},
		{
			name:    "profiles only: nothing to show",
			batches: []store.Batch{{Profiles: []store.WindowProfile{{Model: "fraud", WindowStart: t0}}}},
			check: func(t *testing.T, s status.Snapshot) {
				if len(s.Models) != 0 {
					t.Errorf("models %+v, want none", s.Models)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := status.NewRecorder(&sink{}, status.Options{Windows: tc.keep, Models: tc.models, Now: func() time.Time { return clock }})
			for _, b := range tc.batches {
				if err := rec.Write(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			tc.check(t, rec.Snapshot())
		})
	}
}

// TestRecorderShowsWhatIsDurable: a batch the wrapped writer refused is
// neither shown nor swallowed.
func TestRecorderShowsWhatIsDurable(t *testing.T) {
	next := &sink{fail: errors.New("clickhouse: connection refused")}
	rec := status.NewRecorder(next, status.Options{})
	if err := rec.Write(context.Background(), window("fraud", 0, 40, true, false, 9)); !errors.Is(err, next.fail) {
		t.Fatalf("Write = %v, want the writer's error", err)
	}
	if s := rec.Snapshot(); len(s.Models) != 0 {
		t.Errorf("a refused batch is shown: %+v", s.Models)
	}
	next.fail = nil
	if err := rec.Write(context.Background(), window("fraud", 0, 40, true, false, 9)); err != nil || next.batches != 1 {
		t.Fatalf("Write = %v after %d batches, want nil after 1", err, next.batches)
	}
	if s := rec.Snapshot(); len(s.Models) != 1 || s.Models[0].Latest().Verdict.Score != 9 {
		t.Errorf("snapshot %+v", s.Models)
	}
}

// TestRecorderConcurrent: the pipeline writes while the page reads (run
// with -race); a snapshot is not changed by later writes.
func TestRecorderConcurrent(t *testing.T) {
	rec := status.NewRecorder(&sink{}, status.Options{Windows: 8})
	first := make(chan status.Snapshot, 1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 200 {
			if err := rec.Write(context.Background(), window("fraud", i%20, float64(i), i%2 == 0, i%3 == 0, float64(i%7))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 200 {
			s := rec.Snapshot()
			if i == 100 {
				first <- s
			}
			for _, m := range s.Models {
				for _, w := range m.Windows {
					_ = w.Total()
				}
			}
		}
	}()
	wg.Wait()
	s := <-first
	before := fmt.Sprintf("%+v", s.Models)
	for i := range 20 {
		if err := rec.Write(context.Background(), window("fraud", 100+i, -1, true, true, 300)); err != nil {
			t.Fatal(err)
		}
	}
	if after := fmt.Sprintf("%+v", s.Models); after != before {
		t.Errorf("a snapshot changed under later writes:\n%s\n%s", before, after)
	}
}

func TestBoard(t *testing.T) {
	rec := status.NewRecorder(&sink{}, status.Options{Models: []string{"fraud", "churn"}})
	alerts := &statustest.Alerts{}
	alerts.Set(
		status.Alert{Name: "SentinelModelTooOld", Model: "fraud", Severity: "info", Firing: true, Since: t0},
		status.Alert{Name: "SentinelFeatureDrift", Model: "fraud", Feature: "amount", Severity: "warning", Since: t0},
		status.Alert{Name: "SentinelTrainServeSkew", Model: "fraud", Feature: "amount", Severity: "warning", Firing: true, Since: t0.Add(time.Minute)},
		status.Alert{Name: "SentinelSchemaSkew", Model: "fraud", Feature: "country", Severity: "critical", Firing: true, Since: t0.Add(2 * time.Minute)},
		status.Alert{Name: "SentinelModelSilent", Model: "ghost", Severity: "critical", Firing: true, Since: t0},
	)
	notes := status.Annotations{
		{Model: "fraud", Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour), Text: "incident: amounts in cents"},
		{Start: t0, Text: "deploy of 2026-11-20"},
		{Model: "churn", Start: t0, Text: "churn only"},
	}
	s := (&status.Board{Recorder: rec, Alerts: alerts, Annotations: notes}).Snapshot()
	var got []string
	for _, m := range s.Models {
		var names, texts []string
		for _, a := range m.Alerts {
			names = append(names, a.Name)
		}
		for _, n := range m.Annotations {
			texts = append(texts, n.Text)
		}
		got = append(got, fmt.Sprintf("%s %v %q", m.Name, names, texts))
	}
	want := []string{
		`fraud [SentinelSchemaSkew SentinelTrainServeSkew SentinelModelTooOld SentinelFeatureDrift] ["deploy of 2026-11-20" "incident: amounts in cents"]`,
		`churn [] ["deploy of 2026-11-20" "churn only"]`,
		`ghost [SentinelModelSilent] ["deploy of 2026-11-20"]`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || !s.Alerting {
		t.Errorf("board\n%s\nwant\n%s, alerting", got, want)
	}
	// Without sources the board is the recorder's.
	if s := (&status.Board{Recorder: rec}).Snapshot(); len(s.Models) != 2 || s.Models[0].Alerts != nil || s.Alerting {
		t.Errorf("board without sources: %+v", s.Models)
	}
}

// BenchmarkRecorderWrite is the recorder's cost on the write path for a
// window of a model of 50 features (about 600 results), and what a model
// keeps once its windows are full.
func BenchmarkRecorderWrite(b *testing.B) {
	const features, keep = 50, status.DefaultWindows
	batch := func(i int) store.Batch {
		w := window("fraud", i, 4000, i%10 == 0, false, 2)
		for f := range features {
			for m := range 12 {
				r := w.Results[1]
				r.Feature, r.Metric, r.Breached = fmt.Sprintf("feature_%02d", f), fmt.Sprintf("metric_%02d", m), i%10 == 0 && m == 0
				w.Results = append(w.Results, r)
			}
		}
		return w
	}
	batches := make([]store.Batch, 2*keep)
	for i := range batches {
		batches[i] = batch(i)
	}
	rec := status.NewRecorder(&sink{}, status.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := rec.Write(ctx, batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rec = nil
	// What a model holds with its windows full, outside the timing.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	held := status.NewRecorder(&sink{}, status.Options{})
	for i := range batches {
		if err := held.Write(ctx, batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "B/model")
	runtime.KeepAlive(held)
	runtime.KeepAlive(batches)
}

// TestKindRank: the table's order of kinds is check.Kinds'.
func TestKindRank(t *testing.T) {
	for i, k := range check.Kinds() {
		if got := status.KindRank(k); got != i {
			t.Errorf("rank of %s = %d, want %d", k, got, i)
		}
	}
}
