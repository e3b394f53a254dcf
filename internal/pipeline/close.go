package pipeline

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/sentinel-ml/sentinel/internal/store"
)

// closeUpTo closes the model's windows that end at or before watermark.
func (p *Pipeline) closeUpTo(ctx context.Context, ms *modelState, watermark time.Time) error {
	if len(ms.open) == 0 || watermark.Before(ms.firstEnd) {
		return nil
	}
	var due []*openWindow
	for _, w := range ms.open {
		if !w.End.After(watermark) {
			due = append(due, w)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Start.Before(due[j].Start) })
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

// closeWindow checks w and adds its results and profiles to b. The window
// leaves the open set now, but its offsets are released only when b is written.
func (p *Pipeline) closeWindow(ms *modelState, w *openWindow, b *store.Batch) error {
	if err := p.analyzer.Check(ms.m, w.Window, b); err != nil {
		return err
	}
	b.Profiles = append(b.Profiles, w.Rows(ms.m, p.offsets.processed(), p.log)...)
	ms.removeOpen(w)
	if w.End.After(ms.closedUpTo) {
		ms.closedUpTo = w.End
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
	now := p.now()
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
		p.analyzer.Staleness(ms.m, now, ms.lastEvent, &b)
	}
	return p.write(ctx, b)
}

// Flush closes every open window, as at shutdown or the end of a replay, and
// stores the reference periods drift holds, so that a restart resumes them.
func (p *Pipeline) Flush(ctx context.Context) error {
	// The summaries are taken before the open windows close: those windows are
	// reopened after a restart and added when they close again.
	refs := p.analyzer.References()
	for _, ms := range p.models {
		if err := p.closeUpTo(ctx, ms, maxTime()); err != nil {
			return err
		}
	}
	return p.write(ctx, store.Batch{References: refs})
}
