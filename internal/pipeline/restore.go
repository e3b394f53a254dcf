package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// Restore reads back what the store holds from before a restart and resumes
// from it, model by model: windows a drain wrote before every partition had
// passed them are reopened from their profiles, so that the events still due
// to them are added; every window written records the offsets it counted, so
// that messages read again are skipped rather than counted twice; drift gets
// its previous window and reference periods back, and the anomaly detector its
// history. Call it once, before the first share is delivered.
func (c *Checker) Restore(ctx context.Context, h store.History) error {
	closed, err := h.ClosedWindows(ctx)
	if err != nil {
		return fmt.Errorf("reading the windows already written: %w", err)
	}
	c.history = h
	c.index.restored(h, closed)
	for _, md := range c.opts.Models {
		last, ok := closed[md.Name()]
		if !ok {
			continue // nothing written yet
		}
		if err := c.restoreModel(ctx, h, c.models[md.Name()], last); err != nil {
			return err
		}
	}
	return nil
}

func (c *Checker) restoreModel(ctx context.Context, h store.History, cm *checkerModel, last time.Time) error {
	name := cm.m.Name()
	cm.closedUpTo = last
	// A drain writes the windows still open: any of them ends within a window
	// and the lateness of the last one written. The window before those is
	// read too: drift compares the next window closed with it.
	reopen := last.Add(-c.opts.Window - c.opts.Lateness)
	// The windows of the reference period in progress are read too: after a
	// crash its stored summary lacks those written since the last drain.
	period := c.analyzer.PeriodStart(last.Add(-c.opts.Window))
	since := reopen.Add(-2 * c.opts.Window)
	if period.Before(since) {
		since = period
	}
	rows, err := h.Profiles(ctx, name, since)
	if err != nil {
		return fmt.Errorf("reading the last windows of model %s: %w", name, err)
	}
	byStart := make(map[int64][]store.WindowProfile)
	var starts []int64 // in window order, as the store returns rows
	for _, r := range rows {
		if r.Model != name {
			return fmt.Errorf("restoring windows of model %s: row of model %s", name, r.Model)
		}
		k := r.WindowStart.UnixNano()
		if _, ok := byStart[k]; !ok {
			starts = append(starts, k)
		}
		byStart[k] = append(byStart[k], r)
	}
	var restored analyze.Restored
	for _, k := range starts {
		at := time.Unix(0, k).UTC()
		stored, err := window.Restore(cm.m, at, c.opts.Window, byStart[k])
		if err != nil {
			return fmt.Errorf("restoring window %s of model %s: %w", at.Format(time.RFC3339), name, err)
		}
		if stored == nil {
			continue // written by a version that stored no offsets
		}
		counted := countedOf(stored.Offsets)
		c.index.set(name, at, counted)
		c.wrote(cm, at, counted)
		if !stored.End.After(reopen) || stored.Complete {
			if restored.Previous == nil || stored.Start.After(restored.Previous.Start) {
				restored.Previous = stored.Window
			}
			if !stored.Start.Before(period) {
				restored.Period = append(restored.Period, stored.Window)
			}
			continue
		}
		cm.open[k] = &checkingWindow{Window: stored.Window, counted: counted}
	}
	// Drift's reference: the period in progress and the one before, with room
	// for a silence between them.
	if restored.References, err = h.References(ctx, name, last.Add(-3*c.opts.ReferencePeriod)); err != nil {
		return fmt.Errorf("reading the reference periods of model %s: %w", name, err)
	}
	if n := c.analyzer.HistoryWindows(); n > 0 {
		// History is counted back from the model's last window, in event time:
		// traffic replayed from the past has no recent windows.
		since := last.Add(-time.Duration(n) * c.opts.Window)
		if restored.History, err = h.Results(ctx, name, since); err != nil {
			return fmt.Errorf("reading the history of model %s: %w", name, err)
		}
		// The results of a window reopened are of part of it: the detector
		// sees the window when it closes whole.
		restored.History = slices.DeleteFunc(restored.History, func(r check.Result) bool {
			_, reopened := cm.open[r.WindowStart.UnixNano()]
			return reopened
		})
	}
	return c.analyzer.Restore(name, restored)
}
