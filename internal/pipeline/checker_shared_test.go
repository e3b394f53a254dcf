package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// windowReads counts the stored windows a checker reads back.
type windowReads struct {
	*store.Memory
	reads int
}

func (w *windowReads) Window(ctx context.Context, model string, start time.Time) ([]store.WindowProfile, error) {
	w.reads++
	return w.Memory.Window(ctx, model, start)
}

// TestSharesReadAgainAfterARebalance: the check stage's new owner of a model
// reads again the shares of windows already written (the partials topic is
// committed only past what is done); those a written window holds are
// dropped without reading the window back from the store, a round trip
// each that held the check stage minutes behind at every rebalance.
func TestSharesReadAgainAfterARebalance(t *testing.T) {
	m := exampleModel(t)
	mem := &windowReads{Memory: store.NewMemory()}
	opts := testOptions(m, mem)
	opts.SharedWindows = true
	opts.LateHorizon = time.Hour
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Checker
	ctx := context.Background()
	if err := c.Restore(ctx, mem); err != nil {
		t.Fatal(err)
	}
	share := func() (*Delta, *bool) {
		w, err := window.New(m, t0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var e event.Event
		if err := event.NewDecoder(event.Options{Layout: event.LayoutEnvelope}).Decode(ev(t0.Add(5*time.Second), "7"), &e); err != nil {
			t.Fatal(err)
		}
		w.Add(m, &e)
		released := new(bool)
		return &Delta{Model: m, Window: w, Through: []window.Offset{{Topic: "events", Offset: 5}}, Final: true,
			done: func() { *released = true }}, released
	}
	first, _ := share()
	if err := c.Deliver(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := c.Progress(ctx, &Progress{Partition: 0, Watermark: t0.Add(2 * time.Minute), Only: []string{m.Name()}}); err != nil {
		t.Fatal(err)
	}
	if c.stats.Windows != 1 {
		t.Fatalf("%d windows written, want 10:00", c.stats.Windows)
	}
	again, released := share()
	reads := mem.reads
	if err := c.Deliver(ctx, again); err != nil {
		t.Fatal(err)
	}
	if !*released || mem.reads != reads || c.stats.Updated != 0 {
		t.Errorf("a share the written window holds: released %v, %d store reads, %d windows updated; want released at once, no read, no update",
			*released, mem.reads-reads, c.stats.Updated)
	}
}
