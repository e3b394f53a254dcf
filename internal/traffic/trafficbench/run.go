// Package trafficbench measures what Sentinel finds in simulated traffic,
// going the way a new user goes: `sentinel contract infer` on a training
// sample (with the prediction's kind added), `sentinel baseline` from it, then
// `sentinel replay` of serving traffic drawn from the same distribution, with
// the alert evaluator behind the store as the daemon runs it. It counts the
// findings of healthy traffic per (feature, window) pair, the windows the
// anomaly detector flags and the alerts that fire, and for incidents injected
// at the event level whether and how soon each was found.
package trafficbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/alerts"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/infer"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/traffic"
)

// Setup is one run: a model trained on TrainRows rows, then Duration of its
// serving traffic replayed in windows of Window.
type Setup struct {
	Seed            uint64
	Window          time.Duration
	EventsPerWindow float64
	Duration        time.Duration
	// TrainRows is the training sample's size; zero is 20,000.
	TrainRows int
	// FitAfter is replay's --fit-after; zero keeps the default (a season).
	FitAfter  int
	Incidents []traffic.Incident
}

// Start is when every simulated recording starts: a Monday, at midnight.
var Start = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// labelShare and labelDelay: a third of the requests learn their outcome ten
// minutes later, so that the windows report label-based quality too.
const (
	labelShare = 1.0 / 3
	labelDelay = 10 * time.Minute
)

// Run goes the user's way in dir, a directory of its own: it writes the
// training sample, infers the contract and builds the baseline from it, and
// replays the serving traffic; it returns what the windows found.
func Run(ctx context.Context, dir string, s Setup) (*Outcome, error) {
	if s.TrainRows == 0 {
		s.TrainRows = 20_000
	}
	ref, err := prepare(ctx, dir, s)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(ref)
	if err != nil {
		return nil, err
	}
	d := daemonConfig(ref, s)
	out := newOutcome(m, s)
	eval, err := alerts.NewEvaluator(evaluatorOptions(d))
	if err != nil {
		return nil, err
	}
	out.eval = eval
	opts := pipeline.ReplayOptions(d, []*model.Model{m})
	opts.Writer, opts.Registerer = store.Tee(out, eval, firingRecorder{out}), prometheus.NewRegistry()
	p, err := pipeline.New(opts)
	if err != nil {
		return nil, err
	}
	stream, err := traffic.NewStream(traffic.Config{Seed: s.Seed, Start: Start, Duration: s.Duration, Window: s.Window,
		EventsPerWindow: s.EventsPerWindow, LabelShare: labelShare, LabelDelay: labelDelay, Incidents: s.Incidents})
	if err != nil {
		return nil, err
	}
	if err := pipeline.Replay(ctx, &streamSource{s: stream}, p); err != nil {
		return nil, fmt.Errorf("replaying the simulated traffic: %w", err)
	}
	out.Stats = p.Stats()
	out.finish()
	return out, nil
}

// prepare writes the training sample, the contract `sentinel contract infer`
// drafts from it with the prediction's kind added (the one line the draft
// cannot know), and the baseline `sentinel baseline --contract` builds.
func prepare(ctx context.Context, dir string, s Setup) (config.ModelRef, error) {
	ref := config.ModelRef{Contract: filepath.Join(dir, "contract.yaml"), Baseline: filepath.Join(dir, "baseline.json")}
	train := filepath.Join(dir, "train.csv")
	if err := writeFile(train, func(w io.Writer) error { return traffic.TrainingCSV(w, s.TrainRows, s.Seed) }); err != nil {
		return ref, err
	}
	f, err := dataset.Open(train)
	if err != nil {
		return ref, err
	}
	c, err := infer.Contract(ctx, traffic.Model, f, config.DefaultMaxCategories)
	f.Close()
	if err != nil {
		return ref, fmt.Errorf("inferring the contract: %w", err)
	}
	draft, err := c.Marshal()
	if err != nil {
		return ref, err
	}
	draft = append(draft, "prediction: {kind: probability}\n"...)
	if err := os.WriteFile(ref.Contract, draft, 0o644); err != nil {
		return ref, err
	}
	if c, err = config.LoadContract(ref.Contract); err != nil {
		return ref, err
	}
	b, err := profile.Build(ctx, c, func() (dataset.Reader, io.Closer, error) {
		f, err := dataset.Open(train)
		if err != nil {
			return nil, nil, err
		}
		return f, f, nil
	}, profile.BuildOptions{RelativeAccuracy: profile.DefaultRelativeAccuracy, Source: "train.csv"})
	if err != nil {
		return ref, fmt.Errorf("building the baseline: %w", err)
	}
	return ref, writeFile(ref.Baseline, b.Write)
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(write(f), f.Close())
}

// daemonConfig is what `sentinel replay --contract C --baseline B --window W`
// runs with: the defaults around the one model, the window, the flag's
// allowed lateness, and a reference period no shorter than a window.
func daemonConfig(ref config.ModelRef, s Setup) *config.Daemon {
	d := config.DefaultDaemon()
	d.Windows.Size, d.Windows.AllowedLateness = s.Window, 30*time.Second
	d.Drift.ReferencePeriod = max(d.Drift.ReferencePeriod, s.Window)
	d.Models = []config.ModelRef{ref}
	if s.FitAfter > 0 {
		d.Anomaly.FitAfter = s.FitAfter
		d.Anomaly.HistoryWindows = max(d.Anomaly.HistoryWindows, s.FitAfter)
	}
	return d
}

// evaluatorOptions are the daemon's alert evaluator's, posting nowhere.
func evaluatorOptions(d *config.Daemon) alerts.EvaluatorOptions {
	o := alerts.EvaluatorOptionsFromConfig(d)
	o.Registerer = prometheus.NewRegistry()
	return o
}

// streamSource plays a stream as a recording, as a file source plays a file:
// partition 0, offsets counting lines from 1.
type streamSource struct {
	s    *traffic.Stream
	line int64
}

func (src *streamSource) Fetch(context.Context) (ingest.Message, error) {
	b, err := src.s.Next()
	if err != nil {
		return ingest.Message{}, err
	}
	src.line++
	return ingest.Message{Topic: "events", Offset: src.line, Value: b}, nil
}

func (*streamSource) Commit(context.Context, ...ingest.Message) error { return nil }
func (*streamSource) Close() error                                    { return nil }

// firingRecorder notes, after the evaluator has observed each batch, the
// alerts firing at the batch's last window.
type firingRecorder struct{ o *Outcome }

func (f firingRecorder) Write(_ context.Context, b store.Batch) error {
	var last time.Time
	for _, r := range b.Results {
		if r.Kind != check.Staleness && r.WindowEnd.After(last) {
			last = r.WindowEnd
		}
	}
	if last.IsZero() {
		return nil
	}
	_, firing := f.o.eval.Active(last)
	for _, p := range firing {
		fr := Firing{Alert: p.Labels["alertname"], Feature: p.Labels["feature"], Metric: p.Labels["metric"], Since: p.StartsAt, At: last}
		key := fr.key() + " " + p.StartsAt.String()
		if _, ok := f.o.fired[key]; !ok {
			f.o.fired[key] = true
			f.o.firing = append(f.o.firing, fr)
		}
	}
	return nil
}

// isFinite reports whether x is a number.
func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
