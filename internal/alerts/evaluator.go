package alerts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// History keeps alert state changes: the ClickHouse store.
type History interface {
	WriteAlerts(ctx context.Context, rs []store.AlertRecord) error
}

// EvaluatorOptions configure an Evaluator.
type EvaluatorOptions struct {
	// Window is the daemon's windows.size, which the notifications quote:
	// alerts count windows.
	Window time.Duration
	// ResolveAfter is how many consecutive clean windows resolve a firing
	// alert.
	ResolveAfter int
	// ForScale scales every alert's `for`, for a demonstration that
	// compresses hours into minutes; zero is 1. An alert waits two windows at
	// least (one if its own `for` is one).
	ForScale float64
	// Alertmanagers are the base URLs posted to; none evaluates and records
	// history only.
	Alertmanagers  []string
	Timeout        time.Duration
	ResendInterval time.Duration
	MaxPending     int
	ExternalLabels map[string]string
	GeneratorURL   string
	RunbookURL     string
	// Severities are the contracts' overrides; nil keeps every default.
	Severities *Severities
	// History, when set, receives every state change.
	History History
	// Now is the wall clock, for re-sends.
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// EvaluatorOptionsFromConfig maps sentinel.yaml's alertmanager section.
func EvaluatorOptionsFromConfig(cfg *config.Daemon) EvaluatorOptions {
	a := cfg.Alertmanager
	return EvaluatorOptions{Window: cfg.Windows.Size, ResolveAfter: a.ResolveAfter, Alertmanagers: a.URLs,
		Timeout: a.Timeout, ResendInterval: a.ResendInterval, MaxPending: a.MaxPending,
		ExternalLabels: a.ExternalLabels, GeneratorURL: a.GeneratorURL, RunbookURL: DefaultOptions().RunbookURL,
		Now: time.Now}
}

// Validate reports every problem of the options.
func (o *EvaluatorOptions) Validate() error {
	var errs []error
	if o.Window <= 0 {
		errs = append(errs, fmt.Errorf("window %s is not positive", o.Window))
	}
	if o.ResolveAfter < 1 {
		errs = append(errs, fmt.Errorf("resolve after %d windows: want at least 1", o.ResolveAfter))
	}
	if len(o.Alertmanagers) > 0 && (o.Timeout <= 0 || o.ResendInterval <= 0 || o.MaxPending < 1) {
		errs = append(errs, fmt.Errorf("timeout %s, resend interval %s and max pending %d must be positive", o.Timeout, o.ResendInterval, o.MaxPending))
	}
	if o.Now == nil {
		errs = append(errs, errors.New("no clock"))
	}
	return errors.Join(errs...)
}

// Evaluator evaluates the check and cause alerts of the list on each window's
// results, as Prometheus evaluates the rules on the published series: an
// alert is pending from the first window its condition holds, fires once it
// held through the window that closes Alert.Windows windows later (the
// rules' for), and resolves after ResolveAfter clean windows (Prometheus
// resolves at once: the evaluator adds hysteresis). Windows are judged in
// their own time (their end), the clock's staleness results at now. It posts firing and resolved alerts to Alertmanager (Run delivers
// them) and records every state change in History.
//
// Observe is called by the goroutine that writes windows; Run by its owner.
type Evaluator struct {
	opts    EvaluatorOptions
	log     *slog.Logger
	cat     *check.Catalogue
	alerts  []*Alert // the evaluable ones
	clients []*client
	metrics *clientMetrics
	states  *prometheus.GaugeVec
	lost    prometheus.Counter

	mu sync.Mutex
	// active are the instances pending or firing, by fingerprint.
	active map[string]*instance
	// causes are each model's last flagged window's top causes.
	causes  map[string][]check.Cause
	history []store.AlertRecord
	flush   chan struct{}
}

// maxHistory bounds the state changes waiting for the store.
const maxHistory = 10_000

type instance struct {
	alert    *Alert
	fp       string
	model    string
	clock    bool // judged on clock ticks (staleness) rather than windows
	labels   map[string]string
	severity Severity
	firing   bool
	clean    int       // consecutive clean observations while firing
	startsAt time.Time // the first observation of the streak
	lastSent time.Time
	r        rendering
}

// NewEvaluator builds an evaluator and registers its series.
func NewEvaluator(opts EvaluatorOptions) (*Evaluator, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("alert evaluator options: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Evaluator{opts: opts, log: log, cat: check.NewCatalogue(), metrics: newClientMetrics(),
		active: make(map[string]*instance), causes: make(map[string][]check.Cause), flush: make(chan struct{}, 1),
		states: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sentinel_alerts",
			Help: "Alerts Sentinel evaluates itself (alertmanager section), by alert and state (pending, firing)."}, []string{"alert", "state"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "sentinel_alert_history_dropped_total",
			Help: "Alert state changes not recorded in ClickHouse because too many waited for the store."}),
	}
	for _, a := range List() {
		if a.Evaluable() {
			a := a
			e.alerts = append(e.alerts, &a)
			for _, s := range []string{"pending", "firing"} {
				e.states.WithLabelValues(a.Name, s)
			}
		}
	}
	for _, u := range opts.Alertmanagers {
		c, err := newClient(u, opts.Timeout, opts.MaxPending, e.metrics, log)
		if err != nil {
			return nil, err
		}
		e.clients = append(e.clients, c)
	}
	if reg := opts.Registerer; reg != nil {
		for _, c := range append(e.metrics.collectors(), e.states, e.lost) {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering alert metrics: %w", err)
			}
		}
	}
	return e, nil
}

