// Package analyze is the checking side of the pipeline: given a model's
// complete window, it runs every check — quality, train-serve skew against the
// baseline, drift against the previous window and reference period, numerical
// stability, label-based performance, keyed skew — and the anomaly detector,
// and publishes the thresholded results on /metrics. It also runs the checks no
// window drives: staleness, on the clock.
package analyze

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/drift"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/stats"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/tracing"
	"github.com/sentinel-ml/sentinel/internal/versions"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// Options configure an Analyzer.
type Options struct {
	Models          []*model.Model
	Window          time.Duration
	ReferencePeriod time.Duration
	// MinSamples is the fewest values each side needs for a distribution
	// statistic.
	MinSamples int
	// Anomaly, when set, runs the detector over each model's window metrics.
	Anomaly *AnomalyOptions
	// MaxMismatchRatio is the keyed skew threshold.
	MaxMismatchRatio float64
	// MaxSilence is how long a model may send nothing before it is reported
	// stale; MaxModelAge, when positive, how old its trained_at may be. Zero
	// keeps either without threshold.
	MaxSilence  time.Duration
	MaxModelAge time.Duration
	// Registerer receives the published check results; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives what restores find; nil discards.
	Logger *slog.Logger
	// Tracer makes the spans of the checks and the detector; nil traces nothing.
	Tracer trace.Tracer
}

// Validate reports every problem of the options.
func (o *Options) Validate() error {
	var errs []error
	if o.Window < time.Second {
		errs = append(errs, fmt.Errorf("window %s is shorter than 1s", o.Window))
	}
	if o.ReferencePeriod < o.Window {
		errs = append(errs, fmt.Errorf("reference period %s is shorter than the window %s", o.ReferencePeriod, o.Window))
	}
	if o.MinSamples < 1 {
		errs = append(errs, fmt.Errorf("min samples %d is not positive", o.MinSamples))
	}
	if a := o.Anomaly; a != nil {
		if err := a.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Analyzer checks the windows of every configured model. It is not safe for
// concurrent use: one goroutine owns it.
type Analyzer struct {
	opts      Options
	log       *slog.Logger
	cat       *check.Catalogue
	models    map[string]*state
	published *checkCollector
	causes    *causeCollector
	skipped   *prometheus.CounterVec
}

// state is what the checks keep per model.
type state struct {
	m        *model.Model
	baseline []stats.Distribution
	drift    *drift.History
	detector *detector
	// estimator is nil unless the baseline has a calibration.
	estimator *estimator
	// versions is nil unless the contract asks for the version checks.
	versions *versions.Tracker
	// results is how many results the model's last window had, to make
	// room for the next; 0 before the first.
	results int
	// skipped holds the model's skipped-checks counters already looked up:
	// a window of few events skips a check per feature.
	skipped map[skipKey]prometheus.Counter
}

// skipKey is a skipped-checks series of a model.
type skipKey struct {
	kind   check.Kind
	reason string
}

// New builds an analyzer and registers its series.
func New(opts Options) (*Analyzer, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("analyzer options: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Tracer == nil {
		opts.Tracer = tracing.Tracer(nil)
	}
	a := &Analyzer{opts: opts, log: log, cat: check.NewCatalogue(), models: make(map[string]*state, len(opts.Models))}
	names := make([]string, 0, len(opts.Models))
	for _, m := range opts.Models {
		st, err := a.newState(m)
		if err != nil {
			return nil, err
		}
		a.models[m.Name()] = st
		names = append(names, m.Name())
	}
	a.published, a.causes = newCheckCollector(names), newCauseCollector(names)
	a.skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sentinel_checks_skipped_total",
		Help: "Checks of closed windows that did not run, by kind and reason (too_few_samples: a side held fewer values than drift.min_samples)."},
		[]string{"model", "kind", "reason"})
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{a.published, a.causes, a.skipped} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering check metrics: %w", err)
			}
		}
	}
	for name, st := range a.models {
		st.skipped = make(map[skipKey]prometheus.Counter)
		for _, k := range []check.Kind{check.Skew, check.Drift} {
			st.skipped[skipKey{k, check.SkipTooFewSamples}] = a.skipped.WithLabelValues(name, string(k), check.SkipTooFewSamples)
		}
	}
	for _, st := range a.models {
		_, published := a.cat.Bounds(st.m.Contract.Features, st.m.PredictionDrift().Method)
		a.published.reserve(st.m.Name(), published)
	}
	return a, nil
}

