package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/golden"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/store"
)

func shadowedModel(t *testing.T) *model.Model {
	t.Helper()
	i := 0
	return modeltest.Rows(t, `model: churn
prediction: {kind: probability}
versions: {max_silence: 2m}
shadow: {reference: v1, candidate: v2, max_disagreement: 0.05, max_delay: 5s}
features: [{name: x, type: numeric}]
`, 100, nil, func(_ *rand.Rand, csv *strings.Builder) {
		fmt.Fprintf(csv, "%d", i%10)
		i++
	})
}

// versionsRecording writes eight minutes of a model's traffic, 100 requests a
// minute. v1 scores every request 0.2; v2 scores the same requests 0.3, but
// 0.7 every tenth (a known disagreement at 0.5 of 10%, differences of 0.1 and
// 0.5) half a second later, until it goes silent at 10:04; from 10:05 a new
// version v3 serves requests of its own.
func versionsRecording(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	line := func(version, id string, x int, at time.Time, p float64) {
		fmt.Fprintf(&b, `{"model": "churn", "model_version": %q, "request_id": %q, "timestamp": %q, "features": {"x": %d}, "prediction": %v}`+"\n",
			version, id, at.Format(time.RFC3339Nano), x, p)
	}
	for i := range 800 {
		at := t0.Add(time.Duration(i) * 600 * time.Millisecond)
		id := fmt.Sprintf("r%d", i)
		line("v1", id, i%10, at, 0.2)
		if at.Before(t0.Add(4 * time.Minute)) {
			p := 0.3
			if i%10 == 0 {
				p = 0.7
			}
			line("v2", id, i%10, at.Add(500*time.Millisecond), p)
		}
		if !at.Before(t0.Add(5*time.Minute)) && i%5 == 0 {
			line("v3", "c"+id, i%10, at, 0.25)
		}
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReplayVersions replays two versions scoring the same requests, one of
// them going silent, and a new one: the shadow comparison equals the
// disagreement and differences the recording was made with, the silent
// candidate is unpaired and then stale, and the new version is an info
// finding.
func TestReplayVersions(t *testing.T) {
	var out bytes.Buffer
	findings := NewFindingsWriter(&out)
	rec := &recorder{}
	opts := testOptions(shadowedModel(t), store.Tee(rec, findings))
	opts.EventTime, opts.Now, opts.ReplayTick = true, nil, time.Minute // as replay runs
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: versionsRecording(t), MaxLineBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := Replay(context.Background(), src, p); err != nil {
		t.Fatal(err)
	}
	if err := findings.Flush(); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "replay-versions.jsonl"), out.Bytes())

	got := map[string]check.Result{}
	for _, b := range rec.batches {
		for _, r := range b.Results {
			if r.Kind == check.Shadow || r.Kind == check.Availability {
				got[fmt.Sprintf("%s %s %s", r.WindowStart.Format("15:04"), r.Feature, r.Metric)] = r
			}
		}
	}
	for _, w := range []string{"10:00", "10:01", "10:02"} {
		for metric, want := range map[string]float64{check.Pairs: 100, check.DisagreementRatio: 0.1,
			check.AbsDifferenceMean: 0.9*0.1 + 0.1*0.5, check.UnpairedRatio: 0} {
			if r := got[w+"  "+metric]; math.Abs(r.Value-want) > 1e-9 {
				t.Errorf("%s %s = %v, want %v", w, metric, r.Value, want)
			}
		}
		// The sketch's quantiles are within 0.5% of the differences.
		for metric, want := range map[string]float64{check.AbsDifferenceP50: 0.1, check.AbsDifferenceP95: 0.5} {
			if r := got[w+"  "+metric]; math.Abs(r.Value-want) > 0.005*want {
				t.Errorf("%s %s = %v, want %v", w, metric, r.Value, want)
			}
		}
		if r := got[w+"  "+check.DisagreementRatio]; !r.Breached || r.Threshold != 0.05 {
			t.Errorf("%s: disagreement %+v is not breached at max_disagreement", w, r)
		}
	}
	// From 10:04, v1 scores alone: every request it scores is unpaired,
	// counted in the window whose close gives it up, max_delay (5s) after
	// it. The drain gives up what the watermark has passed by max_delay: the
	// last 15s (lateness and max_delay) are neither paired nor given up.
	for w, want := range map[string]float64{"10:04": 92, "10:05": 100, "10:06": 100, "10:07": 82} {
		if r := got[w+"  "+check.UnpairedRatio]; r.Value != 1 || !r.Breached || got[w+"  "+check.ReferenceOnly].Value != want {
			t.Errorf("%s: unpaired %+v, reference only %v; want all %v", w, r, got[w+"  "+check.ReferenceOnly].Value, want)
		}
	}
	v2, v3 := check.VersionFeature("v2"), check.VersionFeature("v3")
	// Its last event is at 10:03:59.9: the window ending at 10:06 is 120.1s
	// later, past max_silence.
	for w, breached := range map[string]bool{"10:04": false, "10:05": true, "10:06": true, "10:07": true} {
		if r := got[w+" "+v2+" "+check.SecondsSinceEvent]; r.Breached != breached || got[w+" "+v2+" "+check.Events].Value != 0 {
			t.Errorf("%s: v2 silent for %vs, breached %v; want breached %v", w, r.Value, r.Breached, breached)
		}
	}
	if r := got["10:05 "+v3+" "+check.NewVersion]; !r.Breached || got["10:05 "+v3+" "+check.Events].Value != 20 {
		t.Errorf("v3 at 10:05: new_version %+v, events %v", r, got["10:05 "+v3+" "+check.Events].Value)
	}
	for k, r := range got {
		if r.Metric == check.NewVersion && !strings.HasPrefix(k, "10:05 "+v3) && !strings.HasPrefix(k, "10:06 "+v3) {
			t.Errorf("%s: a version reported new", k)
		}
	}
	// /metrics publishes the last window's results that carry a threshold.
	published := gauges(t, reg, "sentinel_check_value", func(l map[string]string) (string, bool) {
		return l["feature"] + " " + l["metric"], l["kind"] == string(check.Shadow) || l["kind"] == string(check.Availability)
	})
	if published[" "+check.UnpairedRatio] != 1 || published[v2+" "+check.SecondsSinceEvent] != 240.1 {
		t.Errorf("published shadow and availability results %v", published)
	}
	var summaries int
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var s WindowSummary
		if json.Unmarshal(line, &s) == nil && s.Summary != "" {
			summaries++
		}
	}
	if summaries != 16 {
		t.Errorf("%d shadow and version lines, want two for each of 8 windows", summaries)
	}
}

