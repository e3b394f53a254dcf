package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/skew"
)

// Sink receives what a worker hands to the checking side.
type Sink interface {
	// Deliver takes a share of a window. d.done is called once the window
	// holding it is durable, on any goroutine.
	Deliver(ctx context.Context, d *Delta) error
	// Progress takes a partition's report.
	Progress(ctx context.Context, p *Progress) error
}

// Worker is the admission side for one partition number: it reads that
// partition of the events topic, and of the labels and features topics, which
// must be partitioned alike so that a request's prediction, label and offline
// values meet in one worker. It decodes, validates, profiles into its share of
// each model's windows, joins, and tracks the partition's watermark; when the
// watermark passes a window, its share goes to the Sink. It is not safe for
// concurrent use: one goroutine owns it.
type Worker struct {
	opts      *Options
	partition int
	sink      Sink
	log       *slog.Logger
	index     *countedIndex
	metrics   *metrics
	models    map[string]*workerModel
	dec       *event.Decoder
	ev        event.Event
	// elsewhere is a pair the message completed that scores in a later
	// window than the message's own (see scorePair).
	elsewhere    labels.Pair
	hasElsewhere bool
	// streams numbers the topic-partitions whose predictions and labels wait
	// in the join (labels.Position.Stream, from 1), and at is where the
	// message being processed was read.
	streams  []ingest.TopicPartition
	at       labels.Position
	offsets  *offsets
	rejected *rejections
	// rejectedHold is the lowest offset per topic-partition of the rejections
	// counted but not yet handed over.
	rejectedHold map[ingest.TopicPartition]int64
	joiner       *labels.Joiner
	values       *labels.ValueParser
	versions     *workerVersions
	// maxEvent is the latest event time of the partition's events topic: its
	// watermark is maxEvent less the allowed lateness.
	maxEvent time.Time
	// reported is the watermark last reported to the sink.
	reported time.Time
	// firstEnd is at or before the earliest end among every model's open
	// windows (zero when none is open): while the watermark is before it, no
	// model has a window to hand over, and an event need not ask each.
	firstEnd time.Time
	// lastMessage is the wall clock of the last message new to this worker,
	// for idleness (quietSince); appended, the latest broker timestamp of
	// the messages it read again; started, when it was made.
	lastMessage, appended, started time.Time
	// eventClock, when set, is the recording's clock, advanced by each event.
	eventClock func(ctx context.Context, eventTime time.Time) (time.Time, error)
	stats      Stats
}

// workerModel is what a worker keeps per model.
type workerModel struct {
	m *model.Model
	// open holds the worker's share of windows the watermark has not passed;
	// late, of windows it has passed (the events that arrived after), handed
	// over at the next tick.
	open, late map[int64]*partial
	// firstEnd is the earliest end among the open windows (zero when none): no
	// window closes while the watermark is before it.
	firstEnd time.Time
	// lastEvent is the wall clock (or event clock) of the model's last event.
	lastEvent time.Time
	pool      *windowPool
	// eventsTotal and lastEventSec are shared by every worker: unpublished
	// events are added, and the last event's time set, every publishEvery
	// events and at each report, since a write per event from each core to
	// one counter made the cores take turns owning its cache line.
	eventsTotal   prometheus.Counter
	lastEventSec  prometheus.Gauge
	unpublished   uint64
	lastPublished time.Time
	keyed         *skew.KeyedJoin
	// versionTags name the versions whose predictions wait in the label join,
	// by their tag less one (versions.go).
	versionTags []string
}

