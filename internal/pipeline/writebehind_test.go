package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// gatedWriter holds each write until the test lets it through, then passes it
// to next and keeps the windows it held, in write order.
type gatedWriter struct {
	next store.Writer
	gate chan error // a write waits for a value, and fails with it when not nil
	// arrived receives a value as each write comes to the gate.
	arrived chan struct{}

	mu      sync.Mutex
	batches [][]string
}

func newGatedWriter(next store.Writer) *gatedWriter {
	return &gatedWriter{next: next, gate: make(chan error), arrived: make(chan struct{}, 100)}
}

func (g *gatedWriter) Write(ctx context.Context, b store.Batch) error {
	g.arrived <- struct{}{}
	select {
	case err := <-g.gate:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if g.next != nil {
		if err := g.next.Write(ctx, b); err != nil {
			return err
		}
	}
	rec := recorder{batches: []store.Batch{b}}
	g.mu.Lock()
	g.batches = append(g.batches, rec.windows())
	g.mu.Unlock()
	return nil
}

func (g *gatedWriter) written() [][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.batches)
}

// let lets one write through, failing it with err when not nil, and fails the
// test when none comes.
func (g *gatedWriter) let(t *testing.T, err error) {
	t.Helper()
	select {
	case g.gate <- err:
	case <-time.After(10 * time.Second):
		t.Fatal("no write came")
	}
}

// letLater lets one write through when it comes, for a call that waits for it.
func (g *gatedWriter) letLater() {
	select {
	case g.gate <- nil:
	case <-time.After(10 * time.Second):
	}
}

// writingBehind returns a pipeline of the example model writing to g behind
// its checker, closed when the test ends.
func writingBehind(t *testing.T, g *gatedWriter) *Pipeline {
	t.Helper()
	opts := testOptions(exampleModel(t), g)
	opts.WriteBehind = true
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Checker.Close)
	return p
}

// within runs f, failing the test if it does not return in time: a call that
// waited for the store would not.
func within(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s waited for the store", what)
	}
}

// TestWriteBehind: with WriteBehind, closing windows does not wait for the
// store; the offsets behind a window are held until its batch is durable;
// the windows closed while a write is in flight are written together after
// it, in order; Flush returns once everything is durable.
func TestWriteBehind(t *testing.T) {
	g := newGatedWriter(nil)
	p := writingBehind(t, g)
	ctx := context.Background()
	feed := func(offset int64, at time.Duration) {
		t.Helper()
		within(t, fmt.Sprintf("processing offset %d", offset), func() error {
			return p.Process(ctx, msg(offset, ev(t0.Add(at), "1")))
		})
	}
	committed := func() int64 {
		for _, m := range p.Committable() {
			return m.Offset
		}
		return -1
	}
	feed(0, 5*time.Second)  // 10:00
	feed(1, 75*time.Second) // 10:01, closes 10:00: its write waits at the gate
	<-g.arrived
	feed(2, 135*time.Second)
	feed(3, 195*time.Second) // closes 10:01 and 10:02 behind it
	if c := committed(); c != -1 {
		t.Errorf("committable offset %d while no window is durable", c)
	}
	g.let(t, nil)
	g.let(t, nil)
	go g.letLater()
	within(t, "flushing", func() error { return p.Flush(ctx) })
	want := [][]string{{"fraud 10:00 1"}, {"fraud 10:01 1", "fraud 10:02 1"}, {"fraud 10:03 1"}}
	if got := g.written(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches written %q, want %q", got, want)
	}
	if c := committed(); c != 3 {
		t.Errorf("after the flush, committable offset %d, want 3", c)
	}
}

// TestWriteBehindFailure: a write that fails stops the checker: Failed
// closes, the next call returns the failure, and no offset behind the batch
// is released.
func TestWriteBehindFailure(t *testing.T) {
	g := newGatedWriter(nil)
	p := writingBehind(t, g)
	ctx := context.Background()
	for i, at := range []time.Duration{5 * time.Second, 75 * time.Second} {
		within(t, "processing", func() error { return p.Process(ctx, msg(int64(i), ev(t0.Add(at), "1"))) })
	}
	g.let(t, errors.New("clickhouse down"))
	select {
	case <-p.Checker.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("Failed did not close after a failed write")
	}
	if err := p.Checker.Err(); err == nil || !strings.Contains(err.Error(), "clickhouse down") {
		t.Errorf("Err %v, want the write's failure", err)
	}
	err := p.Process(ctx, msg(2, ev(t0.Add(135*time.Second), "1")))
	if err == nil || !strings.Contains(err.Error(), "clickhouse down") {
		t.Errorf("processing after a failed write: %v, want the failure", err)
	}
	if got := p.Committable(); len(got) != 0 {
		t.Errorf("after a failed write, committable %v, want nothing", got)
	}
}

