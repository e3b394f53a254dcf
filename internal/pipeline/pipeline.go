package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/drift"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/stats"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// Reasons a message is rejected, beyond the decoder's own. They label a metric
// and a dead-letter header, so they are a fixed set, never taken from payloads.
const (
	ReasonOversized        = "oversized"
	ReasonMissingModel     = "missing_model"
	ReasonUnknownModel     = "unknown_model"
	ReasonMissingTimestamp = "missing_timestamp"
	ReasonAbsurdTimestamp  = "absurd_timestamp"
)

// Reasons lists every reason word a message can be rejected with: the
// dead-letter producer counts each under its own series.
func Reasons() []string {
	out := []string{ReasonOversized, ReasonMissingModel, ReasonUnknownModel, ReasonMissingTimestamp, ReasonAbsurdTimestamp}
	for _, r := range event.Reasons() {
		out = append(out, string(r))
	}
	return out
}

// unknownModel is the model label of messages whose model is not monitored, so
// that payloads cannot create label values.
const unknownModel = "unknown"

// Options configure a Pipeline.
type Options struct {
	Models          []*Model
	Window          time.Duration
	Lateness        time.Duration
	ReferencePeriod time.Duration
	// MinSamples is the fewest values each side needs for a distribution
	// statistic.
	MinSamples int
	// MaxFutureSkew and MaxAge bound believable event times against Now; zero
	// turns the bound off (replay reads yesterday's traffic).
	MaxFutureSkew   time.Duration
	MaxAge          time.Duration
	MaxMessageBytes int
	// Labels, when set, joins predictions with delayed labels by request id, and
	// windows report model quality. Label events are envelopes with a "label".
	Labels *drift.JoinerConfig
	// Anomaly, when set, runs the detector over each model's window metrics.
	Anomaly *AnomalyOptions
	// FeaturesTopic, when set, carries the offline feature values of served
	// requests ({"model", "request_id", "timestamp", "features"}); KeyedSkew then
	// compares them with the served values, per feature.
	FeaturesTopic    string
	KeyedSkew        skew.KeyedOptions
	MaxMismatchRatio float64
	// MaxSilence is how long a model may send nothing before Tick reports it
	// stale; MaxModelAge, when positive, how old its trained_at may be.
	MaxSilence  time.Duration
	MaxModelAge time.Duration
	// StartupGrace holds every watermark for this long after New. Partitions
	// start delivering at different moments; a watermark set by the first ones
	// would close windows that a partition not yet heard from still feeds.
	StartupGrace time.Duration
	// Writer receives the results of every closed window; the pipeline returns
	// only once they are durable.
	Writer store.Writer
	// DeadLetters receives rejected messages; nil counts them only (replay).
	DeadLetters ingest.DeadLetters
	// Closed holds, per model, the end of the last window already written (from
	// the store at start-up): events of earlier windows were counted before a
	// restart and are skipped.
	Closed     map[string]time.Time
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Validate reports every problem of the options.
func (o *Options) Validate() error {
	var errs []error
	if len(o.Models) == 0 {
		errs = append(errs, errors.New("no models"))
	}
	seen := make(map[string]bool)
	for _, m := range o.Models {
		if seen[m.Name()] {
			errs = append(errs, fmt.Errorf("model %s is configured twice", m.Name()))
		}
		seen[m.Name()] = true
	}
	if o.Window < time.Second {
		errs = append(errs, fmt.Errorf("window %s is shorter than 1s", o.Window))
	}
	if o.Lateness < 0 {
		errs = append(errs, fmt.Errorf("allowed lateness %s is negative", o.Lateness))
	}
	if o.ReferencePeriod < o.Window {
		errs = append(errs, fmt.Errorf("reference period %s is shorter than the window %s", o.ReferencePeriod, o.Window))
	}
	if o.StartupGrace < 0 {
		errs = append(errs, fmt.Errorf("startup grace %s is negative", o.StartupGrace))
	}
	if o.MinSamples < 1 {
		errs = append(errs, fmt.Errorf("min samples %d is not positive", o.MinSamples))
	}
	if o.MaxMessageBytes < 1 {
		errs = append(errs, fmt.Errorf("max message bytes %d is not positive", o.MaxMessageBytes))
	}
	if a := o.Anomaly; a != nil && (a.FitAfter < 3 || a.HistoryWindows < a.FitAfter || a.RefitEvery < 0 || !(a.FalseAlarmRate > 0 && a.FalseAlarmRate < 1)) {
		errs = append(errs, fmt.Errorf("anomaly options %+v: fit after at least 3 windows, keep at least as many, refit every n ≥ 0, false-alarm rate in (0, 1)", *a))
	}
	if o.Writer == nil {
		errs = append(errs, errors.New("no writer"))
	}
	if o.Now == nil {
		errs = append(errs, errors.New("no clock"))
	}
	if o.Registerer == nil {
		errs = append(errs, errors.New("no registerer"))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("no logger"))
	}
	return errors.Join(errs...)
}