// newWorker builds the worker of one partition number.
func newWorker(opts *Options, partition int, sink Sink, index *countedIndex, pools map[string]*windowPool, m *metrics, log *slog.Logger) (*Worker, error) {
	w := &Worker{
		opts: opts, partition: partition, sink: sink, index: index, metrics: m,
		log:          log.With("partition", partition),
		models:       make(map[string]*workerModel, len(opts.Models)),
		dec:          event.NewDecoder(event.Options{Layout: event.LayoutEnvelope}),
		offsets:      newOffsets(),
		rejected:     newRejections(),
		rejectedHold: make(map[ingest.TopicPartition]int64),
	}
	if opts.Now != nil {
		w.started = opts.Now()
	}
	names := make([]string, 0, len(opts.Models))
	for _, md := range opts.Models {
		wm := &workerModel{m: md, open: make(map[int64]*partial), late: make(map[int64]*partial), pool: pools[md.Name()],
			eventsTotal: m.events.WithLabelValues(md.Name()), lastEventSec: m.lastEvent.WithLabelValues(md.Name())}
		if opts.FeaturesTopic != "" {
			features := make([]string, len(md.Contract.Features))
			for i, f := range md.Contract.Features {
				features[i] = f.Name
			}
			wm.keyed = skew.NewKeyedJoin(features, opts.KeyedSkew)
		}
		w.models[md.Name()] = wm
		names = append(names, md.Name())
	}
	if opts.Labels != nil {
		var err error
		if w.joiner, err = labels.NewJoiner(*opts.Labels, names); err != nil {
			return nil, fmt.Errorf("label join: %w", err)
		}
		w.values = labels.NewValueParser(maxClasses)
	}
	var err error
	if w.versions, err = newWorkerVersions(opts.Models); err != nil {
		return nil, err
	}
	return w, nil
}

// Partition is the partition number the worker reads.
func (w *Worker) Partition() int { return w.partition }

// Stats returns the worker's counts so far.
func (w *Worker) Stats() Stats { return w.stats }

// Process handles one message seen at now: an event is profiled into its
// window's share, a bad one dead-lettered. When the event moves the
// partition's watermark past windows, their shares are handed to the sink.
func (w *Worker) Process(ctx context.Context, msg ingest.Message, now time.Time) error {
	w.stats.Messages++
	lastMessage := w.lastMessage
	w.lastMessage = now
	tp := msg.TopicPartition()
	prev := w.offsets.see(tp, msg.Offset)
	wm, now, err := w.admit(ctx, msg, now)
	if err != nil {
		// Neither rejected nor profiled: a commit must not pass it.
		w.offsets.unsee(tp, prev)
		return err
	}
	if wm == nil {
		return nil
	}
	ev := &w.ev
	start := ev.Timestamp.Truncate(w.opts.Window)
	part, status, err := w.find(ctx, wm, start, tp, msg.Offset)
	if err != nil {
		w.offsets.unsee(tp, prev)
		return err
	}
	w.at = w.position(tp, msg.Offset)
	if part == nil {
		w.count(wm, status)
		if status == counted {
			// Read again, not new: a partition that only reads again what
			// is counted is as idle as it was before, when these were
			// appended. Its predictions and labels wait in the join again,
			// as they did before the restart or rebalance: their other side
			// may be new.
			w.lastMessage = lastMessage
			if msg.Time.After(w.appended) {
				w.appended = msg.Time
			}
			if msg.Topic != w.opts.FeaturesTopic {
				w.rejoin(ctx, wm, tp, msg.Offset)
			}
		}
		// An event still says how far the partition has got, or a
		// partition read again holds every window open until it reads
		// something new.
		if msg.Topic == w.opts.FeaturesTopic || ev.Label.Present() {
			return nil
		}
		return w.observe(ctx, ev.Timestamp)
	}
	isEvent := w.route(wm, part, msg.Topic)
	w.scoreElsewhere(ctx, wm, tp, msg.Offset)
	if !isEvent || msg.Topic == w.opts.FeaturesTopic {
		return nil
	}
	return w.observe(ctx, ev.Timestamp)
}

// rejoin offers a message read again, which its stored window counts, to the
// label join: the join's state is not stored, and a commit never passes what
// it holds (Committable), so after a restart or a rebalance it is rebuilt by
// reading again.
func (w *Worker) rejoin(ctx context.Context, wm *workerModel, tp ingest.TopicPartition, offset int64) {
	if w.ev.Label.Present() {
		w.label(wm, nil, &w.ev)
	} else {
		w.predict(wm, nil, &w.ev)
	}
	w.scoreElsewhere(ctx, wm, tp, offset)
}

