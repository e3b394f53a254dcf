package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/tracing"
)

type requestKind int

const (
	deliverRequest requestKind = iota
	progressRequest
	partitionsRequest
	checkpointRequest
	flushRequest
	ownRequest
	settleRequest
)

// request is what the checker goroutine is asked to do. Checkpoints and
// flushes answer on reply.
type request struct {
	kind       requestKind
	delta      *pipeline.Delta
	progress   *pipeline.Progress
	partitions int
	held       []int // the generation's partitions, with partitions
	owned      []string
	ctx        context.Context
	reply      chan error
}

// runChecker owns the checker: it merges the workers' shares, checks and
// writes windows, and runs the clock's checks, until ctx ends. A write that
// fails for good (the store's own retries gave up) stops the daemon, whose
// uncommitted messages the next instance reads again; so does stopping, for
// the writes not yet durable.
func (d *Daemon) runChecker(ctx context.Context, c *pipeline.Checker) error {
	// The checker writes behind: it goes on merging and checking while the
	// store makes earlier windows durable.
	defer c.Close()
	tick := time.NewTicker(d.opts.TickEvery)
	defer tick.Stop()
	var unreportedSince time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Failed():
			return stopped(ctx, c.Err())
		case r := <-d.checker:
			if err := d.handle(ctx, c, r); err != nil {
				return stopped(ctx, err)
			}
		case <-tick.C:
			now := d.opts.Pipeline.Now()
			if err := c.Tick(ctx, now); err != nil {
				return stopped(ctx, err)
			}
			unreportedSince = d.watchPartitions(c, now, unreportedSince)
		}
	}
}

// stopped is err, unless the checker was being stopped: a write cut short
// then is the stop's doing, and what it held is read again after a restart.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// handle serves one request.
func (d *Daemon) handle(ctx context.Context, c *pipeline.Checker, r request) error {
	switch r.kind {
	case deliverRequest:
		return c.Deliver(ctx, r.delta)
	case progressRequest:
		return c.Progress(ctx, r.progress)
	case partitionsRequest:
		c.SetPartitions(r.partitions)
		c.Hold(r.held)
	case checkpointRequest:
		r.reply <- c.Checkpoint(r.ctx)
	case flushRequest:
		r.reply <- c.Flush(r.ctx)
	case settleRequest:
		r.reply <- c.Settle(r.ctx)
	case ownRequest:
		// The check stage hears every partition of the events topic through
		// the partials topic: none is another member's.
		c.SetPartitions(r.partitions)
		all := make([]int, r.partitions)
		for k := range all {
			all[k] = k
		}
		c.Hold(all)
		return c.Own(ctx, r.owned)
	}
	return nil
}

// watchPartitions says, in the log, a metric and /readyz, when partitions of
// the events topic report nothing for longer than a window and the lateness:
// no window can be checked until they do.
func (d *Daemon) watchPartitions(c *pipeline.Checker, now, since time.Time) time.Time {
	missing := c.Unreported()
	d.metrics.unreported.Set(float64(len(missing)))
	if len(missing) == 0 || d.partitions.Load() == 0 {
		d.status.set("partitions", nil)
		return time.Time{}
	}
	if since.IsZero() {
		return now
	}
	if wait := d.opts.Pipeline.Window + d.opts.Pipeline.Lateness; now.Sub(since) >= wait {
		err := fmt.Errorf("partitions %v of the events topic have reported nothing for %s: no window can be checked until they do "+
			"(another member of the group holds them, or a member that died still does until its session times out)",
			missing, now.Sub(since).Round(time.Second))
		if d.status.get("partitions") == nil {
			d.log.Warn("windows wait for partitions read nowhere here", "partitions", missing, "since", since)
		}
		d.status.set("partitions", err)
	}
	return since
}

// askChecker sends a request that answers, and waits for the answer.
func (d *Daemon) askChecker(ctx context.Context, r request) error {
	r.ctx, r.reply = ctx, make(chan error, 1)
	select {
	case d.checker <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.checkerGone:
		return errors.New("the checker has stopped")
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-d.checkerGone:
		select {
		case err := <-r.reply:
			return err
		default:
			// It stopped with the request queued, unread.
			return errors.New("the checker has stopped")
		}
	}
}

// sink hands a worker's shares and reports to the checker goroutine; a full
// queue (the checker waiting on the store) blocks the worker, and so its reads.
type sink struct {
	d *Daemon
}