// modelState is what the pipeline keeps per model.
type modelState struct {
	m        *Model
	baseline []stats.Distribution
	open     map[int64]*window // by window start, unix nanoseconds
	// parts tracks each partition's latest event time for the model. Partitions
	// are read concurrently and one may lag another, so the watermark follows the
	// slowest partition still delivering, minus the allowed lateness.
	parts      map[topicPartition]*partition
	lastPartTP topicPartition
	lastPart   *partition
	latest     time.Time // latest event time of any partition
	closedUpTo time.Time
	// firstEnd is the earliest end among the open windows (zero when none): no
	// window closes while the watermark is before it, which spares the scan of
	// the open windows on almost every event.
	firstEnd time.Time
	// written is the end of the windows written before a restart: events of
	// earlier windows were counted then.
	written   time.Time
	lastEvent time.Time // wall clock, for staleness and idle windows
	// prev summarises the previous window, ref the previous reference period,
	// and refNext accumulates the current one; each is allocated once.
	prev, ref, refNext *summaries
	// refIndex numbers the period refNext accumulates, refDoneIndex the one
	// ref holds (earlier than refIndex-1 after a silence).
	refIndex, refDoneIndex int64
	// The per-event series, resolved once: a label lookup per event would cost
	// more than profiling a feature.
	eventsTotal prometheus.Counter
	lastSeen    prometheus.Gauge
	detector    *detector
	keyed       *skew.KeyedJoin
}

// Stats counts what the pipeline has done, for replay's summary.
type Stats struct {
	Messages, Events, Labels, Offline, Rejected, Late, Skipped, Windows uint64
}

// Pipeline turns messages into window results. It is not safe for concurrent
// use: one goroutine owns it (the runner, or replay).
type Pipeline struct {
	opts   Options
	models map[string]*modelState
	dec    *event.Decoder
	ev     event.Event
	// seen is the first and last offset processed per partition; lastSeen is
	// the entry of the partition of the previous message, which the next
	// message usually shares.
	seen     map[topicPartition]*[2]int64
	lastTP   topicPartition
	lastSeen *[2]int64
	rejected map[rejectedKey]uint64
	// unwritten holds closed windows whose results are not yet durable: their
	// offsets stay held.
	unwritten []*window
	joiner    *drift.Joiner
	values    *drift.ValueParser
	metrics   *metrics
	stats     Stats
	started   time.Time
}

type rejectedKey struct {
	model, reason string
	window        int64
	partition     int32
}

