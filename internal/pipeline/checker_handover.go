package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/store"
)

// How the checker ends a generation or the process (a checkpoint, a drain)
// and what it knows of the partitions this process reads.

// Flush checks and writes every open window, as at a drain or the end of a
// replay, and stores the reference periods drift holds, so that a restart
// resumes them. Windows written so are marked incomplete: a restart reopens
// them for the events still due.
func (c *Checker) Flush(ctx context.Context) error {
	if c.foreign > 0 {
		return c.leave(ctx)
	}
	// The summaries are taken before the open windows close: those windows are
	// reopened after a restart and added when they close again.
	b := store.Batch{References: c.analyzer.References()}
	c.reserve(&b, maxTime())
	var done []func()
	for _, cm := range c.models {
		if !c.owns(cm) {
			continue
		}
		d, err := c.closeUpTo(ctx, cm, maxTime(), c.watermark().Equal(maxTime()), &b)
		if err != nil {
			return err
		}
		done = append(done, d...)
	}
	if err := c.write(ctx, b, done); err != nil {
		return err
	}
	return c.settle(ctx)
}

// Checkpoint writes the profiles of every open window as they stand, without
// checking them, and releases the offsets behind them: a partition taken from
// this process at a rebalance is read again by its next owner from there, and
// the stored windows tell it what they hold. The windows stay open.
func (c *Checker) Checkpoint(ctx context.Context) error {
	if c.foreign > 0 {
		return c.leave(ctx)
	}
	var b store.Batch
	var done []func()
	for _, cm := range c.models {
		if !c.owns(cm) {
			continue
		}
		for _, w := range cm.open {
			if err := c.mergeShares(cm, w); err != nil {
				return err
			}
			b.Profiles, c.states = w.AppendRows(b.Profiles, c.states, cm.m, offsetsOf(w.counted), false, c.log)
			done = append(done, w.done...)
			w.done = nil
		}
	}
	if err := c.write(ctx, b, done); err != nil {
		return err
	}
	return c.settle(ctx)
}

// Own tells the checker which models it checks from now on: the check stage
// of a scaled-out Sentinel owns the models of the partitions of the partials
// topic its group assigned it. Windows of the models it no longer owns are
// dropped unwritten, and their series leave /metrics: their shares were read
// from records not yet committed, which the models' next owner reads again.
// A model newly owned starts from what the store holds of it, as after a
// restart: its drift references, previous window and anomaly history were
// learnt by the process that checked it until now.
func (c *Checker) Own(ctx context.Context, models []string) error {
	was := c.owned
	c.owned = make(map[string]bool, len(models))
	for _, m := range models {
		c.owned[m] = true
	}
	var closed map[string]time.Time
	for name, cm := range c.models {
		if c.owned[name] && was != nil && was[name] {
			continue
		}
		for key, w := range cm.open {
			for _, p := range w.pending {
				cm.pool.put(p.Window)
			}
			if !w.empty {
				cm.pool.put(w.Window)
			}
			delete(cm.open, key)
		}
		cm.closedUpTo, cm.progress, cm.written = time.Time{}, nil, nil
		if err := c.analyzer.Forget(name); err != nil {
			return err
		}
		if !c.owned[name] || c.history == nil {
			continue
		}
		if closed == nil {
			var err error
			if closed, err = c.history.ClosedWindows(ctx); err != nil {
				return fmt.Errorf("reading the windows already written: %w", err)
			}
		}
		if last, ok := closed[name]; ok {
			if err := c.restoreModel(ctx, c.history, cm, last); err != nil {
				return err
			}
		}
	}
	return nil
}

// owns reports whether the checker checks the model.
func (c *Checker) owns(cm *checkerModel) bool { return c.owned == nil || c.owned[cm.m.Name()] }

// SetPartitions tells the checker the events topic's partition count; a new
// partition holds every window open until it reports.
func (c *Checker) SetPartitions(n int) {
	for len(c.progress) < n {
		c.progress = append(c.progress, partitionProgress{})
	}
}

// Hold tells the checker which partitions this process reads from now on,
// at the start of a group generation. Those it no longer reads count as
// never reported: another member reads them, and their last watermark here
// says nothing of what it adds, so they hold every window open, and say so,
// until they report here again.
func (c *Checker) Hold(partitions []int) {
	held := make(map[int]bool, len(partitions))
	for _, k := range partitions {
		held[k] = true
	}
	c.foreign = 0
	for k := range c.progress {
		if !held[k] {
			c.progress[k] = partitionProgress{}
			c.foreign++
		}
	}
}

// leave ends a generation, or the process, while another member reads some
// of the partitions: it writes only what is its own (rejection counts) and
// releases no offset behind an open window. A stored window is one row per
// model and window, not per partition, so this process's share written
// under that key would replace the other member's (or be replaced by it):
// the events are read again instead, by whoever reads their partitions next,
// which the stored windows and the other member's own open windows tell what
// they already hold.
func (c *Checker) leave(ctx context.Context) error {
	open := 0
	for _, cm := range c.models {
		open += len(cm.open)
	}
	if open > 0 {
		c.log.Warn("leaving open windows unwritten: another member of the group reads some partitions, and whoever reads them next reads these events again",
			"windows", open, "foreign_partitions", c.foreign)
	}
	if err := c.write(ctx, store.Batch{}, nil); err != nil {
		return err
	}
	return c.settle(ctx)
}

// Unreported lists the partition numbers that have never reported: nobody
// reads them here, so every window waits for them.
func (c *Checker) Unreported() []int {
	var out []int
	for k, p := range c.progress {
		if !p.reported {
			out = append(out, k)
		}
	}
	return out
}
