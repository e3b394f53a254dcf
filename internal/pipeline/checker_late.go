package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// Shares that arrive after their window was written: within the late
// horizon they update the stored copy, past it they are counted late.

// update adds a late share to the stored copy of its window and writes it
// again: the profiles, and the checks that depend on the window alone.
// Drift and the anomaly verdict keep what they found when the window closed:
// they compare with history that has moved on since.
func (c *Checker) update(ctx context.Context, cm *checkerModel, d *Delta) error {
	name := cm.m.Name()
	if cm.holds(d) {
		// Read again from the partials topic after a rebalance: a window
		// written holds it already.
		cm.pool.put(d.Window)
		d.done()
		return nil
	}
	if c.history == nil {
		c.late(name, d)
		cm.pool.put(d.Window)
		return nil
	}
	// The stored copy is read back: what is still being written must be in it.
	if err := c.settle(ctx); err != nil {
		return err
	}
	rows, err := c.history.Window(ctx, name, d.Window.Start)
	if err != nil {
		return fmt.Errorf("reading window %s of model %s to add late events: %w", d.Window.Start.Format(time.RFC3339), name, err)
	}
	stored, err := window.Restore(cm.m, d.Window.Start, c.opts.Window, rows)
	if err != nil {
		return fmt.Errorf("reading window %s of model %s to add late events: %w", d.Window.Start.Format(time.RFC3339), name, err)
	}
	if stored != nil && covers(countedOf(stored.Offsets), d.Through) {
		// Read again from the partials topic after its records were taken
		// from another owner: the stored copy holds it already.
		cm.pool.put(d.Window)
		d.done()
		return nil
	}
	w := &checkingWindow{Window: d.Window, counted: make(map[ingest.TopicPartition]int64)}
	complete := false
	if stored != nil {
		if err := stored.Merge(d.Window); err != nil {
			return fmt.Errorf("model %s: adding late events: %w", name, err)
		}
		cm.pool.put(d.Window)
		w.Window, w.counted, complete = stored.Window, countedOf(stored.Offsets), stored.Complete
	}
	w.add(d)
	var b store.Batch
	c.analyzer.Recheck(cm.m, w.Window, &b)
	b.Profiles, c.states = w.AppendRows(b.Profiles, c.states, cm.m, offsetsOf(w.counted), complete, c.log)
	c.index.set(name, w.Start, w.counted)
	c.wrote(cm, w.Start, w.counted)
	cm.pool.put(w.Window)
	c.stats.Updated++
	c.metrics.updated.WithLabelValues(name).Inc()
	return c.write(ctx, b, w.done)
}

// late counts a share that arrived too late to update its window.
func (c *Checker) late(model string, d *Delta) {
	c.stats.Late += d.Window.Events
	c.metrics.late.WithLabelValues(model).Add(float64(d.Window.Events))
	d.done()
}

// covers reports whether a stored window's counted offsets hold every
// message a share holds: its offsets through, partition by partition.
func covers(counted map[ingest.TopicPartition]int64, through []window.Offset) bool {
	for _, o := range through {
		if c, ok := counted[ingest.TopicPartition{Topic: o.Topic, Partition: o.Partition}]; !ok || c < o.Offset {
			return false
		}
	}
	return len(through) > 0
}
