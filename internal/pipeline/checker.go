package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/tracing"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// Checker is the checking side: it gathers every partition's share of each
// model's windows, and checks and writes a window once every partition of the
// events topic has passed it — whoever reads that partition, so that a window
// is never judged on part of its traffic. A share that arrives for a window
// already written updates the stored copy. It is not safe for concurrent use:
// one goroutine owns it.
type Checker struct {
	opts     *Options
	log      *slog.Logger
	tracer   trace.Tracer
	analyzer *analyze.Analyzer
	index    *countedIndex
	metrics  *metrics
	history  store.History
	models   map[string]*checkerModel
	// owned, when set, are the models this checker checks (see Own); nil is
	// all of them.
	owned map[string]bool
	// progress is the last report of each partition number; a partition that
	// never reported (no one reads it yet) holds every window open.
	progress []partitionProgress
	// foreign are the partitions another member of the group reads since
	// the last generation began (see Hold).
	foreign int
	// rejected are rejection counts waiting for the next write, and done
	// releases their offsets once written.
	rejected     []store.RejectedCount
	rejectedDone []func()
	// closed are the windows checked into the batch being written, logged
	// once it is durable; breaches says when each check last logged a breach.
	closed   []closedWindow
	breaches map[breachKey]time.Time
	// align, when set, learns the watermark, for the readers that lead.
	align *alignment
	// behind writes batches on its own goroutine, with WriteBehind; nil
	// writes them in the call that made them.
	behind *writeBehind
	// spares are the arrays of batches written, for the next ones.
	spares *spares
	// states is the array the profiles' states of the batch being made are
	// written into (window.AppendRows); write hands it on with the batch.
	states []byte
	stats  Stats
}

// closedWindow is what the log says of a window checked.
type closedWindow struct {
	ctx        context.Context // of the window's span, for the log's trace id
	model      string
	start      time.Time
	events     uint64
	findings   int
	complete   bool
	checkStart time.Time
}

type breachKey struct {
	model, feature, metric string
	kind                   check.Kind
}

// breachLogEvery is how many windows a breached check stays quiet in the log
// after it was logged: a drift that lasts a day logs a line every ten
// windows, not one per window.
const breachLogEvery = 10

type partitionProgress struct {
	reported  bool
	watermark time.Time
	idle      bool
}

// checkerModel is what the checking side keeps per model.
type checkerModel struct {
	m    *model.Model
	open map[int64]*checkingWindow
	// closedUpTo is the end of the latest window written.
	closedUpTo time.Time
	// lastEvent is the latest time any partition admitted an event of the model.
	lastEvent time.Time
	// pool takes back the windows the checker is done with.
	pool *windowPool
	// progress is, with SharedWindows, the partitions' reports as read
	// from the model's partition of the partials topic (Progress.Only).
	progress []partitionProgress
	// written is, per window start, what the stored windows of the late
	// horizon count: a share read again after a rebalance that they hold
	// is dropped without asking the store.
	written map[int64]map[ingest.TopicPartition]int64
}

// wrote records, with SharedWindows, what a window written counts,
// forgetting windows past the late horizon. A single process never reads a
// share twice: its workers skip what a window counts.
func (c *Checker) wrote(cm *checkerModel, start time.Time, counted map[ingest.TopicPartition]int64) {
	if !c.opts.SharedWindows {
		return
	}
	if cm.written == nil {
		cm.written = make(map[int64]map[ingest.TopicPartition]int64)
	}
	cm.written[start.UnixNano()] = maps.Clone(counted)
	oldest := cm.closedUpTo.Add(-c.opts.LateHorizon - c.opts.Window).UnixNano()
	for k := range cm.written {
		if k < oldest {
			delete(cm.written, k)
		}
	}
}

// holds reports whether a stored window counts every message of d.
func (cm *checkerModel) holds(d *Delta) bool {
	counted, ok := cm.written[d.Window.Start.UnixNano()]
	return ok && covers(counted, d.Through)
}

// checkingWindow is a window gathering its shares.
type checkingWindow struct {
	*window.Window
	// counted is, per topic-partition, the offset through which its messages
	// are in the window.
	counted map[ingest.TopicPartition]int64
	// done release the offsets of the shares merged, once written.
	done []func()
	// pending are the shares kept apart until the window closes, with
	// SharedWindows (checker_shared.go); empty says none is merged yet, and
	// Window is the first pending share's, which becomes the window when
	// the others are merged into it.
	pending []*Delta
	empty   bool
}

