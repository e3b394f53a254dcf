package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/golden"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

const example = "../../examples/fraud"

// exampleModel is the shipped fraud model with a baseline built from its
// training data.
func exampleModel(t testing.TB) *model.Model { return modeltest.Example(t, example) }

// recorder is a store.Writer that keeps what it is given.
type recorder struct {
	batches []store.Batch
	fail    error
}

func (r *recorder) Write(_ context.Context, b store.Batch) error {
	if r.fail != nil {
		return r.fail
	}
	r.batches = append(r.batches, b.Clone())
	return nil
}

func (r *recorder) windows() []string {
	var out []string
	for _, b := range r.batches {
		for _, p := range b.Profiles {
			if p.Feature == "" {
				out = append(out, fmt.Sprintf("%s %s %d", p.Model, p.WindowStart.Format("15:04"), p.Rows))
			}
		}
	}
	return out
}

// letters is a DeadLetters that keeps reasons.
type letters struct{ reasons []string }

func (l *letters) Enqueue(_ context.Context, _ ingest.Message, reason, _ string) error {
	l.reasons = append(l.reasons, reason)
	return nil
}
func (l *letters) Pending(string, int) (int64, bool) { return 0, false }
func (l *letters) Flush(context.Context) error       { return nil }
func (l *letters) Close() error                      { return nil }

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func testOptions(m *model.Model, w store.Writer) Options {
	return Options{Models: []*model.Model{m}, Window: time.Minute, Lateness: 10 * time.Second, ReferencePeriod: time.Hour,
		MinSamples: 1, MaxMessageBytes: 4096, Writer: w, Now: func() time.Time { return t0 },
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
}

func ev(at time.Time, amount string) []byte {
	return []byte(fmt.Sprintf(`{"model": "fraud", "timestamp": %q, "features": {"amount": %s, "age": 30, "country": "DE", "device": "mobile", "is_new": false, "merchant_risk": 0.3}, "prediction": 0.2, "latency_ms": 5}`,
		at.Format(time.RFC3339Nano), amount))
}

func msg(offset int64, value []byte) ingest.Message {
	return ingest.Message{Topic: "events", Partition: 0, Offset: offset, Value: value}
}

// TestWatermark: a window closes once an event later than its end plus the
// allowed lateness arrives, and events behind the watermark count as late.
func TestWatermark(t *testing.T) {
	rec := &recorder{}
	p, err := New(testOptions(exampleModel(t), rec))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		at      time.Duration
		windows []string
	}{
		{5 * time.Second, nil},
		{50 * time.Second, nil},
		{65 * time.Second, nil}, // inside the lateness: 10:00 stays open
		{30 * time.Second, nil}, // late but within lateness: joins 10:00
		{71 * time.Second, []string{"fraud 10:00 3"}},
		{40 * time.Second, []string{"fraud 10:00 3"}}, // behind the watermark: a late share
		{185 * time.Second, []string{"fraud 10:00 3", "fraud 10:01 2"}},
	}
	for i, s := range steps {
		if err := p.Process(ctx, msg(int64(i), ev(t0.Add(s.at), "12.5"))); err != nil {
			t.Fatal(err)
		}
		if got := rec.windows(); !slices.Equal(got, s.windows) {
			t.Fatalf("after event at +%s: windows %v, want %v", s.at, got, s.windows)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.windows(); len(got) != 3 || got[2] != "fraud 10:03 1" {
		t.Errorf("after flush: %v", got)
	}
	// With no store to read 10:00 back from, its late event is counted late
	// (as well as admitted).
	if st := p.Stats(); st.Late != 1 || st.Events != 7 || st.Windows != 3 {
		t.Errorf("stats %+v, want 1 late, 7 events, 3 windows", st)
	}
}

// TestCommittable: offsets are released only behind the lowest offset a share
// not yet written still holds, and a window waits for every partition.
func TestCommittable(t *testing.T) {
	rec := &recorder{}
	opts := testOptions(exampleModel(t), rec)
	opts.Partitions = 2
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	feed := func(partition int, offset int64, at time.Duration) {
		t.Helper()
		m := ingest.Message{Topic: "events", Partition: partition, Offset: offset, Value: ev(t0.Add(at), "1")}
		if err := p.Process(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	committable := func() map[string]int64 {
		out := map[string]int64{}
		for _, m := range p.Committable() {
			out[fmt.Sprintf("%s/%d", m.Topic, m.Partition)] = m.Offset
		}
		return out
	}
	feed(0, 10, 5*time.Second)  // window 10:00
	feed(1, 20, 6*time.Second)  // window 10:00
	feed(0, 11, 65*time.Second) // window 10:01
	if got := committable(); len(got) != 0 {
		t.Errorf("with 10:00 open, committable %v, want nothing", got)
	}
	feed(1, 21, 75*time.Second)
	if got := committable(); len(got) != 0 || len(rec.windows()) != 0 {
		t.Errorf("with partition 0 behind, 10:00 stays open; committable %v, windows %v", got, rec.windows())
	}
	feed(0, 12, 80*time.Second) // both partitions past 10:01 + lateness: closes 10:00
	if got := committable(); got["events/0"] != 10 || got["events/1"] != 20 {
		t.Errorf("with 10:01 open, committable %v, want events/0:10 events/1:20", got)
	}
	// A rejection holds its offset until its count is written.
	if err := p.Process(ctx, ingest.Message{Topic: "labels", Partition: 0, Offset: 7, Value: []byte("{")}); err != nil {
		t.Fatal(err)
	}
	if got := committable(); len(got) != 2 {
		t.Errorf("with a rejection not yet counted in the store, committable %v", got)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := committable(); got["events/0"] != 12 || got["events/1"] != 21 || got["labels/0"] != 7 {
		t.Errorf("after flush committable %v, want events/0:12 events/1:21 labels/0:7", got)
	}
}

// TestWindowWaitsForEveryPartition: a window closes only once every partition
// of the events topic has passed it, however far the others run ahead — the
// partitions a restarted member is not given yet hold it open — and the late
// partition's events all count.
func TestWindowWaitsForEveryPartition(t *testing.T) {
	rec := &recorder{}
	opts := testOptions(exampleModel(t), rec)
	opts.Partitions = 2
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 30 {
		m := ingest.Message{Topic: "events", Partition: 0, Offset: int64(i), Value: ev(t0.Add(time.Duration(i)*time.Minute), "1")}
		if err := p.Process(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.windows(); len(got) != 0 {
		t.Fatalf("windows %v closed while partition 1 had reported nothing", got)
	}
	for i := range 4 {
		m := ingest.Message{Topic: "events", Partition: 1, Offset: int64(i), Value: ev(t0.Add(time.Duration(i)*time.Minute+time.Second), "2")}
		if err := p.Process(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.windows(); !slices.Equal(got, []string{"fraud 10:00 2", "fraud 10:01 2"}) {
		t.Errorf("once partition 1 passed 10:01, windows %v; want 10:00 and 10:01 with both partitions' events", got)
	}
}

// TestRestartSkipsWrittenWindows: after a restart, events of windows the store
// already holds are skipped, not counted again or as late; the last window
// written is reopened and takes the events it had not counted.
func TestRestartSkipsWrittenWindows(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	m := exampleModel(t)
	first, err := New(testOptions(m, mem))
	if err != nil {
		t.Fatal(err)
	}
	at := []time.Duration{-110 * time.Second, -50 * time.Second, 10 * time.Second} // 09:58, 09:59, 10:00
	for i, d := range at {
		if err := first.Process(ctx, msg(int64(i), ev(t0.Add(d), "3"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	p, err := New(testOptions(m, rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Restore(ctx, mem); err != nil {
		t.Fatal(err)
	}
	again := []struct {
		offset int64
		at     time.Duration
	}{{0, at[0]}, {2, at[2]}, {3, 30 * time.Second}, {4, 200 * time.Second}}
	for _, e := range again {
		if err := p.Process(ctx, msg(e.offset, ev(t0.Add(e.at), "3"))); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Skipped != 2 || st.Late != 0 || st.Events != 2 {
		t.Errorf("stats %+v, want 2 skipped, 0 late, 2 events", st)
	}
	// Only 10:00 was written by the drain before every partition had passed
	// it: it is reopened and written again; 09:59 was complete.
	if got := rec.windows(); !slices.Equal(got, []string{"fraud 10:00 2"}) {
		t.Errorf("windows %v", got)
	}
}

func TestRejections(t *testing.T) {
	tests := []struct {
		value  string
		reason string
	}{
		{`not json`, "not_object"},
		{`{"model": "fraud", "timestamp": "2026-11-21T10:00:00Z", "features": {"amount": 1}`, "invalid_json"},
		{`{"timestamp": "2026-11-21T10:00:00Z", "features": {}}`, ReasonMissingModel},
		{`{"model": "churn", "timestamp": "2026-11-21T10:00:00Z", "features": {}}`, ReasonUnknownModel},
		{`{"model": "fraud", "features": {}}`, ReasonMissingTimestamp},
		{`{"model": "fraud", "timestamp": "yesterday", "features": {}}`, "bad_timestamp"},
		{`{"model": "fraud", "timestamp": "2031-01-01T00:00:00Z", "features": {}}`, ReasonAbsurdTimestamp},
		{`{"model": "fraud", "timestamp": "2001-01-01T00:00:00Z", "features": {}}`, ReasonAbsurdTimestamp},
		{`{"model": 7, "timestamp": "2026-11-21T10:00:00Z", "features": {}}`, "bad_field_type"},
		{`{"model": "fraud", "timestamp": "2026-11-21T10:00:00Z", "features": [1]}`, "bad_field_type"},
		{`{"model": "fraud", "timestamp": "2026-11-21T10:00:00Z", "features": {}, "pad": "` + strings.Repeat("x", 5000) + `"}`, ReasonOversized},
	}
	rec, dl := &recorder{}, &letters{}
	opts := testOptions(exampleModel(t), rec)
	opts.DeadLetters = dl
	opts.MaxFutureSkew, opts.MaxAge = 5*time.Minute, 24*time.Hour
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		if err := p.Process(context.Background(), msg(int64(i), []byte(tc.value))); err != nil {
			t.Fatal(err)
		}
		if got := dl.reasons[len(dl.reasons)-1]; len(dl.reasons) != i+1 || got != tc.reason {
			t.Errorf("%.60s: dead-lettered as %q (%d letters), want %q", tc.value, got, len(dl.reasons), tc.reason)
		}
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, b := range rec.batches {
		for _, r := range b.Rejected {
			total += r.Count
		}
	}
	if total != uint64(len(tests)) {
		t.Errorf("%d rejections written, want %d", total, len(tests))
	}
	want := `
# HELP sentinel_events_rejected_total Messages rejected to the dead-letter topic, by reason.
# TYPE sentinel_events_rejected_total counter
sentinel_events_rejected_total{model="fraud",reason="absurd_timestamp"} 2
sentinel_events_rejected_total{model="fraud",reason="missing_timestamp"} 1
sentinel_events_rejected_total{model="unknown",reason="bad_field_type"} 2
sentinel_events_rejected_total{model="unknown",reason="bad_timestamp"} 1
sentinel_events_rejected_total{model="unknown",reason="invalid_json"} 1
sentinel_events_rejected_total{model="unknown",reason="missing_model"} 1
sentinel_events_rejected_total{model="unknown",reason="not_object"} 1
sentinel_events_rejected_total{model="unknown",reason="oversized"} 1
sentinel_events_rejected_total{model="unknown",reason="unknown_model"} 1
`
	if err := testutil.GatherAndCompare(opts.Registerer.(prometheus.Gatherer), strings.NewReader(want), "sentinel_events_rejected_total"); err != nil {
		t.Error(err)
	}
}

// TestWriteFailureStopsProcessing: when results cannot be made durable, Process
// says so rather than moving on (and the runner stops consuming).
func TestWriteFailureStopsProcessing(t *testing.T) {
	rec := &recorder{fail: errors.New("clickhouse down")}
	p, err := New(testOptions(exampleModel(t), rec))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Process(ctx, msg(0, ev(t0, "1"))); err != nil {
		t.Fatal(err)
	}
	err = p.Process(ctx, msg(1, ev(t0.Add(2*time.Minute), "1")))
	if err == nil || !strings.Contains(err.Error(), "clickhouse down") {
		t.Errorf("error %v, want the write failure", err)
	}
	if got := p.Committable(); len(got) != 0 {
		t.Errorf("after a failed write, committable %v, want nothing", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	m := exampleModel(t)
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no models", func(o *Options) { o.Models = nil }, "no models"},
		{"twice", func(o *Options) { o.Models = append(o.Models, m) }, "model fraud is configured twice"},
		{"window", func(o *Options) { o.Window = time.Millisecond }, "shorter than 1s"},
		{"lateness", func(o *Options) { o.Lateness = -time.Second }, "allowed lateness -1s is negative"},
		{"partitions", func(o *Options) { o.Partitions = -1 }, "partitions -1 is negative"},
		{"reference", func(o *Options) { o.ReferencePeriod = time.Second }, "reference period 1s is shorter"},
		{"min samples", func(o *Options) { o.MinSamples = 0 }, "min samples 0"},
		{"message bytes", func(o *Options) { o.MaxMessageBytes = 0 }, "max message bytes 0"},
		{"writer", func(o *Options) { o.Writer = nil }, "no writer"},
		{"clock", func(o *Options) { o.Now = nil }, "no clock"},
	}
	for _, tc := range tests {
		o := testOptions(m, &recorder{})
		tc.change(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestReplayExample is the stage contract test of the pipeline: its findings on
// the shipped two hours of traffic are a golden file (go test -update rewrites
// it; review the diff).
func TestReplayExample(t *testing.T) {
	var out bytes.Buffer
	findings := NewFindingsWriter(&out)
	opts := testOptions(exampleModel(t), findings)
	opts.Window, opts.MinSamples = 5*time.Minute, 100
	opts.Labels = &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 10000}
	opts.Anomaly = &analyze.AnomalyOptions{FitAfter: 10, HistoryWindows: 100, FalseAlarmRate: 0.002}
	opts.EventTime, opts.Now, opts.ReplayTick = true, nil, 5*time.Minute // as replay runs
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: example + "/events.jsonl", MaxLineBytes: 4097})
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
	st := p.Stats()
	fmt.Fprintf(&out, `{"events_read": %d, "events": %d, "labels": %d, "rejected": %d, "late": %d, "windows": %d}`+"\n",
		st.Messages, st.Events, st.Labels, st.Rejected, st.Late, st.Windows)
	golden.Check(t, filepath.Join("testdata", "replay-fraud.jsonl"), out.Bytes())
	// The incident starts at 10:00: nothing in the healthy first hour may be
	// breached but borderline noise, and every incident window has findings.
	early, incident, anomalies := 0, map[string]bool{}, map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var f Finding
		if err := json.Unmarshal(line, &f); err != nil || f.Model == "" {
			continue
		}
		if f.WindowStart.Hour() < 10 {
			if f.Kind != check.Anomaly {
				early++
			}
			continue
		}
		incident[f.WindowStart.Format("15:04")] = true
		if f.Kind == check.Anomaly && f.Threshold != nil && f.Value > *f.Threshold && len(f.Causes) > 0 {
			anomalies[f.WindowStart.Format("15:04")] = true
		}
	}
	if early > 2 || len(incident) != 12 {
		t.Errorf("%d check findings before the incident, %d incident windows with findings; want at most 2 and 12", early, len(incident))
	}
	// The detector, fitted on the first ten windows, flags every incident window
	// and names its causes.
	if len(anomalies) != 12 {
		t.Errorf("anomalies in %d incident windows, want 12", len(anomalies))
	}
}

func csvOpener(data string) profile.Opener {
	return func() (dataset.Reader, io.Closer, error) {
		r, err := dataset.NewCSV(strings.NewReader(data))
		return r, io.NopCloser(nil), err
	}
}

// TestLabelsJoin: labels arriving after (or before) their predictions are joined
// by request id and scored in the window of the later of the two, wherever
// the message that completed the pair falls.
func TestLabelsJoin(t *testing.T) {
	rec := &recorder{}
	opts := testOptions(exampleModel(t), rec)
	opts.Labels = &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 100}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pred := func(id string, at time.Duration, prediction float64) []byte {
		return []byte(fmt.Sprintf(`{"model": "fraud", "request_id": %q, "timestamp": %q, "features": {}, "prediction": %v}`,
			id, t0.Add(at).Format(time.RFC3339Nano), prediction))
	}
	label := func(id string, at time.Duration, value string) []byte {
		return []byte(fmt.Sprintf(`{"model": "fraud", "request_id": %q, "timestamp": %q, "label": %s}`,
			id, t0.Add(at).Format(time.RFC3339Nano), value))
	}
	msgs := [][]byte{
		pred("a", 1*time.Second, 0.9),
		pred("b", 2*time.Second, 0.2),
		label("c", 3*time.Second, "1"),  // before its prediction
		pred("c", 4*time.Second, 0.4),   // joins now: wrong at 0.5
		label("e", 65*time.Second, "0"), // read before its prediction, a window later
		pred("e", 58*time.Second, 0.3),  // joins now, scored at 10:01
		label("a", 70*time.Second, "1"),
		label("b", 71*time.Second, "false"),
		label("zzz", 72*time.Second, "1"),     // never predicted
		label("b", 73*time.Second, `"maybe"`), // not a label of a probability
		pred("d", 200*time.Second, 0.5),       // closes both windows
	}
	for i, m := range msgs {
		if err := p.Process(ctx, msg(int64(i), m)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]float64{}
	for _, b := range rec.batches {
		for _, r := range b.Results {
			if r.Kind == check.Performance {
				got[r.WindowStart.Format("15:04")+" "+r.Metric] = r.Value
			}
		}
	}
	want := map[string]float64{
		"10:00 labelled": 1, "10:00 accuracy": 0, "10:00 label_positive_rate": 1, "10:00 mean_prediction": 0.4,
		"10:00 log_loss": -math.Log(0.4),
		"10:01 labelled": 3, "10:01 accuracy": 1, "10:01 auc": 1, "10:01 label_positive_rate": 1.0 / 3, "10:01 mean_prediction": 1.4 / 3,
		"10:01 log_loss": -(math.Log(0.9) + math.Log(0.8) + math.Log(0.7)) / 3, "10:01 bad_labels": 1,
	}
	for k, v := range want {
		if math.Abs(got[k]-v) > 1e-12 {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("performance results %v, want %v", got, want)
	}
	if st := p.Stats(); st.Labels != 6 || st.Events != 5 {
		t.Errorf("stats %+v, want 6 labels, 5 events", st)
	}
}

// TestTick: a model that goes quiet is reported stale and its last window is
// closed by the clock, since no later event will close it.
func TestTick(t *testing.T) {
	rec := &recorder{}
	now := t0
	opts := testOptions(exampleModel(t), rec)
	opts.Now = func() time.Time { return now }
	opts.MaxSilence, opts.MaxModelAge = 5*time.Minute, 10*24*time.Hour
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Process(ctx, msg(0, ev(t0.Add(5*time.Second), "1"))); err != nil {
		t.Fatal(err)
	}
	stale := func() (silence, age check.Result) {
		for _, r := range rec.batches[len(rec.batches)-1].Results {
			switch r.Metric {
			case "seconds_since_last_event":
				silence = r
			case "model_age_seconds":
				age = r
			}
		}
		return silence, age
	}
	now = t0.Add(30 * time.Second)
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.windows(); len(got) != 0 {
		t.Errorf("30s after the last event, windows %v closed; want none", got)
	}
	if s, a := stale(); s.Value != 30 || s.Breached || !a.Breached || a.Value != (20*24*time.Hour+10*time.Hour+30*time.Second).Seconds() {
		t.Errorf("silence %+v, age %+v", s, a)
	}
	now = t0.Add(10 * time.Minute)
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.windows(); !slices.Equal(got, []string{"fraud 10:00 1"}) {
		t.Errorf("after ten quiet minutes, windows %v; want 10:00 closed", got)
	}
	if s, _ := stale(); s.Value != 600 || !s.Breached || s.Kind != check.Staleness {
		t.Errorf("silence %+v, want 600 s breached", s)
	}
}

// TestKeyedSkew: served values are compared with the offline values of the same
// request, whichever arrives first, and each feature reports the share differing.
func TestKeyedSkew(t *testing.T) {
	rec := &recorder{}
	opts := testOptions(exampleModel(t), rec)
	opts.FeaturesTopic = "features"
	opts.KeyedSkew = skew.KeyedOptions{Tolerance: 1e-6, MaxPending: 100, MaxDelay: time.Hour}
	opts.MaxMismatchRatio = 0.25
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	served := func(id string, amount float64, country string) []byte {
		return []byte(fmt.Sprintf(`{"model": "fraud", "request_id": %q, "timestamp": %q, "features": {"amount": %v, "country": %q}, "prediction": 0.5}`,
			id, t0.Add(time.Second).Format(time.RFC3339), amount, country))
	}
	offline := func(id string, amount float64, country string) []byte {
		return []byte(fmt.Sprintf(`{"model": "fraud", "request_id": %q, "timestamp": %q, "features": {"amount": %v, "country": %q}}`,
			id, t0.Add(2*time.Second).Format(time.RFC3339), amount, country))
	}
	msgs := []ingest.Message{
		{Topic: "events", Value: served("a", 10, "DE")},
		{Topic: "events", Value: served("b", 20, "FR")},
		{Topic: "features", Value: offline("c", 30, "US")}, // before its serving side
		{Topic: "events", Value: served("c", 30, "US")},
		{Topic: "features", Value: offline("a", 10.000000001, "DE")},
		{Topic: "features", Value: offline("b", 25, "FR")},
		{Topic: "events", Value: served("d", 1, "DE")}, // never joined
		{Topic: "events", Value: ev(t0.Add(5*time.Minute), "1")},
	}
	for i, m := range msgs {
		m.Offset = int64(i)
		if err := p.Process(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]check.Result{}
	for _, b := range rec.batches {
		for _, r := range b.Results {
			if r.Metric == "keyed_mismatch_ratio" {
				got[r.Feature] = r
			}
		}
	}
	if a := got["amount"]; math.Abs(a.Value-1.0/3) > 1e-12 || !a.Breached || a.Threshold != 0.25 {
		t.Errorf("amount: %+v, want a third of three requests differing, breached", a)
	}
	if c := got["country"]; c.Value != 0 || c.Breached {
		t.Errorf("country: %+v, want none differing", c)
	}
	if len(got) != 2 {
		t.Errorf("keyed results for %d features, want 2 (the others were never sent)", len(got))
	}
	if st := p.Stats(); st.Offline != 3 || st.Events != 5 {
		t.Errorf("stats %+v, want 3 offline records and 5 events", st)
	}
}

// TestRestore: a window written at a drain is reopened from its profiles; a
// message it had counted is skipped when read again, a new one is added.
func TestRestore(t *testing.T) {
	m := exampleModel(t)
	mem := store.NewMemory()
	p, err := New(testOptions(m, mem))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := int64(0); i < 3; i++ {
		if err := p.Process(ctx, msg(i, ev(t0.Add(time.Duration(i)*time.Second), "7"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil { // the drain: 10:00 written with three events
		t.Fatal(err)
	}

	rec2 := &recorder{}
	q, err := New(testOptions(m, rec2))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Restore(ctx, mem); err != nil {
		t.Fatal(err)
	}
	for _, o := range []int64{2, 3} { // offset 2 was counted; 3 is new
		if err := q.Process(ctx, msg(o, ev(t0.Add(30*time.Second), "7"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec2.windows(); !slices.Equal(got, []string{"fraud 10:00 4"}) {
		t.Errorf("rewritten windows %v, want 10:00 with 4 events", got)
	}
	var amountRows uint64
	for _, r := range rec2.batches[len(rec2.batches)-1].Profiles {
		if r.Feature == "amount" {
			amountRows = r.Rows
		}
	}
	if st := q.Stats(); st.Skipped != 1 || amountRows != 4 {
		t.Errorf("skipped %d, amount rows %d; want 1 and 4", st.Skipped, amountRows)
	}
}

// TestRestorePrevious: after a restart, the window reopened from the store is
// compared with the window before it, restored from the store too, exactly as
// the pipeline that wrote them compared it.
func TestRestorePrevious(t *testing.T) {
	m := exampleModel(t)
	rec, mem := &recorder{}, store.NewMemory()
	p, err := New(testOptions(m, store.Tee(rec, mem)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := int64(0); i < 90; i++ {
		at := t0.Add(time.Duration(i) * 2 * time.Second) // 10:00 to 10:02:58
		if err := p.Process(ctx, msg(i, ev(at, fmt.Sprint(10+i%7+i/30*20)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	drift := func(r *recorder, start time.Time) map[string]float64 {
		out := make(map[string]float64)
		for _, b := range r.batches {
			for _, c := range b.Results {
				if c.WindowStart.Equal(start) && c.Kind == check.Drift && strings.HasSuffix(c.Metric, "_vs_previous") {
					out[c.Feature+" "+c.Metric] = c.Value
				}
			}
		}
		return out
	}
	want := drift(rec, t0.Add(2*time.Minute))
	if len(want) == 0 {
		t.Fatal("the first pipeline reported no drift against the previous window")
	}

	rec2 := &recorder{}
	q, err := New(testOptions(m, rec2))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Restore(ctx, mem); err != nil {
		t.Fatal(err)
	}
	if err := q.Flush(ctx); err != nil { // 10:02 closes again, with nothing new
		t.Fatal(err)
	}
	if got := drift(rec2, t0.Add(2*time.Minute)); !maps.Equal(got, want) {
		t.Errorf("after the restart, drift against the previous window %v; before it %v", got, want)
	}
}

// TestLogsWindowsAndBreaches: a line per window closed, and a breach logged
// once per ten windows however long it lasts.
func TestLogsWindowsAndBreaches(t *testing.T) {
	var logs bytes.Buffer
	opts := testOptions(exampleModel(t), &recorder{})
	opts.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 25 {
		// A text amount is of the wrong type, which the contract tolerates
		// none of, in every window.
		if err := p.Process(ctx, msg(int64(i), ev(t0.Add(time.Duration(i)*time.Minute), `"oops"`))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	closed, breached := strings.Count(logs.String(), `"msg":"window closed"`), 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"check breached"`) && strings.Contains(line, `"metric":"wrong_type_ratio"`) {
			breached++
		}
	}
	if closed != 25 || breached != 3 {
		t.Errorf("%d windows closed and %d wrong-type breaches logged, want 25 and 3 (one every ten windows)", closed, breached)
	}
}

// awayDeadLetters is a dead-letter topic that cannot be written.
type awayDeadLetters struct{}

func (awayDeadLetters) Enqueue(context.Context, ingest.Message, string, string) error {
	return errors.New("brokers away")
}
func (awayDeadLetters) Pending(string, int) (int64, bool) { return 0, false }
func (awayDeadLetters) Flush(context.Context) error       { return nil }
func (awayDeadLetters) Close() error                      { return nil }

// TestFailedMessageHoldsTheCommit: a message Process fails on (its dead
// letter cannot be written) is not passed by a commit, whatever came
// before it; the next reader must see it again.
func TestFailedMessageHoldsTheCommit(t *testing.T) {
	opts := testOptions(exampleModel(t), &recorder{})
	opts.DeadLetters = awayDeadLetters{}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Process(ctx, msg(0, []byte(`{"model": "fraud", "oops`))); err == nil {
		t.Fatal("a message whose dead letter could not be written was taken as processed")
	}
	if got := p.workers[0].Committable(); len(got) != 0 {
		t.Errorf("committable after the only message failed: %v, want nothing", got)
	}
	if err := p.Process(ctx, msg(1, ev(t0, "7"))); err != nil {
		t.Fatal(err)
	}
	if err := p.Process(ctx, msg(2, []byte(`{"model": "fraud", "oops`))); err == nil {
		t.Fatal("a message whose dead letter could not be written was taken as processed")
	}
	for _, m := range p.workers[0].Committable() {
		if m.Offset >= 2 {
			t.Errorf("committable through offset %d of %s/%d, past the failed message at 2", m.Offset, m.Topic, m.Partition)
		}
	}
}

// TestEventsReadAgainMoveTheWatermark: after a drain, a partition that reads
// again only messages the stored windows hold skips them, and their event
// times still say how far it has got: the window they pass closes as soon
// as the other partition passes it too, not once this one reads something
// new; nor do they count as activity when it goes idle.
func TestEventsReadAgainMoveTheWatermark(t *testing.T) {
	m := exampleModel(t)
	// Appended to the log an hour before this test's clock.
	on := func(partition int, offset int64, at time.Duration) ingest.Message {
		return ingest.Message{Topic: "events", Partition: partition, Offset: offset, Value: ev(t0.Add(at), "7"), Time: t0.Add(-time.Hour)}
	}
	before := []ingest.Message{on(0, 0, 5*time.Second), on(0, 1, 75*time.Second), on(1, 0, 30*time.Second)}
	mem := store.NewMemory()
	opts := testOptions(m, mem)
	opts.Partitions = 2
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, msg := range before {
		if err := p.Process(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 1 is at 10:00:20: the drain writes 10:00 and 10:01 open.
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	opts = testOptions(m, rec)
	opts.Partitions = 2
	q, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Restore(ctx, mem); err != nil {
		t.Fatal(err)
	}
	for _, msg := range append(before, on(1, 1, 80*time.Second)) {
		if err := q.Process(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 0 read again to 10:01:15, partition 1 on to 10:01:20: both
	// past 10:01 and the lateness of 10 s.
	if got := rec.windows(); !slices.Equal(got, []string{"fraud 10:00 2"}) {
		t.Errorf("windows written %v, want 10:00 with its 2 events", got)
	}
	if st := q.Stats(); st.Skipped != 3 {
		t.Errorf("skipped %d, want the 3 read again", st.Skipped)
	}
	// Partition 0 read nothing new: caught up, it is as quiet as it was when
	// what it read again was appended, an hour ago: idle at once, not a
	// window and the lateness after reading it again.
	if err := q.workers[0].Tick(ctx, t0, true); err != nil {
		t.Fatal(err)
	}
	if !q.Checker.progress[0].idle {
		t.Error("a partition that read again only what was counted, appended long ago, is not idle once caught up")
	}
}

// TestTakenOverPartitionIdle: a worker that takes a partition over does not
// know how quiet it was. Caught up with nothing read, or with messages read
// again that were appended just before, it is not idle until a window and the
// lateness have passed since then: a busy partition caught up for a moment
// would otherwise close windows its next events belong to.
func TestTakenOverPartitionIdle(t *testing.T) {
	m := exampleModel(t)
	opts := testOptions(m, &recorder{})
	opts.Partitions = 2
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Partition 1 read again a message its stored window holds, appended 5 s
	// before the clock; partition 0 reads nothing.
	w, err := window.New(m, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	mem := store.NewMemory()
	rows, _ := w.AppendRows(nil, nil, m, []window.Offset{{Topic: "events", Partition: 1, Offset: 0}}, true, slog.New(slog.DiscardHandler))
	if err := mem.Write(ctx, store.Batch{Profiles: rows}); err != nil {
		t.Fatal(err)
	}
	if err := p.Restore(ctx, mem); err != nil {
		t.Fatal(err)
	}
	if err := p.Process(ctx, ingest.Message{Topic: "events", Partition: 1, Value: ev(t0.Add(time.Second), "7"), Time: t0.Add(-5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Skipped != 1 {
		t.Fatalf("skipped %d, want the message read again", st.Skipped)
	}
	quiet := opts.Window + opts.Lateness
	for _, tc := range []struct {
		partition int
		at        time.Time
		idle      bool
	}{
		{0, t0, false},
		{0, t0.Add(quiet - time.Second), false},
		{0, t0.Add(quiet), true},
		{1, t0, false},
		{1, t0.Add(quiet - 6*time.Second), false},
		{1, t0.Add(quiet - 5*time.Second), true},
	} {
		w, err := p.worker(tc.partition)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Tick(ctx, tc.at, true); err != nil {
			t.Fatal(err)
		}
		if got := p.Checker.progress[tc.partition].idle; got != tc.idle {
			t.Errorf("partition %d at %s: idle %v, want %v", tc.partition, tc.at.Sub(t0), got, tc.idle)
		}
	}
}

// TestLabelJoinSurvivesRestart: predictions waiting for their labels at a
// drain hold the commit, so the next run reads them again and joins the
// labels that come after it; pairs joined before the drain and read again on
// both sides are not scored twice. Every performance result equals those of
// one run without the restart.
func TestLabelJoinSurvivesRestart(t *testing.T) {
	m := exampleModel(t)
	pred := func(offset int64, id string, at time.Duration) ingest.Message {
		return ingest.Message{Topic: "events", Offset: offset, Value: []byte(fmt.Sprintf(
			`{"model": "fraud", "request_id": %q, "timestamp": %q, "features": {}, "prediction": 0.%d}`,
			id, t0.Add(at).Format(time.RFC3339Nano), 2+offset))}
	}
	label := func(offset int64, id string, at time.Duration) ingest.Message {
		return ingest.Message{Topic: "labels", Offset: offset, Value: []byte(fmt.Sprintf(
			`{"model": "fraud", "request_id": %q, "timestamp": %q, "label": %d}`, id, t0.Add(at).Format(time.RFC3339Nano), offset%2))}
	}
	before := []ingest.Message{
		pred(0, "b", 1*time.Second),
		label(0, "z", 2*time.Second), // never predicted: waits, and holds the labels
		pred(1, "a", 3*time.Second),
		pred(2, "c", 4*time.Second),
		label(1, "c", 5*time.Second),  // joined in 10:00
		pred(3, "d", 80*time.Second),  // closes 10:00
		label(2, "a", 85*time.Second), // joined in 10:01
	}
	after := []ingest.Message{
		label(3, "b", 90*time.Second), // b waited through the restart
		pred(4, "e", 95*time.Second),
		label(4, "e", 100*time.Second),
		pred(5, "f", 200*time.Second), // closes 10:01
	}
	opts := func(w store.Writer) Options {
		o := testOptions(m, w)
		o.Labels = &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 100}
		return o
	}
	ctx := context.Background()
	run := func(p *Pipeline, msgs []ingest.Message) {
		t.Helper()
		for _, msg := range msgs {
			if err := p.Process(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	performance := func(s *store.Memory) map[string]float64 {
		t.Helper()
		rs, err := s.Results(ctx, "fraud", t0)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, r := range rs {
			if r.Kind == check.Performance {
				out[r.WindowStart.Format("15:04")+" "+r.Metric] = r.Value
			}
		}
		return out
	}

	once := store.NewMemory()
	p, err := New(opts(once))
	if err != nil {
		t.Fatal(err)
	}
	run(p, append(slices.Clone(before), after...))
	want := performance(once)
	if want["10:00 labelled"] != 1 || want["10:01 labelled"] != 3 {
		t.Fatalf("one run scored %v, want 1 pair in 10:00 and 3 in 10:01", want)
	}

	restarted := store.NewMemory()
	p, err = New(opts(restarted))
	if err != nil {
		t.Fatal(err)
	}
	run(p, before)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	committed := map[string]int64{}
	for _, c := range p.Committable() {
		committed[c.Topic] = c.Offset
	}
	// b waits at events 0 and z at labels 0: nothing of either is committed.
	if len(committed) != 0 {
		t.Fatalf("committable at the drain %v, want nothing while b and z wait", committed)
	}
	q, err := New(opts(restarted))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Restore(ctx, restarted); err != nil {
		t.Fatal(err)
	}
	run(q, append(slices.Clone(before), after...))
	if got := performance(restarted); !maps.Equal(got, want) {
		t.Errorf("with a restart: %v\nwithout: %v", got, want)
	}
}

// TestPairHoldsTheSideThatWaited: a pair scored in a window not yet durable
// holds the commit at its prediction too, which an earlier window counted: a
// restart must read it again to join the label again.
func TestPairHoldsTheSideThatWaited(t *testing.T) {
	opts := testOptions(exampleModel(t), &recorder{})
	opts.Labels = &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 100}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, m := range []ingest.Message{
		{Topic: "events", Offset: 0, Value: []byte(fmt.Sprintf(`{"model": "fraud", "request_id": "x", "timestamp": %q, "features": {}, "prediction": 0.3}`,
			t0.Add(58*time.Second).Format(time.RFC3339Nano)))},
		{Topic: "labels", Offset: 0, Value: []byte(fmt.Sprintf(`{"model": "fraud", "request_id": "x", "timestamp": %q, "label": 1}`,
			t0.Add(65*time.Second).Format(time.RFC3339Nano)))},
		// Closes 10:00, which counts the prediction; the pair is in 10:01.
		{Topic: "events", Offset: 1, Value: ev(t0.Add(75*time.Second), "1")},
	} {
		if err := p.Process(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range p.Committable() {
		if c.Topic == "events" {
			t.Errorf("events committable through %d: past the prediction of a pair in the open window", c.Offset)
		}
	}
}