func (s sink) Deliver(ctx context.Context, delta *pipeline.Delta) error {
	return s.send(ctx, request{kind: deliverRequest, delta: delta})
}

func (s sink) Progress(ctx context.Context, p *pipeline.Progress) error {
	return s.send(ctx, request{kind: progressRequest, progress: p})
}

func (s sink) send(ctx context.Context, r request) error {
	select {
	case s.d.checker <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// learnPublished tells the workers what the shares still waiting in the
// partials topic hold, before they read: a partition taken over from another
// process (whose last commit may not have got through) is read again from
// its last commit, and its messages already in a share must not be counted
// twice.
func (d *Daemon) learnPublished(ctx context.Context, sides *pipeline.Sides, gen *ingest.Generation) {
	// The partitions another process read in the last generation: it may
	// still be publishing their shares (a member slower to hand over than
	// the group to rebalance), so their releases are waited for, as long as
	// a generation may take to settle.
	waiting := make(map[int]bool)
	for _, k := range gen.Partitions {
		if !slices.Contains(d.readLast, k) && gen.ID > 1 {
			waiting[k] = true
		}
	}
	deadline := time.Now().Add(d.opts.handoverWait())
	shares := 0
	for {
		shares = 0
		err := d.opts.Publish.Tail(ctx, func(msg ingest.Message) error {
			if k, g, ok := pipeline.ReadRelease(msg.Value); ok {
				if g == gen.ID-1 {
					delete(waiting, k)
				}
				return nil
			}
			if delta, _, err := sides.ReadRecord(msg.Value, func() {}); err == nil && delta != nil {
				sides.Published(delta)
				shares++
			}
			return nil
		})
		if err != nil {
			d.log.Warn("reading the shares still waiting for the check stage; messages in them read again may be counted twice", "err", err)
			return
		}
		if len(waiting) == 0 || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(waiting) > 0 {
		d.log.Info("partitions taken over without their previous reader's release (it stopped without handing over)",
			"partitions", slices.Sorted(maps.Keys(waiting)))
	}
	d.log.Info("shares waiting for the check stage learnt", "shares", shares)
}

// publishSink hands a worker's shares and reports to the partials topic, as
// records (pipeline.AppendShare, AppendProgress); each is released once
// durable there, which lets the offsets behind it be committed.
type publishSink struct {
	p Publisher
}

func (s publishSink) Deliver(ctx context.Context, delta *pipeline.Delta) error {
	return s.p.Share(ctx, delta.Model.Name(), pipeline.AppendShare(nil, delta), delta.Done)
}

func (s publishSink) Progress(ctx context.Context, p *pipeline.Progress) error {
	return s.p.Broadcast(ctx, pipeline.AppendProgress(nil, p), p.Done)
}

// generation serves one generation of the group: a worker per assigned
// partition number, each on its own goroutine, until the generation ends.
// Then every worker hands its shares over, the checker writes them (every
// window closed at a drain, their profiles as they stand at a rebalance), and
// the offsets behind them are committed, so that whoever reads a partition
// next starts where this process stopped.
func (d *Daemon) generation(ctx context.Context, sides *pipeline.Sides, gen *ingest.Generation) {
	var to pipeline.Sink = sink{d}
	if d.opts.Publish != nil {
		to = publishSink{d.opts.Publish}
	}
	if counts, err := d.opts.Group.PartitionCounts(ctx); err == nil {
		n := counts[d.events()]
		d.partitions.Store(int64(n))
		if d.opts.Publish == nil {
			if err := (sink{d}).send(ctx, request{kind: partitionsRequest, partitions: n, held: gen.Partitions}); err != nil {
				return
			}
		}
	}
	if d.opts.Publish != nil {
		d.learnPublished(ctx, sides, gen)
		if err := sides.LoadCounted(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("reading what the stored windows counted; each window a partition opens is asked of the store instead", "err", err)
		}
	}
	workers := make([]*workerRun, 0, len(gen.Partitions))
	var wg sync.WaitGroup
	wg.Go(func() { d.commitEvery(ctx, gen) })
	for _, k := range gen.Partitions {
		w, err := sides.NewWorker(k, to)
		if err != nil {
			d.log.Error("starting a worker", "partition", k, "err", err)
			continue
		}
		wr := &workerRun{w: w, k: k}
		workers = append(workers, wr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work(ctx, sides, gen, wr)
		}()
	}
	d.pollLag(ctx, gen, workers)
	wg.Wait()
	settle, cancel := d.settleContext()
	defer cancel()
	switch {
	case d.opts.Publish != nil:
		// The shares the workers handed over are durable once published;
		// the check stage holds them until their windows are complete.
		if err := d.opts.Publish.Flush(settle); err != nil {
			d.log.Warn("publishing the open windows' shares", "err", err)
		}
	default:
		kind, what := checkpointRequest, "checkpointing the open windows for the next owner of the partitions"
		if d.draining.Load() {
			kind, what = flushRequest, "draining the open windows"
		}
		if err := d.askChecker(settle, request{kind: kind}); err != nil {
			d.log.Warn(what, "err", err)
		}
	}
	for _, wr := range workers {
		gen.Mark(wr.w.Committable())
	}
	if err := d.commit(settle, gen); err != nil {
		d.log.Warn("committing at the end of a generation; the next owner reads again from the last commit", "partitions", gen.Partitions, "err", err)
	}
	if d.opts.Publish != nil {
		// Everything of these partitions is published: their next readers
		// need not wait (learnPublished).
		for _, k := range gen.Partitions {
			if err := d.opts.Publish.Broadcast(settle, pipeline.AppendRelease(nil, k, gen.ID), nil); err != nil {
				d.log.Warn("releasing a partition to its next reader, which then waits for the release a while", "partition", k, "err", err)
				break
			}
		}
		if err := d.opts.Publish.Flush(settle); err != nil {
			d.log.Warn("releasing the partitions to their next readers, which then wait for the release a while", "err", err)
		}
		d.readLast = gen.Partitions
	}
}

// settleContext bounds the work at the end of a generation: the drain's
// deadline at a stop, the rebalance timeout's share otherwise.
func (d *Daemon) settleContext() (context.Context, context.CancelFunc) {
	if p := d.drainCtx.Load(); p != nil {
		return context.WithCancel(*p)
	}
	return context.WithTimeout(context.Background(), settleTimeout)
}

// settleTimeout bounds the checkpoint at a rebalance: past it, the next owner
// reads the partitions again from the last commit, which costs time but loses
// nothing.
const settleTimeout = 20 * time.Second

// workerRun is a worker and what its goroutine publishes for the lag.
type workerRun struct {
	w  *pipeline.Worker
	k  int
	mu sync.Mutex
	// processed is the last offset processed per topic-partition.
	processed map[ingest.TopicPartition]int64
}

// processRun bounds the messages processed between looks at the tickers.
const processRun = 256

// work runs one worker until the generation ends, then hands its shares over.
// While its partition leads the slowest one by more than the pipeline allows,
// it reads nothing until the others catch up: a backlog then closes windows
// as it goes instead of holding every model's windows open in between.
func (d *Daemon) work(ctx context.Context, sides *pipeline.Sides, gen *ingest.Generation, wr *workerRun) {
	r := gen.Reader(wr.k)
	defer r.Close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	commit := time.NewTicker(d.opts.CommitEvery)
	defer commit.Stop()
	for {
		fetched := r.C()
		// The profile stage does not see the checker's watermark, which is
		// the check stage's: its partitions read unpaused.
		var (
			ahead bool
			moved <-chan struct{}
		)
		if d.opts.Publish == nil {
			ahead, moved = sides.Ahead(wr.w)
		}
		if ahead {
			fetched = nil
		}
		select {
		case <-ctx.Done():
			d.flushWorker(wr)
			return
		case <-moved:
		case f, ok := <-fetched:
			if !ok {
				return
			}
			if !d.processRun(ctx, r, wr, f) {
				d.flushWorker(wr)
				return
			}
		case <-tick.C:
			if err := wr.w.Tick(ctx, d.opts.Pipeline.Now(), r.CaughtUp()); err != nil && ctx.Err() == nil {
				d.log.Error("worker tick", "partition", wr.k, "err", err)
			}
		case <-commit.C:
			gen.Mark(wr.w.Committable())
		}
	}
}

// processRun processes the message fetched and those already waiting behind
// it, reading the clock once for the run. It reports false when the worker
// must stop: the generation ended, or its reader failed.
func (d *Daemon) processRun(ctx context.Context, r *ingest.PartitionReader, wr *workerRun, f ingest.Fetched) bool {
	now := d.opts.Pipeline.Now()
	ctx, span := d.tracer.Start(ctx, tracing.SpanFetch, trace.WithAttributes(attribute.Int("sentinel.partition", wr.k)))
	n := 0
	defer func() {
		span.SetAttributes(attribute.Int("sentinel.messages", n+1))
		span.End()
	}()
	for ; ; n++ {
		if f.Err != nil {
			d.log.Error("reading a partition; the next generation reads it again", "partition", wr.k, "err", f.Err)
			return false
		}
		if !d.process(ctx, wr, f.Msg, now) {
			return false
		}
		if n == processRun {
			break
		}
		var ok bool
		if f, ok = r.Buffered(); !ok {
			break
		}
	}
	wr.publish()
	return true
}

// process handles one message, retrying a failure (a dead letter that Kafka
// would not take) until it succeeds or the generation ends: a message is
// never passed over.
func (d *Daemon) process(ctx context.Context, wr *workerRun, msg ingest.Message, now time.Time) bool {
	backoff := 100 * time.Millisecond
	for {
		err := wr.w.Process(ctx, msg, now)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.log.Warn("processing a message; retrying", "partition", wr.k, "topic", msg.Topic, "offset", msg.Offset, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
		now = d.opts.Pipeline.Now()
	}
}

// flushWorker hands every share of an ending generation's worker to the
// checker, bounded by the time a generation may take to settle.
func (d *Daemon) flushWorker(wr *workerRun) {
	settle, cancel := d.settleContext()
	defer cancel()
	if err := wr.w.Flush(settle); err != nil {
		d.log.Warn("handing over a worker's shares at the end of a generation", "partition", wr.k, "err", err)
	}
}

// commitEvery commits what the workers marked, every CommitEvery until the
// generation ends, logging a run of failures once rather than every
// CommitEvery while the brokers are away.
func (d *Daemon) commitEvery(ctx context.Context, gen *ingest.Generation) {
	t := time.NewTicker(d.opts.CommitEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch err := d.commit(ctx, gen); {
		case err != nil && ctx.Err() == nil && !failing:
			d.log.Warn("committing offsets; retrying", "err", err)
			failing = true
		case err == nil && failing:
			d.log.Info("committing offsets again")
			failing = false
		}
	}
}

// commit commits what is marked, in a span.
func (d *Daemon) commit(ctx context.Context, gen *ingest.Generation) error {
	if gen.Marked() == 0 {
		return nil
	}
	_, span := d.tracer.Start(ctx, tracing.SpanCommit, trace.WithAttributes(attribute.Int("sentinel.partitions", gen.Marked())))
	defer span.End()
	err := gen.CommitMarked()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "commit failed")
	}
	return err
}

// publish records the worker's last offsets for the lag poller.
func (wr *workerRun) publish() {
	processed := wr.w.Processed()
	wr.mu.Lock()
	wr.processed = processed
	wr.mu.Unlock()
}

// pollLag updates the lag, per topic, of the partitions this member reads,
// from the brokers' high watermarks, until the generation ends: during a
// store outage, when nothing is fetched, it still grows as messages wait.
func (d *Daemon) pollLag(ctx context.Context, gen *ingest.Generation, workers []*workerRun) {
	everyLag(ctx, d.opts.Group, gen.Partitions, func(hwm map[ingest.TopicPartition]int64) {
		lag := make(map[string]int64)
		for _, wr := range workers {
			wr.mu.Lock()
			for tp, hw := range hwm {
				if tp.Partition != wr.k {
					continue
				}
				next := gen.StartOffset(tp)
				if o, ok := wr.processed[tp]; ok {
					next = o + 1
				}
				if next >= 0 && hw > next {
					lag[tp.Topic] += hw - next
				} else if _, ok := lag[tp.Topic]; !ok {
					lag[tp.Topic] = 0
				}
			}
			wr.mu.Unlock()
		}
		for topic, n := range lag {
			d.metrics.lag.WithLabelValues(topic).Set(float64(n))
		}
	})
}

// everyLag calls each with the high watermarks of a group's partitions
// every lagEvery until ctx ends; a failed request is asked again at the next.
func everyLag(ctx context.Context, g interface {
	HighWatermarks(context.Context, []int) (map[ingest.TopicPartition]int64, error)
}, partitions []int, each func(map[ingest.TopicPartition]int64)) {
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if hwm, err := g.HighWatermarks(ctx, partitions); err == nil {
			each(hwm)
		}
	}
}

// lagEvery paces the lag's high-watermark requests.
const lagEvery = 5 * time.Second

// events is the events topic's name.
func (d *Daemon) events() string { return d.opts.Group.Topics()[0] }

// handoverWait is HandoverWait, or its default.
func (o *Options) handoverWait() time.Duration {
	if o.HandoverWait > 0 {
		return o.HandoverWait
	}
	return settleTimeout
}