func newChecker(opts *Options, analyzer *analyze.Analyzer, index *countedIndex, pools map[string]*windowPool, m *metrics, log *slog.Logger) *Checker {
	c := &Checker{opts: opts, log: log, tracer: tracing.Tracer(opts.TracerProvider), analyzer: analyzer, index: index, metrics: m,
		models: make(map[string]*checkerModel, len(opts.Models)), progress: make([]partitionProgress, opts.Partitions), spares: &spares{}}
	now := time.Time{}
	if !opts.EventTime {
		now = opts.Now()
	}
	for _, md := range opts.Models {
		c.models[md.Name()] = &checkerModel{m: md, open: make(map[int64]*checkingWindow), lastEvent: now, pool: pools[md.Name()]}
	}
	if opts.WriteBehind {
		c.behind = newWriteBehind(opts.Writer, c.spares, log)
	}
	return c
}

// Deliver merges a share into its window; a share of a window already written
// updates the stored copy at once.
func (c *Checker) Deliver(ctx context.Context, d *Delta) error {
	cm := c.models[d.Model.Name()]
	key := d.Window.Start.UnixNano()
	if w := cm.open[key]; w != nil && c.opts.SharedWindows {
		return c.deliverShared(cm, d)
	} else if w != nil {
		if err := w.Merge(d.Window); err != nil {
			return fmt.Errorf("model %s: merging the share of partition %d: %w", cm.m.Name(), d.Partition, err)
		}
		cm.pool.put(d.Window)
		w.add(d)
		c.index.set(cm.m.Name(), w.Start, w.counted)
		return nil
	}
	if !d.Window.End.After(cm.closedUpTo) {
		return c.update(ctx, cm, d)
	}
	if c.opts.SharedWindows {
		if c.history != nil {
			// Another process may have written the window: a share read
			// again after a rebalance goes to its stored copy, or nowhere.
			rows, err := c.history.Window(ctx, cm.m.Name(), d.Window.Start)
			if err != nil {
				return fmt.Errorf("model %s: looking for a stored copy of window %s: %w", cm.m.Name(), d.Window.Start.Format(time.RFC3339), err)
			}
			if len(rows) > 0 {
				return c.update(ctx, cm, d)
			}
		}
		return c.deliverShared(cm, d)
	}
	// The first share is the window: with one partition, the only one.
	w := &checkingWindow{Window: d.Window, counted: make(map[ingest.TopicPartition]int64)}
	w.add(d)
	cm.open[key] = w
	// What the checker holds of a window is known to workers, so that a
	// partition read again after a rebalance does not add it twice.
	c.index.set(cm.m.Name(), w.Start, w.counted)
	return nil
}

// add records a merged share's offsets.
func (w *checkingWindow) add(d *Delta) {
	for _, o := range d.Through {
		tp := ingest.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if c, ok := w.counted[tp]; !ok || o.Offset > c {
			w.counted[tp] = o.Offset
		}
	}
	w.done = append(w.done, d.done)
}

// Progress records a partition's report and checks and writes the windows
// every partition has now passed.
func (c *Checker) Progress(ctx context.Context, p *Progress) error {
	if p.Partition >= len(c.progress) {
		return fmt.Errorf("progress of partition %d, but the events topic has %d", p.Partition, len(c.progress))
	}
	pp := partitionProgress{reported: true, watermark: p.Watermark, idle: p.Idle}
	c.progress[p.Partition] = pp
	for _, name := range p.Only {
		// A report read from a model's partition of the partials topic
		// comes after every share published before it there; the same
		// report read from another partition may pass shares still unread.
		if cm := c.models[name]; cm != nil {
			for len(cm.progress) < len(c.progress) {
				cm.progress = append(cm.progress, partitionProgress{})
			}
			cm.progress[p.Partition] = pp
		}
	}
	for name, at := range p.LastEvent {
		if cm := c.models[name]; cm != nil && at.After(cm.lastEvent) {
			cm.lastEvent = at
		}
	}
	if len(p.Rejected) > 0 {
		c.rejected = append(c.rejected, p.Rejected...)
		c.rejectedDone = append(c.rejectedDone, p.Done)
	}
	return c.closeComplete(ctx)
}

// watermark is the event time before which every partition is complete: the
// slowest partition's watermark, idle ones aside; zero while a partition has
// not reported.
func (c *Checker) watermark() time.Time { return watermarkOf(c.progress) }

// modelWatermark is the watermark that closes cm's windows: with
// SharedWindows, that of the reports read after its shares.
func (c *Checker) modelWatermark(cm *checkerModel) time.Time {
	if !c.opts.SharedWindows {
		return c.watermark()
	}
	if len(cm.progress) < len(c.progress) {
		return time.Time{}
	}
	return watermarkOf(cm.progress)
}

func watermarkOf(progress []partitionProgress) time.Time {
	if len(progress) == 0 {
		return time.Time{} // the partitions are not known yet
	}
	var w time.Time
	active := false
	for _, p := range progress {
		switch {
		case !p.reported:
			return time.Time{}
		case p.idle:
			continue
		}
		if !active || p.watermark.Before(w) {
			w = p.watermark
		}
		active = true
	}
	if !active {
		// Every partition is idle: nothing more is coming.
		return maxTime()
	}
	return w
}

// closeComplete checks and writes every window the watermark has passed.
func (c *Checker) closeComplete(ctx context.Context) error {
	mark := c.watermark()
	if c.align != nil {
		c.align.advance(mark)
	}
	var b store.Batch
	c.reserve(&b, mark)
	var done []func()
	for _, cm := range c.models {
		if !c.owns(cm) {
			continue
		}
		d, err := c.closeUpTo(ctx, cm, c.modelWatermark(cm), true, &b)
		if err != nil {
			return err
		}
		done = append(done, d...)
	}
	return c.write(ctx, b, done)
}

// reserve sizes b for the windows that end at or before mark: at a minute's
// end, a hundred models' windows make tens of thousands of results, which
// grown to by doubling were copied over and over.
func (c *Checker) reserve(b *store.Batch, mark time.Time) {
	results, rows := 0, 0
	for _, cm := range c.models {
		if !c.owns(cm) {
			continue
		}
		for _, w := range cm.open {
			if !w.End.After(mark) {
				results += c.analyzer.ResultsPerWindow(cm.m)
				rows += len(w.Features.Features) + 3
			}
		}
	}
	if rows > 0 {
		c.spares.take(b, &c.states)
		b.Results = slices.Grow(b.Results, results)
		b.Profiles = slices.Grow(b.Profiles, rows)
	}
}

// closeUpTo checks the model's windows that end at or before mark into b and
// returns the releases of their shares.
func (c *Checker) closeUpTo(ctx context.Context, cm *checkerModel, mark time.Time, complete bool, b *store.Batch) ([]func(), error) {
	var due []*checkingWindow
	for _, w := range cm.open {
		if !w.End.After(mark) {
			due = append(due, w)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Start.Before(due[j].Start) })
	var done []func()
	for _, w := range due {
		if err := c.mergeShares(cm, w); err != nil {
			return nil, err
		}
		began, first := time.Now(), len(b.Results)
		wctx, span := c.tracer.Start(ctx, tracing.SpanWindow, trace.WithAttributes(
			attribute.String("sentinel.model", cm.m.Name()), attribute.String("sentinel.window_start", w.Start.Format(time.RFC3339)),
			attribute.Int64("sentinel.events", int64(w.Events)), attribute.Bool("sentinel.complete", complete)))
		err := c.analyzer.Check(wctx, cm.m, w.Window, b)
		span.End()
		if err != nil {
			return nil, err
		}
		c.noteClosed(wctx, cm.m.Name(), w.Window, b.Results[first:], complete, began)
		b.Profiles, c.states = w.AppendRows(b.Profiles, c.states, cm.m, offsetsOf(w.counted), complete, c.log)
		delete(cm.open, w.Start.UnixNano())
		if w.End.After(cm.closedUpTo) {
			cm.closedUpTo = w.End
		}
		c.index.set(cm.m.Name(), w.Start, w.counted)
		c.wrote(cm, w.Start, w.counted)
		done = append(done, w.done...)
		c.stats.Windows++
		c.metrics.windows.WithLabelValues(cm.m.Name()).Inc()
		cm.pool.put(w.Window)
	}
	return done, nil
}

// noteClosed remembers a checked window for the log, and logs its breaches,
// each check at most once every breachLogEvery windows.
func (c *Checker) noteClosed(ctx context.Context, model string, w *window.Window, results []check.Result, complete bool, began time.Time) {
	cw := closedWindow{ctx: ctx, model: model, start: w.Start, events: w.Events, complete: complete, checkStart: began}
	if c.breaches == nil {
		c.breaches = make(map[breachKey]time.Time)
	}
	quiet := time.Duration(breachLogEvery) * c.opts.Window
	for i := range results {
		r := &results[i]
		if !r.Breached {
			continue
		}
		cw.findings++
		k := breachKey{model: model, feature: r.Feature, metric: r.Metric, kind: r.Kind}
		if last, ok := c.breaches[k]; ok && r.WindowStart.Sub(last) < quiet {
			continue
		}
		c.breaches[k] = r.WindowStart
		attrs := []any{"model", model, "window_start", r.WindowStart, "kind", string(r.Kind),
			"feature", r.Feature, "metric", r.Metric, "value", r.Value, "threshold", r.Threshold}
		if r.Detail != "" {
			attrs = append(attrs, "detail", r.Detail)
		}
		c.log.Warn("check breached", append(attrs, tracing.LogAttrs(ctx)...)...)
	}
	c.closed = append(c.closed, cw)
}

// logClosed says, once a batch is durable, which windows it checked.
func logClosed(log *slog.Logger, closed []closedWindow) {
	for _, w := range closed {
		log.Info("window closed", append([]any{"model", w.model, "window_start", w.start, "events", w.events,
			"findings", w.findings, "complete", w.complete, "took", time.Since(w.checkStart)}, tracing.LogAttrs(w.ctx)...)...)
	}
}

// write makes b durable, with the rejected counts gathered so far, and then
// releases the offsets of what it holds: before it returns, or with
// WriteBehind once the store has it.
func (c *Checker) write(ctx context.Context, b store.Batch, done []func()) error {
	b.Rejected = append(b.Rejected, latestCounts(c.rejected)...)
	if b.Empty() {
		return nil
	}
	p := &pendingWrite{b: b, done: append(done, c.rejectedDone...), closed: c.closed}
	if len(c.states) > 0 {
		p.states, c.states = [][]byte{c.states}, nil
	}
	c.closed = nil
	if c.behind != nil {
		c.rejected, c.rejectedDone = c.rejected[:0], nil
		return c.behind.submit(ctx, p)
	}
	if err := c.opts.Writer.Write(ctx, p.b); err != nil {
		return fmt.Errorf("writing window results: %w", err)
	}
	c.spares.put(&p.b)
	c.spares.putStates(p.states)
	c.rejected, c.rejectedDone = c.rejected[:0], nil
	logClosed(c.log, p.closed)
	for _, f := range p.done {
		f()
	}
	return nil
}

// Settle waits until every batch made so far is durable: the check stage of
// a scaled-out Sentinel does at the end of each generation, so that a
// model's next owner, which restores it from the store, finds every window
// this process checked.
func (c *Checker) Settle(ctx context.Context) error { return c.settle(ctx) }

// settle waits until every batch written behind is durable.
func (c *Checker) settle(ctx context.Context) error {
	if c.behind == nil {
		return nil
	}
	return c.behind.settle(ctx)
}

// Failed is closed once a write behind has failed (the store gave up): the
// checker is then unusable, and Err says why. Without WriteBehind it is nil,
// which never becomes ready: a failed write is returned by the call that made it.
func (c *Checker) Failed() <-chan struct{} {
	if c.behind == nil {
		return nil
	}
	return c.behind.failed
}

// Err is the failure of a write behind, nil while none has failed.
func (c *Checker) Err() error {
	if c.behind == nil {
		return nil
	}
	c.behind.mu.Lock()
	defer c.behind.mu.Unlock()
	return c.behind.err
}

// Close abandons the writes behind not yet durable, whose offsets stay
// uncommitted, and waits for the one in flight to end. The checker's owner
// calls it when it stops.
func (c *Checker) Close() {
	if c.behind != nil {
		c.behind.close()
	}
}

// Tick runs the clock's checks of every model (staleness), and writes the
// rejection counts gathered since the last write.
func (c *Checker) Tick(ctx context.Context, now time.Time) error {
	var b store.Batch
	for _, cm := range c.models {
		if c.owns(cm) {
			c.analyzer.Staleness(cm.m, now, cm.lastEvent, &b)
		}
	}
	return c.write(ctx, b, nil)
}

// Stats returns the checking side's counts so far.
func (c *Checker) Stats() Stats { return c.stats }

// latestCounts keeps, of several reports of one count, the latest: counts
// only grow, and rows of one key in one batch would leave the choice to the
// store.
func latestCounts(rs []store.RejectedCount) []store.RejectedCount {
	type key struct {
		model, reason, topic string
		partition            int32
		window               int64
	}
	at := make(map[key]int, len(rs))
	out := rs[:0:0]
	for _, r := range rs {
		k := key{r.Model, r.Reason, r.Topic, r.Partition, r.WindowStart.UnixNano()}
		if i, ok := at[k]; ok {
			if r.Count > out[i].Count {
				out[i] = r
			}
			continue
		}
		at[k] = len(out)
		out = append(out, r)
	}
	return out
}