// scoreElsewhere scores the pair the message completed, if scorePair left
// it, in the window of its later time. The stored window counts the pair
// when it counts both of its sides: both were read before a share of it was
// handed over, so the pair was scored in it before a restart. Else the pair
// goes to a share held by a side it does not count.
func (w *Worker) scoreElsewhere(ctx context.Context, wm *workerModel, tp ingest.TopicPartition, offset int64) {
	if !w.hasElsewhere {
		return
	}
	w.hasElsewhere = false
	pair := w.elsewhere
	start := laterOf(pair).Truncate(w.opts.Window)
	other, status, err := w.find(ctx, wm, start, tp, offset)
	if err == nil && status == counted && pair.Waited.Stream > 0 {
		waited := w.streams[pair.Waited.Stream-1]
		other, _, err = w.find(ctx, wm, start, waited, pair.Waited.Offset)
	}
	if err != nil {
		// The message is in its own window's share already: asked again,
		// it would be counted twice. The pair is what is lost.
		w.log.Warn("a joined pair not scored: its window could not be opened", "model", wm.m.Name(), "err", err)
		return
	}
	if other != nil {
		w.addPair(wm, other, pair)
	}
}

// position numbers the message at offset of tp for the label join.
func (w *Worker) position(tp ingest.TopicPartition, offset int64) labels.Position {
	for i, s := range w.streams {
		if s == tp {
			return labels.Position{Stream: uint8(i + 1), Offset: offset}
		}
	}
	if len(w.streams) == labels.MaxStream {
		return labels.Position{}
	}
	w.streams = append(w.streams, tp)
	return labels.Position{Stream: uint8(len(w.streams)), Offset: offset}
}

// observe moves the partition's latest event time to at, if later, and
// hands over the windows the watermark then passes.
func (w *Worker) observe(ctx context.Context, at time.Time) error {
	if at.After(w.maxEvent) {
		w.maxEvent = at
		return w.advance(ctx)
	}
	return nil
}

// watermark is the event time up to which the partition's windows are
// complete: its latest event time less the allowed lateness.
func (w *Worker) watermark() time.Time {
	if w.maxEvent.IsZero() {
		return time.Time{}
	}
	return w.maxEvent.Add(-w.opts.Lateness)
}

// Why find returned no share.
const (
	opened = iota
	// counted: the stored window holds the message already (read again
	// after a restart or a rebalance).
	counted
	// pastHorizon: the window is past the horizon of windows that late
	// events still update.
	pastHorizon
)

// find returns the share of the window starting at start that a message at
// offset of tp goes to: the open one, or the late one once the watermark has
// passed the window; nil, and why, when the stored window counts the message
// or is past the horizon.
func (w *Worker) find(ctx context.Context, wm *workerModel, start time.Time, tp ingest.TopicPartition, offset int64) (*partial, int, error) {
	key := start.UnixNano()
	part := wm.open[key]
	late := false
	if part == nil {
		end := start.Add(w.opts.Window)
		if late = !end.After(w.watermark()); late {
			part = wm.late[key]
		}
	}
	if part == nil {
		counts, status, err := w.index.lookup(ctx, wm.m.Name(), start)
		if err != nil {
			return nil, opened, err
		}
		if status == beyondHorizon {
			return nil, pastHorizon, nil
		}
		// A message the stored window holds opens no share: a share holds
		// only what it adds.
		if c, ok := counts[tp]; ok && offset <= c {
			return nil, counted, nil
		}
		if part, err = newPartial(wm.pool, start, counts); err != nil {
			return nil, opened, fmt.Errorf("opening window: %w", err)
		}
		if late {
			wm.late[key] = part
		} else {
			wm.addOpen(part)
			if w.firstEnd.IsZero() || part.End.Before(w.firstEnd) {
				w.firstEnd = part.End
			}
		}
	}
	if part.isCounted(tp, offset) {
		return nil, counted, nil
	}
	part.hold(tp, offset)
	return part, opened, nil
}

// count counts a message find gave no share.
func (w *Worker) count(wm *workerModel, status int) {
	switch status {
	case counted:
		w.skip(wm)
	case pastHorizon:
		w.stats.Late++
		w.metrics.late.WithLabelValues(wm.m.Name()).Inc()
	}
}

// skip counts a message read again that its stored window already holds.
func (w *Worker) skip(wm *workerModel) {
	w.stats.Skipped++
	w.metrics.skipped.WithLabelValues(wm.m.Name()).Inc()
}