// New builds a pipeline.
func New(opts Options) (*Pipeline, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline options: %w", err)
	}
	p := &Pipeline{
		opts:     opts,
		models:   make(map[string]*modelState, len(opts.Models)),
		dec:      event.NewDecoder(event.Options{Layout: event.LayoutEnvelope}),
		seen:     make(map[topicPartition]*[2]int64),
		rejected: make(map[rejectedKey]uint64),
	}
	now := opts.Now()
	p.started = now
	names := make([]string, 0, len(opts.Models))
	for _, m := range opts.Models {
		ms := &modelState{m: m, open: make(map[int64]*window), closedUpTo: opts.Closed[m.Name()], written: opts.Closed[m.Name()], lastEvent: now,
			parts: make(map[topicPartition]*partition)}
		var err error
		if ms.prev, err = newSummaries(m); err != nil {
			return nil, err
		}
		if ms.ref, err = newSummaries(m); err != nil {
			return nil, err
		}
		if ms.refNext, err = newSummaries(m); err != nil {
			return nil, err
		}
		if opts.Anomaly != nil {
			ms.detector = newDetector(m, opts.Window, *opts.Anomaly)
		}
		if opts.FeaturesTopic != "" {
			names := make([]string, len(m.Contract.Features))
			for i, f := range m.Contract.Features {
				names[i] = f.Name
			}
			ms.keyed = skew.NewKeyedJoin(names, opts.KeyedSkew)
		}
		for i := range m.Contract.Features {
			fb := m.Baseline.Feature(m.Contract.Features[i].Name)
			var d stats.Distribution
			if fb != nil {
				var err error
				if d, err = m.Baseline.Distribution(fb); err != nil {
					return nil, fmt.Errorf("model %s: %w", m.Name(), err)
				}
			}
			ms.baseline = append(ms.baseline, d)
		}
		p.models[m.Name()] = ms
		names = append(names, m.Name())
	}
	var err error
	if p.metrics, err = newMetrics(opts.Registerer, names); err != nil {
		return nil, err
	}
	if opts.Labels != nil {
		if p.joiner, err = drift.NewJoiner(*opts.Labels, names); err != nil {
			return nil, fmt.Errorf("label join: %w", err)
		}
		p.values = drift.NewValueParser(maxClasses)
	}
	for name, ms := range p.models {
		ms.eventsTotal = p.metrics.events.WithLabelValues(name)
		ms.lastSeen = p.metrics.lastEvent.WithLabelValues(name)
		_, published := resultBounds(ms.m)
		p.metrics.checks.reserve(name, published)
	}
	return p, nil
}

// WarmAnomaly gives a model's detector the results written before a restart, so
// that it need not gather history again.
func (p *Pipeline) WarmAnomaly(model string, history []store.CheckResult) error {
	ms := p.models[model]
	if ms == nil || ms.detector == nil {
		return nil
	}
	if err := ms.detector.warm(history); err != nil {
		return fmt.Errorf("model %s: %w", model, err)
	}
	return nil
}

// Stats returns the counts so far.
func (p *Pipeline) Stats() Stats { return p.stats }

// Process handles one message: an event is profiled into its window, a bad one
// dead-lettered. Windows the event's time closes are checked and written before
// Process returns, so an error means the results could not be made durable; the
// pipeline is then unusable, and its owner stops consuming and exits so that a
// restart resumes from the committed offsets.
func (p *Pipeline) Process(ctx context.Context, msg ingest.Message) error {
	return p.ProcessAt(ctx, msg, p.opts.Now())
}

// ProcessAt is Process at a wall-clock time the caller read (Options.Now): a
// consumer handling a run of messages already fetched reads the clock once for
// the run, which is the time they are seen at to well within a second.
func (p *Pipeline) ProcessAt(ctx context.Context, msg ingest.Message, now time.Time) error {
	p.stats.Messages++
	tp := topicPartition{msg.Topic, msg.Partition}
	if p.lastSeen == nil || tp != p.lastTP {
		s, ok := p.seen[tp]
		if !ok {
			s = &[2]int64{msg.Offset, msg.Offset}
			p.seen[tp] = s
		}
		p.lastTP, p.lastSeen = tp, s
	}
	p.lastSeen[1] = msg.Offset
	if len(msg.Value) > p.opts.MaxMessageBytes {
		return p.reject(ctx, msg, unknownModel, ReasonOversized, fmt.Sprintf("message of %d bytes exceeds the limit of %d", len(msg.Value), p.opts.MaxMessageBytes))
	}
	if err := p.dec.Decode(msg.Value, &p.ev); err != nil {
		return p.reject(ctx, msg, unknownModel, string(event.ReasonOf(err)), err.Error())
	}
	ev := &p.ev
	if len(ev.Model) == 0 {
		return p.reject(ctx, msg, unknownModel, ReasonMissingModel, "event has no model")
	}
	ms, ok := p.models[string(ev.Model)]
	if !ok {
		return p.reject(ctx, msg, unknownModel, ReasonUnknownModel, fmt.Sprintf("model %q is not monitored", truncate(ev.Model)))
	}
	name := ms.m.Name()
	if !ev.HasTimestamp {
		return p.reject(ctx, msg, name, ReasonMissingTimestamp, "event has no timestamp")
	}
	if (p.opts.MaxFutureSkew > 0 && ev.Timestamp.After(now.Add(p.opts.MaxFutureSkew))) ||
		(p.opts.MaxAge > 0 && ev.Timestamp.Before(now.Add(-p.opts.MaxAge))) {
		return p.reject(ctx, msg, name, ReasonAbsurdTimestamp, fmt.Sprintf("event time %s is too far from now (%s)", ev.Timestamp.Format(time.RFC3339), now.Format(time.RFC3339)))
	}
	ms.lastEvent = now
	ms.lastSeen.Set(float64(now.UnixNano()) / 1e9)
	start := ev.Timestamp.Truncate(p.opts.Window)
	end := start.Add(p.opts.Window)
	if !end.After(ms.closedUpTo) {
		if !end.After(ms.written) {
			// Written before a restart: this event was counted then.
			p.skip(name)
		} else {
			p.stats.Late++
			p.metrics.late.WithLabelValues(name).Inc()
		}
		return nil
	}
	w := ms.open[start.UnixNano()]
	if w == nil {
		var err error
		if w, err = newWindow(ms.m, start, p.opts.Window); err != nil {
			return fmt.Errorf("opening window: %w", err)
		}
		ms.addOpen(w)
	}
	if last, ok := w.counted[tp]; ok && msg.Offset <= last {
		// Counted in the window's stored profiles before the restart.
		p.skip(name)
		return nil
	}
	w.hold(tp, msg.Offset)
	switch {
	case ms.keyed != nil && msg.Topic == p.opts.FeaturesTopic:
		p.stats.Offline++
		if len(ev.RequestID) > 0 {
			if match, ok := ms.keyed.AddOffline(ev.RequestID, ev.Features, ev.Timestamp); ok {
				w.addMatch(match)
			}
		}
		// Offline values and labels describe other moments than their arrival;
		// only events move (or hold back) the watermark.
		return nil
	case ev.Label.Present():
		p.stats.Labels++
		p.label(ms, w, ev)
		return nil
	}
	w.add(ms.m, ev)
	p.stats.Events++
	ms.eventsTotal.Inc()
	p.predict(ms, w, ev)
	if ms.keyed != nil && len(ev.RequestID) > 0 {
		if match, ok := ms.keyed.AddServing(ev.RequestID, ev.Features, ev.Timestamp); ok {
			w.addMatch(match)
		}
	}
	part := ms.lastPart
	if part == nil || tp != ms.lastPartTP {
		if part = ms.parts[tp]; part == nil {
			part = &partition{}
			ms.parts[tp] = part
		}
		ms.lastPartTP, ms.lastPart = tp, part
	}
	part.lastWall = now
	if ev.Timestamp.After(part.maxEvent) {
		part.maxEvent = ev.Timestamp
		if ev.Timestamp.After(ms.latest) {
			ms.latest = ev.Timestamp
		}
	}
	// The watermark is never later than the latest event less the lateness:
	// until that passes the first open window's end, nothing can close, and
	// the walk over the partitions is spared.
	if len(ms.open) == 0 || ms.latest.Add(-p.opts.Lateness).Before(ms.firstEnd) {
		return nil
	}
	return p.closeUpTo(ctx, ms, p.watermark(ms, now))
}

// skip counts a message read again after a restart, already counted before it.
func (p *Pipeline) skip(model string) {
	p.stats.Skipped++
	p.metrics.skipped.WithLabelValues(model).Inc()
}

// partition is what a model's watermark knows of one partition.
type partition struct {
	maxEvent time.Time // latest event time
	lastWall time.Time // when it last delivered an event of the model
}

// watermark is the event time up to which the model's windows are complete: the
// slowest active partition's latest event time minus the allowed lateness. A
// partition that has delivered nothing for the model for a window and the
// lateness is idle and no longer holds the watermark back. During the startup
// grace nothing is complete yet.
func (p *Pipeline) watermark(ms *modelState, now time.Time) time.Time {
	if now.Sub(p.started) < p.opts.StartupGrace {
		return time.Time{}
	}
	idle := p.opts.Window + p.opts.Lateness
	var w, latest time.Time
	for _, part := range ms.parts {
		if part.maxEvent.After(latest) {
			latest = part.maxEvent
		}
		if now.Sub(part.lastWall) > idle {
			continue
		}
		if w.IsZero() || part.maxEvent.Before(w) {
			w = part.maxEvent
		}
	}
	if w.IsZero() {
		w = latest
	}
	return w.Add(-p.opts.Lateness)
}

// maxClasses bounds the class names the label join interns.
const maxClasses = 1000