// forWindows is how many windows an alert's condition must hold to fire.
func (e *Evaluator) forWindows(a *Alert) int {
	if e.opts.ForScale <= 0 {
		return a.Windows
	}
	// Two windows at least, unless the alert itself waits one: a single
	// window's chance flag is what `for` exists to absorb.
	return max(min(a.Windows, 2), int(math.Ceil(float64(a.Windows)*e.opts.ForScale)))
}

// Write observes a batch the pipeline wrote; it never fails. Placed after
// the store in a store.Tee, it sees only results that are durable.
func (e *Evaluator) Write(_ context.Context, b store.Batch) error {
	e.Observe(e.opts.Now(), b.Results, b.Anomalies)
	return nil
}

// Tee returns a writer that writes to next, then observes what was written.
func (e *Evaluator) Tee(next store.Writer) store.Writer { return store.Tee(next, e) }

// observation is one window (or clock tick) of one model.
type observation struct {
	model    string
	clock    bool
	start    time.Time
	at       time.Time // the window's end, or now for the clock
	results  []*check.Result
	verdicts []*check.Verdict
}

// Observe judges the results and verdicts of closed windows, and the clock's
// staleness results, at now. Results of several windows are judged window
// by window, in order.
func (e *Evaluator) Observe(now time.Time, results []check.Result, verdicts []check.Verdict) {
	type key struct {
		model string
		clock bool
		start int64
	}
	obs := map[key]*observation{}
	get := func(model string, clock bool, start time.Time) *observation {
		k := key{model, clock, start.UnixNano()}
		if obs[k] == nil {
			obs[k] = &observation{model: model, clock: clock, start: start}
		}
		return obs[k]
	}
	for i := range results {
		r := &results[i]
		if r.Skipped != "" || !r.HasThreshold() || math.IsNaN(r.Value) {
			continue
		}
		o := get(r.Model, r.Kind == check.Staleness, r.WindowStart)
		o.results = append(o.results, r)
		o.at = r.WindowEnd
		if o.clock {
			o.at = now
		}
	}
	for i := range verdicts {
		o := get(verdicts[i].Model, false, verdicts[i].WindowStart)
		o.verdicts = append(o.verdicts, &verdicts[i])
		o.at = verdicts[i].WindowEnd
	}
	ordered := slices.Collect(maps.Values(obs))
	sort.Slice(ordered, func(i, j int) bool {
		if !ordered[i].start.Equal(ordered[j].start) {
			return ordered[i].start.Before(ordered[j].start)
		}
		return ordered[i].model < ordered[j].model
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, o := range ordered {
		e.observe(o)
	}
	if len(e.history) > 0 {
		select {
		case e.flush <- struct{}{}:
		default:
		}
	}
}

// holding is an alert instance whose condition holds in an observation.
type holding struct {
	alert  *Alert
	labels map[string]string
	r      rendering
}

// observe judges one observation: instances whose condition holds count
// towards firing, the model's others of the same stream are clean.
func (e *Evaluator) observe(o *observation) {
	now := o.at
	held := map[string]*holding{}
	for _, r := range o.results {
		if !r.Breached {
			continue
		}
		metric, _ := e.cat.Lookup(r)
		for _, a := range e.alerts {
			if a.Checks == nil || !a.CoversResult(r) {
				continue
			}
			labels := map[string]string{"alertname": a.Name, "model": r.Model, "kind": string(r.Kind), "feature": r.Feature, "metric": r.Metric}
			held[fingerprint(labels)] = &holding{alert: a, labels: labels,
				r: rendering{labels: labels, value: r.Value, threshold: r.Threshold, metric: metric}}
		}
	}
	if !o.clock {
		for _, v := range o.verdicts {
			var top []check.Cause
			if v.Anomaly {
				top = slices.Clone(v.Causes[:min(len(v.Causes), maxCauses)])
			}
			e.causes[o.model] = top
			for _, c := range top {
				for _, a := range e.alerts {
					if a.Cause == nil || !slices.Contains(a.Cause.Metrics, c.Metric) ||
						!check.Breaches(c.Actual, c.Expected, a.Cause.Worse) || c.Contribution < CauseShare {
						continue
					}
					labels := map[string]string{"alertname": a.Name, "model": o.model, "metric": c.Metric}
					held[fingerprint(labels)] = &holding{alert: a, labels: labels,
						r: rendering{labels: labels, value: c.Actual, expected: c.Expected}}
				}
			}
		}
	}
	for fp, in := range e.active {
		if in.model == o.model && in.clock == o.clock && held[fp] == nil {
			e.clean(now, in)
		}
	}
	fps := slices.Sorted(maps.Keys(held))
	for _, fp := range fps {
		e.hold(now, fp, held[fp], o.clock)
	}
}

// maxCauses is how many of a verdict's causes count, as analyze publishes.
const maxCauses = 3

func (e *Evaluator) hold(now time.Time, fp string, h *holding, clock bool) {
	in := e.active[fp]
	if in == nil {
		in = &instance{alert: h.alert, fp: fp, model: h.labels["model"], clock: clock, labels: h.labels, startsAt: now,
			severity: e.opts.Severities.Of(h.alert, h.labels["model"], h.labels["feature"])}
		e.active[fp] = in
		e.states.WithLabelValues(in.alert.Name, "pending").Inc()
	}
	in.r = h.r
	in.r.forText = promDuration(time.Duration(e.forWindows(in.alert)) * e.opts.Window)
	in.r.causes = e.causes[in.model]
	in.clean = 0
	if now.Equal(in.startsAt) && !in.firing {
		e.record(now, in, "pending")
	}
	// As Prometheus' for: the condition has held from the first window of the
	// streak through one that closes Windows windows later.
	if !in.firing && now.Sub(in.startsAt) >= time.Duration(e.forWindows(in.alert))*e.opts.Window {
		in.firing = true
		e.states.WithLabelValues(in.alert.Name, "pending").Dec()
		e.states.WithLabelValues(in.alert.Name, "firing").Inc()
		e.record(now, in, "firing")
		e.send(now, in, false)
	}
}

func (e *Evaluator) clean(now time.Time, in *instance) {
	if !in.firing {
		delete(e.active, in.fp)
		e.states.WithLabelValues(in.alert.Name, "pending").Dec()
		e.record(now, in, "inactive")
		return
	}
	in.clean++
	if in.clean < e.opts.ResolveAfter {
		return
	}
	delete(e.active, in.fp)
	e.states.WithLabelValues(in.alert.Name, "firing").Dec()
	e.record(now, in, "resolved")
	e.send(now, in, true)
}

// fingerprint identifies an alert instance by its labels.
func fingerprint(labels map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
