// Package pipeline is the daemon's core, in two sides that meet at a window's
// shares. Workers, one per partition number of the events topic, decode each
// message, validate it against its model's contract, route it to its share of
// the model's event-time window and to the label and keyed-skew joins, and
// hand a share over when the partition's watermark passes its window. The
// Checker gathers the shares of every partition and, once every partition has
// passed a window, runs its checks (package analyze) and writes the results,
// before the offsets of the window's messages may be committed.
//
// Pipeline runs both sides in the caller's goroutine, for replay and tests; the
// daemon runs each worker in its own goroutine and the checker in another.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// Stats counts what the pipeline has done, for replay's summary.
type Stats struct {
	Messages, Events, Labels, Offline, Rejected, Late, Skipped, Windows, Updated, Deltas uint64
}

func (s *Stats) add(o Stats) {
	s.Messages += o.Messages
	s.Events += o.Events
	s.Labels += o.Labels
	s.Offline += o.Offline
	s.Rejected += o.Rejected
	s.Late += o.Late
	s.Skipped += o.Skipped
	s.Windows += o.Windows
	s.Updated += o.Updated
	s.Deltas += o.Deltas
}

// Sides are the two sides of a pipeline, built from one set of options, for a
// caller that runs them itself (the daemon).
type Sides struct {
	opts    *Options
	log     *slog.Logger
	index   *countedIndex
	metrics *metrics
	align   *alignment
	pools   map[string]*windowPool
	Checker *Checker
}

// NewSides builds the checking side and what workers share.
func NewSides(opts Options) (*Sides, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline options: %w", err)
	}
	if opts.LateHorizon == 0 {
		opts.LateHorizon = time.Hour
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	analyzer, err := analyze.New(opts.analyzerOptions())
	if err != nil {
		return nil, err
	}
	names := make([]string, len(opts.Models))
	for i, m := range opts.Models {
		names[i] = m.Name()
	}
	m, err := newMetrics(opts.Registerer, names)
	if err != nil {
		return nil, err
	}
	if opts.MaxLead == 0 {
		opts.MaxLead = defaultLeadWindows * opts.Window
	}
	// A worker holds a model's windows open up to MaxLead past the slowest
	// partition, the one before it through the lateness, and late ones.
	keep := max(1, opts.Partitions) * (int(opts.MaxLead/opts.Window) + 2)
	s := &Sides{opts: &opts, log: log, index: newCountedIndex(opts.Models, opts.Window, opts.LateHorizon, opts.SharedWindows), metrics: m,
		align: newAlignment(opts.MaxLead), pools: newWindowPools(opts.Models, opts.Window, keep)}
	s.Checker = newChecker(s.opts, analyzer, s.index, s.pools, m, log)
	s.Checker.align = s.align
	return s, nil
}

// defaultLeadWindows is MaxLead unless set, in windows.
const defaultLeadWindows = 2

// Ahead reports whether w's partition leads the slowest partition in event
// time by more than MaxLead, and returns a channel closed when that may have
// changed. The caller reading w's partition then pauses, reading nothing,
// until the channel closes (the slowest partitions catching up), so that a
// backlog closes windows as it goes instead of piling them up.
func (s *Sides) Ahead(w *Worker) (bool, <-chan struct{}) {
	return s.align.ahead(w.watermark())
}

// LoadCounted reads, with shared windows, what the windows stored within the
// late horizon counted, after the shares waiting in the partials topic are
// learnt (Published) and before the generation's workers read: see
// countedIndex.load. Without it, each window a worker opens is asked of
// the store.
func (s *Sides) LoadCounted(ctx context.Context) error { return s.index.load(ctx) }

// Published tells the workers that a share still waiting for the check stage
// holds its partitions' messages through d.Through: read again, they are
// skipped. d is ReadRecord's, and its window goes back to be reused.
func (s *Sides) Published(d *Delta) {
	s.index.add(d.Model.Name(), d.Window.Start, d.Through)
	s.pools[d.Model.Name()].put(d.Window)
	d.Window = nil
}

// NewWorker builds the worker of a partition number, handing its shares to sink.
func (s *Sides) NewWorker(partition int, sink Sink) (*Worker, error) {
	return newWorker(s.opts, partition, sink, s.index, s.pools, s.metrics, s.log)
}