// advance hands over the windows the watermark has passed, and reports the
// watermark when it crosses a window boundary.
func (w *Worker) advance(ctx context.Context) error {
	mark := w.watermark()
	if !w.firstEnd.IsZero() && !mark.Before(w.firstEnd) {
		for _, wm := range w.models {
			if len(wm.open) == 0 || mark.Before(wm.firstEnd) {
				continue
			}
			if err := w.handOver(ctx, wm, mark, true); err != nil {
				return err
			}
		}
		w.resetFirstEnd()
	}
	if mark.Truncate(w.opts.Window).After(w.reported.Truncate(w.opts.Window)) {
		return w.report(ctx, false)
	}
	return nil
}

// handOver delivers the model's open shares of windows ending at or before
// mark (all of them at a drain), final when the watermark passed them.
func (w *Worker) handOver(ctx context.Context, wm *workerModel, mark time.Time, final bool) error {
	// The joins expire by the partition's watermark, also when a drain or an
	// idle partition hands over every share (mark is then the end of time):
	// what waits within max_delay of the watermark can still be joined.
	horizon := mark
	if wmark := w.watermark(); wmark.Before(horizon) {
		horizon = wmark
	}
	if !horizon.IsZero() {
		if w.joiner != nil {
			w.joiner.Expire(horizon)
		}
		if wm.keyed != nil {
			wm.keyed.Expire(horizon)
		}
	}
	w.settleShadow(wm, mark, horizon)
	for key, part := range wm.open {
		if part.End.After(mark) {
			continue
		}
		delete(wm.open, key)
		if err := w.deliver(ctx, wm, part, final); err != nil {
			return err
		}
	}
	wm.resetFirstEnd()
	return nil
}

// deliver hands a share to the sink, holding its offsets until it is durable.
func (w *Worker) deliver(ctx context.Context, wm *workerModel, part *partial, final bool) error {
	d := &Delta{Model: wm.m, Window: part.Window, Partition: w.partition, Through: w.offsets.processed(), From: offsetsOf(part.minOffset), Final: final, pool: wm.pool}
	holds := part.minOffset
	if len(part.waited) > 0 {
		holds = make(map[ingest.TopicPartition]int64, len(part.minOffset)+len(part.waited))
		part.holdIn(holds)
	}
	d.done = w.offsets.holdUntilDone(holds)
	w.stats.Deltas++
	return w.sink.Deliver(ctx, d)
}

// Tick hands over the shares of late events, and reports the partition's
// progress: its watermark, whether it is idle (nothing read for a window and
// the lateness while caught up), and the rejections counted. caughtUp says
// whether the partition's readers have nothing more to read.
func (w *Worker) Tick(ctx context.Context, now time.Time, caughtUp bool) error {
	for _, wm := range w.models {
		for key, part := range wm.late {
			delete(wm.late, key)
			if err := w.deliver(ctx, wm, part, true); err != nil {
				return err
			}
		}
	}
	idle := caughtUp && now.Sub(w.quietSince()) >= w.opts.Window+w.opts.Lateness
	if idle {
		// Nothing more is coming: the shares still open are as complete as
		// they will be until the partition wakes.
		for _, wm := range w.models {
			if err := w.handOver(ctx, wm, maxTime(), false); err != nil {
				return err
			}
		}
		w.firstEnd = time.Time{}
	}
	return w.report(ctx, idle)
}

// quietSince is when the partition last had something new: its last new
// message's read; before any, the latest append among the messages read
// again (it was as quiet as that before this worker); and before anything
// is read, this worker's start. A worker that took a partition over knows
// nothing of how quiet it was: counting it idle at once, when it had just
// caught up with a busy partition, closed windows its next events belonged
// to, and the checks of the windows after them were computed on partial
// data.
func (w *Worker) quietSince() time.Time {
	switch {
	case !w.lastMessage.IsZero():
		return w.lastMessage
	case !w.appended.IsZero():
		return w.appended
	}
	return w.started
}

// Flush hands over every share, as at a drain or when the partition is taken
// away: what is delivered is durable before the offsets behind it move.
func (w *Worker) Flush(ctx context.Context) error {
	for _, wm := range w.models {
		for key, part := range wm.late {
			delete(wm.late, key)
			if err := w.deliver(ctx, wm, part, true); err != nil {
				return err
			}
		}
		if err := w.handOver(ctx, wm, maxTime(), false); err != nil {
			return err
		}
	}
	w.firstEnd = time.Time{}
	if err := w.report(ctx, false); err != nil {
		return err
	}
	// The offsets a dead letter holds are committed at the end only once it
	// is durable; waiting here spares the next reader their repetition.
	if dl := w.opts.DeadLetters; dl != nil {
		if err := dl.Flush(ctx); err != nil {
			return fmt.Errorf("flushing the dead letters: %w", err)
		}
	}
	return nil
}

