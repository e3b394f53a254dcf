package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// Restore reads back what the store holds from before a restart and resumes
// from it, model by model: the windows last written are reopened from their
// profiles, so that the events still due to them are added rather than skipped
// (messages they had counted, at or below the offsets stored with them, are
// skipped when read again), and earlier events are skipped as counted; drift
// gets its previous window and reference periods back, and the anomaly
// detector its history. Call it once, after New and before the first message.
func (p *Pipeline) Restore(ctx context.Context, h store.History) error {
	closed, err := h.ClosedWindows(ctx)
	if err != nil {
		return fmt.Errorf("reading the windows already written: %w", err)
	}
	for _, m := range p.opts.Models {
		last, ok := closed[m.Name()]
		if !ok {
			continue // nothing written yet
		}
		if err := p.restoreModel(ctx, h, p.models[m.Name()], last); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pipeline) restoreModel(ctx context.Context, h store.History, ms *modelState, last time.Time) error {
	name := ms.m.Name()
	ms.closedUpTo, ms.written = last, last
	// The last windows written may have been drained before their time, at a
	// shutdown: any window that could still have been open ends within a window
	// and the lateness of the last one written. The window before those is
	// read too: drift compares the next window closed with it.
	reopen := last.Add(-p.opts.Window - p.opts.Lateness)
	rows, err := h.Profiles(ctx, name, reopen.Add(-2*p.opts.Window))
	if err != nil {
		return fmt.Errorf("reading the last windows of model %s: %w", name, err)
	}
	var recent, earlier []store.WindowProfile
	for _, r := range rows {
		if r.Model != name {
			return fmt.Errorf("restoring windows of model %s: row of model %s", name, r.Model)
		}
		if r.WindowEnd.After(reopen) {
			recent = append(recent, r)
		} else {
			earlier = append(earlier, r)
		}
	}
	var restored analyze.Restored
	if restored.Previous, err = p.latestWindow(ms, earlier); err != nil {
		return err
	}
	if err := p.reopen(ms, recent); err != nil {
		return err
	}
	// Drift's reference: the period in progress and the one before, with room
	// for a silence between them.
	if restored.References, err = h.References(ctx, name, last.Add(-3*p.opts.ReferencePeriod)); err != nil {
		return fmt.Errorf("reading the reference periods of model %s: %w", name, err)
	}
	if n := p.analyzer.HistoryWindows(); n > 0 {
		// History is counted back from the model's last window, in event time:
		// traffic replayed from the past has no recent windows.
		since := last.Add(-time.Duration(n) * p.opts.Window)
		if restored.History, err = h.Results(ctx, name, since); err != nil {
			return fmt.Errorf("reading the history of model %s: %w", name, err)
		}
	}
	return p.analyzer.Restore(name, restored)
}

// latestWindow rebuilds the latest window of rows, the one drift's next
// comparison with the previous window needs; nil when rows hold none.
func (p *Pipeline) latestWindow(ms *modelState, rows []store.WindowProfile) (*window.Window, error) {
	var latest time.Time
	for _, r := range rows {
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
		return nil, nil
	}
	w, _, err := window.Restore(ms.m, latest, p.opts.Window, group)
	if err != nil {
		return nil, fmt.Errorf("restoring window %s of model %s: %w", latest.Format(time.RFC3339), ms.m.Name(), err)
	}
	return w, nil
}

// reopen makes the windows of rows open again, each with the offsets it had
// counted. Windows are identified by start.
func (p *Pipeline) reopen(ms *modelState, rows []store.WindowProfile) error {
	byStart := make(map[int64][]store.WindowProfile)
	for _, r := range rows {
		byStart[r.WindowStart.UnixNano()] = append(byStart[r.WindowStart.UnixNano()], r)
	}
	for start, group := range byStart {
		at := time.Unix(0, start).UTC()
		w, counted, err := window.Restore(ms.m, at, p.opts.Window, group)
		if err != nil {
			return fmt.Errorf("restoring window %s of model %s: %w", at.Format(time.RFC3339), ms.m.Name(), err)
		}
		if w == nil {
			continue // written by a version that stored no offsets
		}
		ow := &openWindow{Window: w, minOffset: make(map[ingest.TopicPartition]int64),
			counted: make(map[ingest.TopicPartition]int64, len(counted))}
		for _, o := range counted {
			ow.counted[ingest.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
		}
		ms.addOpen(ow)
		if w.Start.Before(ms.closedUpTo) {
			ms.closedUpTo = w.Start
		}
		if w.Start.Before(ms.written) {
			ms.written = w.Start
		}
	}
	return nil
}