// Pipeline runs the workers and the checker in the caller's goroutine.
type Pipeline struct {
	*Sides
	workers map[int]*Worker
	// eventNow is the latest event time admitted, the clock under EventTime,
	// and nextTick when it runs the clock's checks next.
	eventNow, nextTick time.Time
}

// New builds a pipeline; zero Partitions is one.
func New(opts Options) (*Pipeline, error) {
	if opts.Partitions == 0 {
		opts.Partitions = 1
	}
	s, err := NewSides(opts)
	if err != nil {
		return nil, err
	}
	return &Pipeline{Sides: s, workers: make(map[int]*Worker)}, nil
}

// Restore resumes from what the store holds from before a restart; see
// Checker.Restore.
func (p *Pipeline) Restore(ctx context.Context, h store.History) error {
	return p.Checker.Restore(ctx, h)
}

// Stats returns the counts so far.
func (p *Pipeline) Stats() Stats {
	st := p.Checker.Stats()
	for _, w := range p.workers {
		st.add(w.Stats())
	}
	return st
}

// Process handles one message at the pipeline's clock. Windows it completes
// are checked and written before Process returns, so an error means the
// results could not be made durable; the pipeline is then unusable.
func (p *Pipeline) Process(ctx context.Context, msg ingest.Message) error {
	return p.ProcessAt(ctx, msg, p.now())
}

// ProcessAt is Process at a wall-clock time the caller read.
func (p *Pipeline) ProcessAt(ctx context.Context, msg ingest.Message, now time.Time) error {
	w, err := p.worker(msg.Partition)
	if err != nil {
		return err
	}
	return w.Process(ctx, msg, now)
}

// worker returns the worker of a partition number, built on first use.
func (p *Pipeline) worker(partition int) (*Worker, error) {
	if w := p.workers[partition]; w != nil {
		return w, nil
	}
	if partition < 0 || partition >= p.opts.Partitions {
		return nil, fmt.Errorf("message of partition %d, but the events topic has %d", partition, p.opts.Partitions)
	}
	w, err := p.NewWorker(partition, p.Checker)
	if err != nil {
		return nil, err
	}
	if p.opts.EventTime {
		w.eventClock = p.advanceEventClock
	}
	p.workers[partition] = w
	return w, nil
}

// now reads the pipeline's clock: the wall clock, or the latest event time.
func (p *Pipeline) now() time.Time {
	if p.opts.EventTime {
		return p.eventNow
	}
	return p.opts.Now()
}

// advanceEventClock moves the recording's clock to eventTime, if later, and
// runs the clock's checks when it passes the next tick: before the event is
// admitted, so that they see the silence before it.
func (p *Pipeline) advanceEventClock(ctx context.Context, eventTime time.Time) (time.Time, error) {
	if eventTime.After(p.eventNow) {
		p.eventNow = eventTime
	}
	now := p.eventNow
	if every := p.opts.ReplayTick; every > 0 && !now.Before(p.nextTick) {
		if !p.nextTick.IsZero() {
			if err := p.Tick(ctx); err != nil {
				return now, err
			}
		}
		p.nextTick = now.Truncate(every).Add(every)
	}
	return now, nil
}

// Tick runs what the clock drives: each worker hands over late events and
// reports its progress (a partition silent for a window and the lateness is
// idle, as a caught-up consumer's would be), and the checker runs staleness.
func (p *Pipeline) Tick(ctx context.Context) error {
	now := p.now()
	for _, w := range p.workers {
		if err := w.Tick(ctx, now, true); err != nil {
			return err
		}
	}
	return p.Checker.Tick(ctx, now)
}

// Flush hands over every share and checks and writes every window, as at the
// end of a replay or a drain.
func (p *Pipeline) Flush(ctx context.Context) error {
	for _, w := range p.workers {
		if err := w.Flush(ctx); err != nil {
			return err
		}
	}
	return p.Checker.Flush(ctx)
}

// Committable returns, per topic-partition, the last message whose offset may
// be committed.
func (p *Pipeline) Committable() []ingest.Message {
	var out []ingest.Message
	for _, w := range p.workers {
		out = append(out, w.Committable()...)
	}
	return out
}