// predict offers an event's prediction to the label join.
func (p *Pipeline) predict(ms *modelState, w *window, ev *event.Event) {
	if p.joiner == nil || len(ev.RequestID) == 0 || !ev.Prediction.Present() {
		return
	}
	v, err := p.values.Prediction(ms.m.predictionKind(), ev.Prediction)
	if err != nil {
		return // counted by the numerical checks, not joinable
	}
	if pair, ok := p.joiner.AddPrediction(ev.Model, ev.RequestID, v, ev.Timestamp); ok {
		w.addPair(ms.m, pair)
	}
}

// label offers a label event to the join. A joined pair scores in the window of
// the message that completed it: delayed labels measure the model as its ground
// truth arrives.
func (p *Pipeline) label(ms *modelState, w *window, ev *event.Event) {
	if p.joiner == nil || len(ev.RequestID) == 0 {
		return
	}
	v, err := p.values.Label(ms.m.predictionKind(), ev.Label)
	if err != nil {
		w.badLabels++
		return
	}
	if pair, ok := p.joiner.AddLabel(ev.Model, ev.RequestID, v, ev.Timestamp); ok {
		w.addPair(ms.m, pair)
	}
}

// truncate bounds a payload-derived string in a message for people.
func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}

func (p *Pipeline) reject(ctx context.Context, msg ingest.Message, model, reason, detail string) error {
	p.stats.Rejected++
	p.metrics.rejected.WithLabelValues(model, reason).Inc()
	if p.opts.DeadLetters != nil {
		if err := p.opts.DeadLetters.Send(ctx, msg, reason, detail); err != nil {
			return fmt.Errorf("dead-lettering a message rejected as %s: %w", reason, err)
		}
	}
	k := rejectedKey{model: model, reason: reason, window: p.opts.Now().Truncate(p.opts.Window).UnixNano(), partition: int32(msg.Partition)}
	p.rejected[k]++
	return nil
}

// closeUpTo closes the model's windows that end at or before watermark.
func (p *Pipeline) closeUpTo(ctx context.Context, ms *modelState, watermark time.Time) error {
	if len(ms.open) == 0 || watermark.Before(ms.firstEnd) {
		return nil
	}
	var due []*window
	for _, w := range ms.open {
		if !w.end.After(watermark) {
			due = append(due, w)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool { return due[i].start.Before(due[j].start) })
	if p.joiner != nil {
		p.joiner.Expire(watermark)
	}
	if ms.keyed != nil {
		ms.keyed.Expire(watermark)
	}
	var b store.Batch
	for _, w := range due {
		if err := p.closeWindow(ms, w, &b); err != nil {
			return err
		}
		p.unwritten = append(p.unwritten, w)
	}
	return p.write(ctx, b)
}

// closeWindow checks w and adds its results to b. The window leaves the open set
// now, but its offsets are released only when b is written.
func (p *Pipeline) closeWindow(ms *modelState, w *window, b *store.Batch) error {
	// A window of a new reference period is the first to compare with the
	// period that just completed.
	idx := w.start.UnixNano() / int64(p.opts.ReferencePeriod)
	if !ms.refNext.empty && idx != ms.refIndex {
		ms.ref, ms.refNext = ms.refNext, ms.ref
		ms.refNext.reset()
		ms.refDoneIndex = ms.refIndex
		// The completed period is stored with this window, so that a restart,
		// even after a crash, compares with it at once.
		b.References = append(b.References, ms.ref.rows(ms.m, p.periodStart(ms.refDoneIndex), p.opts.Logger)...)
	}
	ms.refIndex = idx
	results := check(ms.m, w, ms.prev.orNil(), ms.ref.orNil(), ms.baseline, p.opts.MinSamples)
	results = keyedResults(ms.m, w, p.opts.MaxMismatchRatio, results)
	if ms.detector != nil {
		a, err := ms.detector.observe(ms.m.Name(), w, results)
		if err != nil {
			return err
		}
		if a != nil {
			b.Anomalies = append(b.Anomalies, *a)
			results = append(results, store.CheckResult{Model: a.Model, WindowStart: w.start, WindowEnd: w.end,
				Kind: KindAnomaly, Metric: "score", Value: a.Score, Threshold: ms.detector.cfg.Threshold(), Breached: a.Anomaly})
		}
	}
	b.Results = append(b.Results, results...)
	b.Profiles = append(b.Profiles, profiles(ms.m, w, p.processed(), p.opts.Logger)...)
	p.metrics.checks.observeWindow(ms.m.Name(), results)
	ms.removeOpen(w)
	if w.end.After(ms.closedUpTo) {
		ms.closedUpTo = w.end
	}
	ms.prev.reset()
	if err := ms.prev.add(w); err != nil {
		return fmt.Errorf("model %s: summarising the window: %w", ms.m.Name(), err)
	}
	// A window reopened after a restart that the stored summaries already
	// held is not counted twice.
	if w.end.After(ms.refNext.through) {
		if err := ms.refNext.add(w); err != nil {
			return fmt.Errorf("model %s: adding the window to the reference: %w", ms.m.Name(), err)
		}
	}
	p.stats.Windows++
	p.metrics.windows.WithLabelValues(ms.m.Name()).Inc()
	return nil
}

// write makes b durable, with the rejected counts gathered so far.
func (p *Pipeline) write(ctx context.Context, b store.Batch) error {
	for k, n := range p.rejected {
		b.Rejected = append(b.Rejected, store.RejectedCount{Model: k.model, Reason: k.reason,
			WindowStart: time.Unix(0, k.window).UTC(), Partition: k.partition, Count: n})
	}
	if b.Empty() {
		return nil
	}
	if err := p.opts.Writer.Write(ctx, b); err != nil {
		return fmt.Errorf("writing window results: %w", err)
	}
	clear(p.rejected)
	// The windows are garbage now, unless the array still points at them.
	clear(p.unwritten)
	p.unwritten = p.unwritten[:0]
	return nil
}

// Tick runs the wall-clock checks, which no event drives: staleness of each
// model (seconds since its last event, and the age of its version), and the
// closing of windows that the passing of time alone completes — at the end of the
// startup grace, when a partition falls idle, when a model goes quiet.
func (p *Pipeline) Tick(ctx context.Context) error {
	now := p.opts.Now()
	var b store.Batch
	for _, ms := range p.models {
		// The watermark moves with the clock too: partitions fall idle and the
		// startup grace ends without any event arriving.
		watermark := p.watermark(ms, now)
		if len(ms.open) > 0 && now.Sub(ms.lastEvent) >= p.opts.Window+p.opts.Lateness {
			watermark = maxTime()
		}
		if err := p.closeUpTo(ctx, ms, watermark); err != nil {
			return err
		}
		r := &results{m: ms.m, w: &window{start: now.Truncate(p.opts.Window)}}
		r.w.end = r.w.start.Add(p.opts.Window)
		silence := noThreshold()
		if p.opts.MaxSilence > 0 {
			silence = p.opts.MaxSilence.Seconds()
		}
		r.add(KindStaleness, "", "seconds_since_last_event", now.Sub(ms.lastEvent).Seconds(), silence, false)
		if trained := ms.m.Contract.TrainedAt; !trained.IsZero() {
			limit := noThreshold()
			if p.opts.MaxModelAge > 0 {
				limit = p.opts.MaxModelAge.Seconds()
			}
			r.add(KindStaleness, "", "model_age_seconds", now.Sub(trained).Seconds(), limit, false)
		}
		p.metrics.checks.observeClock(ms.m.Name(), r.out)
		b.Results = append(b.Results, r.out...)
	}
	return p.write(ctx, b)
}

func (ms *modelState) addOpen(w *window) {
	ms.open[w.start.UnixNano()] = w
	if ms.firstEnd.IsZero() || w.end.Before(ms.firstEnd) {
		ms.firstEnd = w.end
	}
}

func (ms *modelState) removeOpen(w *window) {
	delete(ms.open, w.start.UnixNano())
	ms.firstEnd = time.Time{}
	for _, o := range ms.open {
		if ms.firstEnd.IsZero() || o.end.Before(ms.firstEnd) {
			ms.firstEnd = o.end
		}
	}
}

// processed lists the last offset processed in each partition.
func (p *Pipeline) processed() []partitionOffset {
	out := make([]partitionOffset, 0, len(p.seen))
	for tp, s := range p.seen {
		out = append(out, partitionOffset{Topic: tp.topic, Partition: tp.partition, Offset: s[1]})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Restore reopens windows written before a restart — drained at a shutdown, or
// written before a crash — from their stored profiles, so that the events still
// arriving for them are added rather than skipped. Messages a reopened window had
// counted (at or below the offsets stored with it) are skipped when read again.
// Windows are identified by start; rows of other models are an error.
func (p *Pipeline) Restore(model string, rows []store.WindowProfile) error {
	ms := p.models[model]
	if ms == nil {
		return fmt.Errorf("restoring windows: model %q is not monitored", model)
	}
	byStart := make(map[int64][]store.WindowProfile)
	for _, r := range rows {
		if r.Model != model {
			return fmt.Errorf("restoring windows of model %s: row of model %s", model, r.Model)
		}
		byStart[r.WindowStart.UnixNano()] = append(byStart[r.WindowStart.UnixNano()], r)
	}
	for start, group := range byStart {
		w, err := ms.restore(time.Unix(0, start).UTC(), p.opts.Window, group)
		if err != nil {
			return fmt.Errorf("restoring window %s of model %s: %w", time.Unix(0, start).UTC().Format(time.RFC3339), model, err)
		}
		if w == nil {
			continue
		}
		ms.addOpen(w)
		if w.start.Before(ms.closedUpTo) {
			ms.closedUpTo = w.start
		}
		if w.start.Before(ms.written) {
			ms.written = w.start
		}
	}
	return nil
}

// RestorePrevious gives the model's drift its previous window back after a
// restart: of the written windows in rows, the latest, which the first window
// closed next is compared with. Rows of windows that Restore reopens do not
// belong here: they become the previous window when they close again.
func (p *Pipeline) RestorePrevious(model string, rows []store.WindowProfile) error {
	ms := p.models[model]
	if ms == nil {
		return fmt.Errorf("restoring the previous window: model %q is not monitored", model)
	}
	var latest time.Time
	for _, r := range rows {
		if r.Model != model {
			return fmt.Errorf("restoring the previous window of model %s: row of model %s", model, r.Model)
		}
		if r.WindowStart.After(latest) {
			latest = r.WindowStart
		}
	}
	var group []store.WindowProfile
	for _, r := range rows {
		if r.WindowStart.Equal(latest) {
			group = append(group, r)
		}
	}
	if len(group) == 0 {
		return nil
	}
	w, err := ms.restore(latest, p.opts.Window, group)
	if err != nil {
		return fmt.Errorf("restoring window %s of model %s: %w", latest.Format(time.RFC3339), model, err)
	}
	if w == nil {
		return nil
	}
	ms.prev.reset()
	return ms.prev.add(w)
}

// restore rebuilds one window from its rows; nil when the model-level row,
// which carries the offsets, is missing (a window written by an older version).
func (ms *modelState) restore(start time.Time, size time.Duration, rows []store.WindowProfile) (*window, error) {
	w, err := newWindow(ms.m, start, size)
	if err != nil {
		return nil, err
	}
	index := make(map[string]int, len(ms.m.specs))
	for i, s := range ms.m.specs {
		index[s.Name] = i
	}
	var state *windowState
	for _, r := range rows {
		switch {
		case r.Feature == "":
			state = &windowState{}
			if err := json.Unmarshal(r.State, state); err != nil {
				return nil, fmt.Errorf("reading window state: %w", err)
			}
			if state.Version != windowStateVersion {
				return nil, fmt.Errorf("window state version %d is not supported", state.Version)
			}
		case r.Feature == "prediction":
			if w.prediction, err = profile.UnmarshalState(ms.m.predictionSpec(), r.State); err != nil {
				return nil, err
			}
		case r.Feature == "latency_ms":
			if w.latency, err = profile.UnmarshalState(ms.m.latencySpec(), r.State); err != nil {
				return nil, err
			}
		default:
			i, ok := index[r.Feature]
			if !ok {
				continue // a feature since removed from the contract
			}
			if w.features.Features[i], err = profile.UnmarshalState(ms.m.specs[i], r.State); err != nil {
				return nil, err
			}
		}
	}
	if state == nil {
		return nil, nil
	}
	w.events, w.probabilityOutOfRange, w.badLabels = state.Events, state.ProbabilityOutOfRange, state.BadLabels
	w.counted = make(map[topicPartition]int64, len(state.Offsets))
	for _, o := range state.Offsets {
		w.counted[topicPartition{o.Topic, o.Partition}] = o.Offset
	}
	return w, nil
}

// Flush closes every open window, as at shutdown or the end of a replay, and
// stores the reference periods drift holds, so that a restart resumes them.
func (p *Pipeline) Flush(ctx context.Context) error {
	// The summaries are taken before the open windows close: those windows are
	// reopened after a restart and added when they close again.
	var refs []store.ReferenceSummary
	for _, ms := range p.models {
		if !ms.ref.empty {
			refs = append(refs, ms.ref.rows(ms.m, p.periodStart(ms.refDoneIndex), p.opts.Logger)...)
		}
		if !ms.refNext.empty {
			refs = append(refs, ms.refNext.rows(ms.m, p.periodStart(ms.refIndex), p.opts.Logger)...)
		}
	}
	for _, ms := range p.models {
		if err := p.closeUpTo(ctx, ms, maxTime()); err != nil {
			return err
		}
	}
	return p.write(ctx, store.Batch{References: refs})
}

// periodStart is the start of the reference period of index idx.
func (p *Pipeline) periodStart(idx int64) time.Time {
	return time.Unix(0, idx*int64(p.opts.ReferencePeriod)).UTC()
}

// RestoreReferences gives drift its reference periods back after a restart:
// of the stored summaries in rows, the latest period becomes the one in
// progress, and the period before it, when stored, the completed reference. A
// feature whose stored summary was counted under another contract or baseline
// (other bins, another sketch) starts empty, as do all when the reference
// period was changed.
func (p *Pipeline) RestoreReferences(model string, rows []store.ReferenceSummary) error {
	ms := p.models[model]
	if ms == nil {
		return fmt.Errorf("restoring the reference periods: model %q is not monitored", model)
	}
	period := int64(p.opts.ReferencePeriod)
	byPeriod := make(map[int64][]store.ReferenceSummary)
	var idx []int64
	for _, r := range rows {
		if r.Model != model {
			return fmt.Errorf("restoring the reference periods of model %s: row of model %s", model, r.Model)
		}
		start := r.PeriodStart.UnixNano()
		if start%period != 0 {
			p.opts.Logger.Warn("reference summary of another reference period length ignored", "model", model,
				"period_start", r.PeriodStart, "reference_period", p.opts.ReferencePeriod)
			continue
		}
		if _, ok := byPeriod[start/period]; !ok {
			idx = append(idx, start/period)
		}
		byPeriod[start/period] = append(byPeriod[start/period], r)
	}
	if len(idx) == 0 {
		return nil
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	latest := idx[len(idx)-1]
	ms.refNext.reset()
	inProgress := ms.refNext.restore(ms.m, byPeriod[latest], p.opts.Logger)
	ms.refIndex = latest
	ms.ref.reset()
	log := p.opts.Logger.With("model", model, "period_start", p.periodStart(latest), "features", inProgress,
		"of", len(ms.m.specs)+1)
	if len(idx) > 1 {
		ms.refDoneIndex = idx[len(idx)-2]
		completed := ms.ref.restore(ms.m, byPeriod[ms.refDoneIndex], p.opts.Logger)
		log = log.With("reference_start", p.periodStart(ms.refDoneIndex), "reference_features", completed)
	}
	log.Info("drift reference periods restored")
	return nil
}

// maxTime is later than any event time the decoder accepts (years up to 9999).
func maxTime() time.Time { return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }

// Committable returns, per partition, the last message whose offset may be
// committed: the one before the lowest offset still held by an open or unwritten
// window, or the last one seen when no window holds any.
func (p *Pipeline) Committable() []ingest.Message {
	held := make(map[topicPartition]int64)
	hold := func(w *window) {
		for tp, o := range w.minOffset {
			if h, ok := held[tp]; !ok || o < h {
				held[tp] = o
			}
		}
	}
	for _, ms := range p.models {
		for _, w := range ms.open {
			hold(w)
		}
	}
	for _, w := range p.unwritten {
		hold(w)
	}
	out := make([]ingest.Message, 0, len(p.seen))
	for tp, s := range p.seen {
		off := s[1]
		if h, ok := held[tp]; ok {
			off = h - 1
		}
		// Nothing before the first message this pipeline processed is its to commit.
		if off >= s[0] {
			out = append(out, ingest.Message{Topic: tp.topic, Partition: tp.partition, Offset: off})
		}
	}
	return out
}