// TestShadowAfterIdle: an idle partition hands its windows over at the end of
// time, but the shadow join expires only by the partition's watermark, so
// that the pairs of the traffic that wakes it still pair.
func TestShadowAfterIdle(t *testing.T) {
	rec := &recorder{}
	opts := testOptions(shadowedModel(t), rec)
	now := t0
	opts.Now = func() time.Time { return now }
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	offset := int64(0)
	send := func(version, id string, at time.Duration) {
		t.Helper()
		line := fmt.Sprintf(`{"model": "churn", "model_version": %q, "request_id": %q, "timestamp": %q, "features": {"x": 1}, "prediction": 0.4}`,
			version, id, t0.Add(at).Format(time.RFC3339Nano))
		if err := p.Process(ctx, msg(offset, []byte(line))); err != nil {
			t.Fatal(err)
		}
		offset++
	}
	send("v1", "a", time.Second)
	send("v2", "a", 2*time.Second)
	now = t0.Add(5 * time.Minute)
	if err := p.Tick(ctx); err != nil { // idle: the 10:00 window is handed over
		t.Fatal(err)
	}
	send("v1", "b", 5*time.Minute)
	send("v2", "b", 5*time.Minute+time.Second)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	pairs := map[string]float64{}
	for _, b := range rec.batches {
		for _, r := range b.Results {
			if r.Kind == check.Shadow && r.Metric == check.Pairs {
				pairs[r.WindowStart.Format("15:04")] = r.Value
			}
		}
	}
	if pairs["10:00"] != 1 || pairs["10:05"] != 1 {
		t.Errorf("pairs by window %v, want one at 10:00 and one at 10:05", pairs)
	}
}
