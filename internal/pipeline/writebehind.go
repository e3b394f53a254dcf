package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// writeBehind makes the checker's batches durable on a goroutine of its own,
// in the order they were made, so that checking, and so consumption, goes on
// while the store works. A batch made while another is being written waits,
// and every batch made meanwhile joins it: a slow store gets fewer, larger
// writes instead of a queue, and the rate of windows does not depend on its
// latency. Offsets are released, and windows logged as closed, only once the
// batch holding them is durable. The batch waiting is bounded: past
// maxWaitingRows, the checker waits for the write in flight, so that an
// outage stalls consumption instead of buffering without end.
type writeBehind struct {
	w      store.Writer
	spares *spares
	log    *slog.Logger
	// ctx bounds the writes; close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// maxWaiting is maxWaitingRows, lowered by tests.
	maxWaiting int

	mu sync.Mutex
	// waiting is the batch made since the write in flight began.
	waiting *pendingWrite
	// busy says a write is in flight (its goroutine runs).
	busy bool
	// changed is closed, and replaced, whenever busy, waiting or err change.
	changed chan struct{}
	err     error
	failed  chan struct{}
}

// maxWaitingRows bounds the rows of the batch waiting behind the write in
// flight: a minute of a hundred models of fifty features is about 80,000.
const maxWaitingRows = 200_000

// pendingWrite is a batch not yet durable, with what to do once it is.
type pendingWrite struct {
	b store.Batch
	// states are the arrays b's profiles' states are in, for spares once b is
	// written.
	states [][]byte
	done   []func()
	closed []closedWindow
}

func (p *pendingWrite) rows() int {
	b := &p.b
	return len(b.Profiles) + len(b.Results) + len(b.Anomalies) + len(b.Rejected) + len(b.References)
}

// join adds o, made after p, to p. Rows of one key in one batch would leave
// the choice between them to the store, so the keys that a later batch can
// write again keep its row only: rejection counts (each the count so far)
// and the clock's results of the window in progress.
func (p *pendingWrite) join(o *pendingWrite) {
	b, ob := &p.b, &o.b
	b.Profiles = append(b.Profiles, ob.Profiles...)
	b.Results = append(dropRewritten(b.Results, ob.Results), ob.Results...)
	b.Anomalies = append(b.Anomalies, ob.Anomalies...)
	b.Rejected = latestCounts(append(b.Rejected, ob.Rejected...))
	b.References = append(b.References, ob.References...)
	p.states = append(p.states, o.states...)
	p.done = append(p.done, o.done...)
	p.closed = append(p.closed, o.closed...)
}

// dropRewritten removes from rs the clock's results that later rewrites.
func dropRewritten(rs, later []check.Result) []check.Result {
	type key struct {
		model, metric string
		start         int64
	}
	var again map[key]bool
	for i := range later {
		if r := &later[i]; r.Kind == check.Staleness {
			if again == nil {
				again = make(map[key]bool)
			}
			again[key{r.Model, r.Metric, r.WindowStart.UnixNano()}] = true
		}
	}
	if again == nil {
		return rs
	}
	out := rs[:0]
	for _, r := range rs {
		if r.Kind != check.Staleness || !again[key{r.Model, r.Metric, r.WindowStart.UnixNano()}] {
			out = append(out, r)
		}
	}
	return out
}

func newWriteBehind(w store.Writer, spare *spares, log *slog.Logger) *writeBehind {
	ctx, cancel := context.WithCancel(context.Background())
	return &writeBehind{w: w, spares: spare, log: log, ctx: ctx, cancel: cancel, maxWaiting: maxWaitingRows,
		changed: make(chan struct{}), failed: make(chan struct{})}
}

// submit queues p behind the write in flight, starting a write when none is.
// It waits only while the batch waiting is full, or until ctx ends. It
// returns the error of a write that failed: the checker is then unusable.
func (wb *writeBehind) submit(ctx context.Context, p *pendingWrite) error {
	wb.mu.Lock()
	if wb.err != nil {
		wb.mu.Unlock()
		return wb.err
	}
	if wb.waiting == nil {
		wb.waiting = p
	} else {
		wb.waiting.join(p)
		wb.spares.put(&p.b) // copied into the waiting batch
	}
	if !wb.busy {
		wb.busy = true
		wb.wg.Add(1)
		go wb.run()
	}
	full := wb.waiting.rows() >= wb.maxWaiting
	wb.mu.Unlock()
	if !full {
		return nil
	}
	return wb.waitFor(ctx, func() bool { return wb.waiting == nil || wb.waiting.rows() < wb.maxWaiting })
}

// settle waits until every batch submitted is durable.
func (wb *writeBehind) settle(ctx context.Context) error {
	return wb.waitFor(ctx, func() bool { return !wb.busy && wb.waiting == nil })
}

// waitFor waits until cond, read under the lock, holds, a write fails or ctx
// ends.
func (wb *writeBehind) waitFor(ctx context.Context, cond func() bool) error {
	for {
		wb.mu.Lock()
		err, ok, changed := wb.err, cond(), wb.changed
		wb.mu.Unlock()
		switch {
		case err != nil:
			return err
		case ok:
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the store to write window results: %w", ctx.Err())
		}
	}
}

// run writes the batch waiting, and those made meanwhile, until none is left
// or one fails.
func (wb *writeBehind) run() {
	defer wb.wg.Done()
	for {
		wb.mu.Lock()
		p := wb.waiting
		wb.waiting = nil
		if p == nil {
			wb.busy = false
		}
		wb.notify()
		wb.mu.Unlock()
		if p == nil {
			return
		}
		if err := wb.w.Write(wb.ctx, p.b); err != nil {
			wb.mu.Lock()
			wb.err = fmt.Errorf("writing window results: %w", err)
			wb.busy = false
			close(wb.failed)
			wb.notify()
			wb.mu.Unlock()
			return
		}
		wb.spares.put(&p.b)
		wb.spares.putStates(p.states)
		logClosed(wb.log, p.closed)
		for _, f := range p.done {
			f()
		}
	}
}

// notify wakes the waiters; the lock is held.
func (wb *writeBehind) notify() {
	close(wb.changed)
	wb.changed = make(chan struct{})
}

// close abandons the writes not yet durable and waits for the one in flight
// to end.
func (wb *writeBehind) close() {
	wb.cancel()
	wb.wg.Wait()
}