// TestWriteBehindUpdate: late events of a window whose write is still in
// flight update the stored copy once it is durable, not an empty one.
func TestWriteBehindUpdate(t *testing.T) {
	mem := store.NewMemory()
	g := newGatedWriter(mem)
	p := writingBehind(t, g)
	ctx := context.Background()
	if err := p.Restore(ctx, mem); err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Duration{5 * time.Second, 6 * time.Second, 75 * time.Second, 7 * time.Second} {
		within(t, "processing", func() error { return p.Process(ctx, msg(int64(i), ev(t0.Add(at), "1"))) })
	}
	// The tick hands the late event over. Its update waits for 10:00 to be
	// durable: the store is let go only once the tick has returned or had
	// time to read the stored copy without waiting.
	ticked := make(chan error, 1)
	go func() { ticked <- p.Tick(ctx) }()
	select {
	case err := <-ticked:
		ticked <- err
	case <-time.After(100 * time.Millisecond):
	}
	close(g.gate)
	if err := <-ticked; err != nil {
		t.Fatal(err)
	}
	within(t, "flushing", func() error { return p.Flush(ctx) })
	var last string
	for _, b := range g.written() {
		for _, w := range b {
			if strings.HasPrefix(w, "fraud 10:00") {
				last = w
			}
		}
	}
	if last != "fraud 10:00 3" {
		t.Errorf("10:00 last written as %q, want its three events", last)
	}
}

// TestPendingWriteJoin: batches joined behind a write keep one row per key of
// what a later batch writes again (the clock's results of the window in
// progress, rejection counts), the later one, and every other row in order.
func TestPendingWriteJoin(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	stale := func(m int, v float64) check.Result {
		return check.Result{Model: "fraud", WindowStart: at(m), Kind: check.Staleness, Metric: check.SecondsSinceEvent, Value: v}
	}
	quality := func(m int) check.Result {
		return check.Result{Model: "fraud", WindowStart: at(m), Kind: check.Quality, Metric: check.Events, Value: 1}
	}
	rejected := func(n uint64) store.RejectedCount {
		return store.RejectedCount{Model: "fraud", Reason: "syntax", Topic: "events", WindowStart: at(0), Count: n}
	}
	first := &pendingWrite{b: store.Batch{Results: []check.Result{quality(0), stale(0, 1), stale(1, 5)},
		Rejected: []store.RejectedCount{rejected(2)}}, done: []func(){func() {}}}
	first.join(&pendingWrite{b: store.Batch{Results: []check.Result{stale(1, 7), quality(1)},
		Rejected: []store.RejectedCount{rejected(3)}}, done: []func(){func() {}}})
	want := []check.Result{quality(0), stale(0, 1), stale(1, 7), quality(1)}
	if !slices.Equal(first.b.Results, want) {
		t.Errorf("results %+v, want %+v", first.b.Results, want)
	}
	if !slices.Equal(first.b.Rejected, []store.RejectedCount{rejected(3)}) {
		t.Errorf("rejected %+v, want the later count alone", first.b.Rejected)
	}
	if len(first.done) != 2 {
		t.Errorf("%d releases, want both batches'", len(first.done))
	}
}

// TestWriteBehindBounded: batches join the one waiting behind the write in
// flight until it holds maxWaiting rows; the batch that fills it is not
// taken until that write is durable, so a store that stalls stalls the
// checker too instead of letting what waits grow. A caller that gives up
// waiting is told so.
func TestWriteBehindBounded(t *testing.T) {
	g := newGatedWriter(nil)
	wb := newWriteBehind(g, &spares{}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	defer wb.close()
	wb.maxWaiting = 4
	ctx := context.Background()
	// A batch of n rows: its window's model-level row, which says n, and
	// n-1 features'.
	batch := func(m, n int) *pendingWrite {
		p := &pendingWrite{}
		for i := range n {
			r := store.WindowProfile{Model: "fraud", WindowStart: t0.Add(time.Duration(m) * time.Minute), Rows: uint64(n)}
			if i > 0 {
				r.Feature = fmt.Sprint("f", i)
			}
			p.b.Profiles = append(p.b.Profiles, r)
		}
		return p
	}
	within(t, "the first batch", func() error { return wb.submit(ctx, batch(0, 3)) })
	<-g.arrived // in flight, held at the gate
	within(t, "a batch under the bound", func() error { return wb.submit(ctx, batch(1, 3)) })
	filled := make(chan error, 1)
	go func() { filled <- wb.submit(ctx, batch(2, 1)) }()
	select {
	case err := <-filled:
		t.Fatalf("the batch filling the waiting one returned (%v) while the write in flight was not durable", err)
	case <-time.After(100 * time.Millisecond):
	}
	if rows := waitingRows(wb); rows != 4 {
		t.Errorf("%d rows waiting, want 4", rows)
	}
	g.let(t, nil)
	select {
	case err := <-filled:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the full batch was not taken once the write in flight was durable")
	}
	<-g.arrived // the joined batch is in flight now
	within(t, "a batch under the bound", func() error { return wb.submit(ctx, batch(3, 2)) })
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := wb.submit(short, batch(4, 2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("submitting past the bound while the store stalls: %v, want the deadline", err)
	}
	go g.letLater()
	go g.letLater()
	within(t, "settling", func() error { return wb.settle(ctx) })
	want := [][]string{{"fraud 10:00 3"}, {"fraud 10:01 3", "fraud 10:02 1"}, {"fraud 10:03 2", "fraud 10:04 2"}}
	if got := g.written(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches written %q, want %q", got, want)
	}
}

func waitingRows(wb *writeBehind) int {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if wb.waiting == nil {
		return 0
	}
	return wb.waiting.rows()
}