// Catalogue is the catalogue the analyzer reports by.
func (a *Analyzer) Catalogue() *check.Catalogue { return a.cat }

// ResultsPerWindow is about how many results Check makes of a window of m:
// its last window's count, and before that the most a window can make.
func (a *Analyzer) ResultsPerWindow(m *model.Model) int {
	if st := a.models[m.Name()]; st != nil {
		return st.resultsPerWindow()
	}
	return mostResults(m)
}

func (st *state) resultsPerWindow() int {
	if st.results > 0 {
		return st.results
	}
	return mostResults(st.m)
}

// Check runs every check of model's complete window w and adds the results,
// the anomaly verdict and a reference period the window completes to b. The
// results are published on /metrics at once: b is written before the window's
// offsets move, and a failed write stops the process.
func (a *Analyzer) Check(ctx context.Context, m *model.Model, w *window.Window, b *store.Batch) error {
	st := a.models[m.Name()]
	if st == nil {
		return fmt.Errorf("checking a window of model %q, which is not configured", m.Name())
	}
	_, span := a.opts.Tracer.Start(ctx, tracing.SpanChecks)
	b.References = append(b.References, st.drift.Begin(w)...)
	// The results go straight into the batch, which the checker sized for
	// the windows it closes: a window's own slice, copied into the batch,
	// was an allocation and a copy of hundreds of results each.
	r := &results{model: m.Name(), start: w.Start, end: w.End, minSamples: float64(a.opts.MinSamples), out: b.Results, first: len(b.Results)}
	r.reserve(st.resultsPerWindow())
	runChecks(r, m, w, st.drift.Previous(), st.drift.Reference(), st.baseline, st.estimator)
	keyedResults(r, m, w, a.opts.MaxMismatchRatio)
	if err := versionResults(r, m, w, st.versions); err != nil {
		span.End()
		return fmt.Errorf("checking the versions of model %s: %w", m.Name(), err)
	}
	span.SetAttributes(attribute.Int("sentinel.results", len(r.window())))
	span.End()
	if st.detector != nil {
		_, span := a.opts.Tracer.Start(ctx, tracing.SpanAnomaly)
		v, err := st.detector.observe(m.Name(), w.Start, w.End, r.window())
		span.End()
		if err != nil {
			return err
		}
		if v != nil {
			a.causes.observe(v)
			b.Anomalies = append(b.Anomalies, *v)
			// The verdict decides, not a comparison: the detector's score and
			// flag come from one calibration.
			r.out = append(r.out, check.Result{Model: v.Model, WindowStart: w.Start, WindowEnd: w.End,
				Kind: check.Anomaly, Metric: check.Score, Value: v.Score, Threshold: st.detector.cfg.Threshold(), Breached: v.Anomaly})
		}
	}
	b.Results = r.out
	out := r.window()
	st.results = len(out)
	a.published.observeWindow(m.Name(), out)
	if r.skipped > 0 {
		for i := range out {
			if s := &out[i]; s.Skipped != "" {
				k := skipKey{s.Kind, s.Skipped}
				c := st.skipped[k]
				if c == nil {
					c = a.skipped.WithLabelValues(m.Name(), string(s.Kind), s.Skipped)
					st.skipped[k] = c
				}
				c.Inc()
			}
		}
	}
	return st.drift.End(w)
}