// report tells the sink how far the partition has got, with the rejections
// counted since the last report.
func (w *Worker) report(ctx context.Context, idle bool) error {
	p := &Progress{Partition: w.partition, Watermark: w.watermark(), Idle: idle,
		LastEvent: make(map[string]time.Time, len(w.models))}
	for name, wm := range w.models {
		if !wm.lastEvent.IsZero() {
			p.LastEvent[name] = wm.lastEvent
		}
	}
	if len(w.rejectedHold) > 0 {
		p.Rejected = w.takeRejected(w.lastMessage)
		p.done = w.offsets.holdUntilDone(w.rejectedHold)
		w.rejectedHold = make(map[ingest.TopicPartition]int64)
	}
	w.reported = p.Watermark
	for _, wm := range w.models {
		wm.publish()
	}
	return w.sink.Progress(ctx, p)
}

// publishEvery is how many events a worker counts before publishing them.
const publishEvery = 1024

// counted notes an event accepted, publishing the model's count every
// publishEvery.
func (wm *workerModel) counted() {
	if wm.unpublished++; wm.unpublished >= publishEvery {
		wm.publish()
	}
}

// publish adds the events not yet published to the model's counter, and
// sets the time of its last event.
func (wm *workerModel) publish() {
	if wm.unpublished > 0 {
		wm.eventsTotal.Add(float64(wm.unpublished))
		wm.unpublished = 0
	}
	if !wm.lastEvent.Equal(wm.lastPublished) {
		wm.lastEventSec.Set(float64(wm.lastEvent.UnixNano()) / 1e9)
		wm.lastPublished = wm.lastEvent
	}
}

// Committable returns, per topic-partition, the last message whose offset may
// be committed: the one before the lowest offset still held by a share, a
// rejection count or a dead letter not yet durable, or a prediction or label
// waiting in the join (which is rebuilt by reading again), or the last one
// seen when none holds any.
func (w *Worker) Committable() []ingest.Message {
	held := make(map[ingest.TopicPartition]int64)
	if dl := w.opts.DeadLetters; dl != nil {
		for tp := range w.offsets.seen {
			if o, ok := dl.Pending(tp.Topic, tp.Partition); ok {
				held[tp] = o
			}
		}
	}
	for _, wm := range w.models {
		for _, parts := range []map[int64]*partial{wm.open, wm.late} {
			for _, part := range parts {
				part.holdIn(held)
			}
		}
	}
	for tp, o := range w.rejectedHold {
		holdLowest(held, tp, o)
	}
	if w.joiner != nil {
		for _, p := range w.joiner.Holding() {
			holdLowest(held, w.streams[p.Stream-1], p.Offset)
		}
	}
	return w.offsets.committable(held)
}

// Processed returns the last offset processed per topic-partition.
func (w *Worker) Processed() map[ingest.TopicPartition]int64 {
	out := make(map[ingest.TopicPartition]int64, len(w.offsets.seen))
	for tp, s := range w.offsets.seen {
		out[tp] = s[1]
	}
	return out
}

func (wm *workerModel) addOpen(p *partial) {
	wm.open[p.Start.UnixNano()] = p
	if wm.firstEnd.IsZero() || p.End.Before(wm.firstEnd) {
		wm.firstEnd = p.End
	}
}

// resetFirstEnd sets firstEnd to the earliest end among the models' open
// windows, once some were handed over.
func (w *Worker) resetFirstEnd() {
	w.firstEnd = time.Time{}
	for _, wm := range w.models {
		if !wm.firstEnd.IsZero() && (w.firstEnd.IsZero() || wm.firstEnd.Before(w.firstEnd)) {
			w.firstEnd = wm.firstEnd
		}
	}
}

func (wm *workerModel) resetFirstEnd() {
	wm.firstEnd = time.Time{}
	for _, o := range wm.open {
		if wm.firstEnd.IsZero() || o.End.Before(wm.firstEnd) {
			wm.firstEnd = o.End
		}
	}
}

// maxTime is later than any event time the decoder accepts (years up to 9999).
func maxTime() time.Time { return time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }
