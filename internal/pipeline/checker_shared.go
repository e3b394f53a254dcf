package pipeline

import (
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// With SharedWindows, a window's shares come from a partials topic that
// other processes write too: after a rebalance a partition's messages may be
// read, and published, twice, by the process that had it and by the one
// that took it over from its last commit. The later share then holds every
// message of the earlier one (it read from before the earlier's first, to
// past its last), so the checker keeps a window's shares apart until the
// window closes and drops those another holds.

// deliverShared takes a share of an open or new window of cm.
func (c *Checker) deliverShared(cm *checkerModel, d *Delta) error {
	key := d.Window.Start.UnixNano()
	w := cm.open[key]
	if w == nil {
		w = &checkingWindow{Window: d.Window, counted: make(map[ingest.TopicPartition]int64), empty: true}
		cm.open[key] = w
	}
	for _, p := range w.pending {
		if holds(p, d) {
			cm.pool.put(d.Window)
			// The same record read again by a new generation of the check
			// stage: its offset is released with the window that holds its
			// content, not now, or a commit would pass a share that is only
			// in memory here, and the model's next owner would never read it.
			held, again := p.done, d.done
			p.done = func() { held(); again() }
			return nil
		}
	}
	kept := w.pending[:0]
	for _, p := range w.pending {
		if holds(d, p) {
			cm.pool.put(p.Window)
			p.done()
			continue
		}
		kept = append(kept, p)
	}
	clear(w.pending[len(kept):])
	w.pending = append(kept, d)
	if w.empty {
		// Until it closes, the window is its first kept share's: an empty
		// window taken to stand for it was emptied (fifty features) for
		// nothing, a twelfth of what the records path costs over direct.
		w.Window = w.pending[0].Window
	}
	for _, o := range d.Through {
		tp := ingest.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if n, ok := w.counted[tp]; !ok || o.Offset > n {
			w.counted[tp] = o.Offset
		}
	}
	c.index.set(cm.m.Name(), w.Start, w.counted)
	return nil
}

// mergeShares merges the window's kept shares into it, before it is checked
// or its profiles written.
func (c *Checker) mergeShares(cm *checkerModel, w *checkingWindow) error {
	rest := w.pending
	if w.empty {
		// The first share is the window already (deliverShared), as
		// without shared windows: with one partition, the only one.
		w.empty = false
		w.done = append(w.done, rest[0].done)
		rest = rest[1:]
	}
	for _, p := range rest {
		if err := w.Merge(p.Window); err != nil {
			return err
		}
		cm.pool.put(p.Window)
		w.done = append(w.done, p.done)
	}
	clear(w.pending)
	w.pending = w.pending[:0]
	return nil
}

// holds reports whether share a holds every message share b does: both of
// one source partition, and for each topic-partition that fed b, a's range
// from its first message through its last offset spans b's.
func holds(a, b *Delta) bool {
	if a.Partition != b.Partition || len(b.From) == 0 {
		return false
	}
	for _, o := range b.From {
		from, ok := offsetOf(a.From, o.Topic, o.Partition)
		if !ok || from > o.Offset {
			return false
		}
		bThrough, _ := offsetOf(b.Through, o.Topic, o.Partition)
		if aThrough, ok := offsetOf(a.Through, o.Topic, o.Partition); !ok || aThrough < bThrough {
			return false
		}
	}
	return true
}

func offsetOf(offsets []window.Offset, topic string, partition int) (int64, bool) {
	for _, o := range offsets {
		if o.Topic == topic && o.Partition == partition {
			return o.Offset, true
		}
	}
	return 0, false
}