// Forget takes the model's results off /metrics and forgets what its checks
// learnt: another process checks it now (see pipeline.Checker.Own), and
// when it comes back here, what it learnt meanwhile is in the store.
func (a *Analyzer) Forget(model string) error {
	a.published.observeWindow(model, nil)
	a.published.observeClock(model, nil)
	st := a.models[model]
	if st == nil {
		return nil
	}
	fresh, err := a.newState(st.m)
	if err != nil {
		return err
	}
	fresh.skipped = st.skipped // the model's series, not what it learnt
	a.models[model] = fresh
	return nil
}

// newState is a model's checks before any window.
func (a *Analyzer) newState(m *model.Model) (*state, error) {
	st := &state{m: m, versions: versions.NewTracker(m.Contract, a.opts.ReferencePeriod)}
	var err error
	if st.drift, err = drift.NewHistory(m, a.opts.ReferencePeriod, a.log); err != nil {
		return nil, err
	}
	if st.estimator, err = newEstimator(m); err != nil {
		return nil, err
	}
	if a.opts.Anomaly != nil {
		st.detector = newDetector(m, a.cat, a.opts.Window, *a.opts.Anomaly)
	}
	for i := range m.Contract.Features {
		var d stats.Distribution
		if fb := m.Baseline.Feature(m.Contract.Features[i].Name); fb != nil {
			if d, err = m.Baseline.Distribution(fb); err != nil {
				return nil, fmt.Errorf("model %s: %w", m.Name(), err)
			}
		}
		st.baseline = append(st.baseline, d)
	}
	return st, nil
}

// Staleness runs the clock's checks of a model at now: seconds since its last
// event, and the age of its version. The results belong to the window now is
// in, and replace the model's previous clock results on /metrics.
func (a *Analyzer) Staleness(m *model.Model, now, lastEvent time.Time, b *store.Batch) {
	start := now.Truncate(a.opts.Window)
	r := &results{model: m.Name(), start: start, end: start.Add(a.opts.Window)}
	silence := check.NoThreshold()
	if a.opts.MaxSilence > 0 {
		silence = a.opts.MaxSilence.Seconds()
	}
	r.add(check.Staleness, "", check.SecondsSinceEvent, now.Sub(lastEvent).Seconds(), silence, check.Above)
	if trained := m.Contract.TrainedAt; !trained.IsZero() {
		limit := check.NoThreshold()
		if a.opts.MaxModelAge > 0 {
			limit = a.opts.MaxModelAge.Seconds()
		}
		r.add(check.Staleness, "", check.ModelAgeSeconds, now.Sub(trained).Seconds(), limit, check.Above)
	}
	a.published.observeClock(m.Name(), r.out)
	b.Results = append(b.Results, r.out...)
}

// References returns the rows of every model's reference periods in progress,
// for a drain: a restart resumes them.
func (a *Analyzer) References() []store.ReferenceSummary {
	var out []store.ReferenceSummary
	for _, st := range a.models {
		out = append(out, st.drift.Rows()...)
	}
	return out
}

// Recheck runs again, on a window written before and since updated with late
// events, the checks that depend on the window alone — quality, skew against
// the baseline, numerical stability, performance, keyed skew — into b. Drift
// and the anomaly verdict keep what they found when the window closed: they
// compared with history that has moved on since. Nothing is published: the
// series show the latest window, not this one.
func (a *Analyzer) Recheck(m *model.Model, w *window.Window, b *store.Batch) {
	st := a.models[m.Name()]
	r := &results{model: m.Name(), start: w.Start, end: w.End, minSamples: float64(a.opts.MinSamples), out: b.Results, first: len(b.Results)}
	r.reserve(mostResults(m))
	runChecks(r, m, w, nil, nil, st.baseline, st.estimator)
	keyedResults(r, m, w, a.opts.MaxMismatchRatio)
	b.Results = r.out
}
