package pipeline

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// windowStatus is what the index knows of a window.
type windowStatus int

const (
	// notWritten: no copy of the window is stored; its messages are new.
	notWritten windowStatus = iota
	// written: a copy is stored, holding each partition's messages through an
	// offset; later messages update it.
	written
	// beyondHorizon: the window is older than late events may update.
	beyondHorizon
)

// countedIndex knows, per model and window written, the offset through which
// each partition's messages are in the stored window, so that messages read
// again after a restart or a rebalance are not counted twice. The checking
// side records what it writes; workers look up the windows they open, and a
// window written before this process started is read from the store the first
// time it is asked for. It is safe for concurrent use.
type countedIndex struct {
	window, horizon time.Duration
	history         store.History // nil: nothing was stored before (replay)
	models          map[string]*model.Model
	// shared says other processes write windows too (the stages of a
	// scaled-out Sentinel): a window not known here is asked of the store
	// whenever it is looked up, and its absence is not remembered, unless
	// it is one load covers.
	shared bool

	mu      sync.RWMutex
	byModel map[string]*modelIndex
}

type modelIndex struct {
	// before is the end of the latest window stored before this process
	// started: a later window can only have been written by this process.
	before time.Time
	// latest is the end of the latest window written.
	latest  time.Time
	windows map[int64]map[ingest.TopicPartition]int64
	// loaded, with shared windows, says windows from loadedFrom on are all
	// known (load): what the store held then, and the shares learnt or
	// checked since.
	loaded     bool
	loadedFrom time.Time
}

func newCountedIndex(models []*model.Model, window, horizon time.Duration, shared bool) *countedIndex {
	c := &countedIndex{window: window, horizon: horizon, shared: shared, models: make(map[string]*model.Model, len(models)),
		byModel: make(map[string]*modelIndex, len(models))}
	for _, m := range models {
		c.models[m.Name()] = m
		c.byModel[m.Name()] = &modelIndex{windows: make(map[int64]map[ingest.TopicPartition]int64)}
	}
	return c
}

// restored tells the index what the store held at start: per model, the end of
// the latest window written.
func (c *countedIndex) restored(h store.History, closed map[string]time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.history = h
	for name, end := range closed {
		if mi := c.byModel[name]; mi != nil {
			mi.before, mi.latest = end, later(mi.latest, end)
		}
	}
}

// stored is the store read back at start, nil when there is none (replay).
func (c *countedIndex) stored() store.History {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.history
}

// set records the offsets through which the checking side holds a window's
// messages, written or not; counted is copied. With shared windows, what
// is known already stays (per partition, the later offset): the shares this
// process's profile stage learnt are in the partials topic, whether or not
// its check stage has read them yet.
func (c *countedIndex) set(model string, start time.Time, counted map[ingest.TopicPartition]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mi := c.byModel[model]
	merged := maps.Clone(counted)
	if known := mi.windows[start.UnixNano()]; c.shared && merged != nil {
		for tp, o := range known {
			if n, ok := merged[tp]; !ok || o > n {
				merged[tp] = o
			}
		}
	}
	mi.windows[start.UnixNano()] = merged
	end := start.Add(c.window)
	if end.After(mi.latest) {
		mi.latest = end
		// Windows past the horizon are no longer asked for.
		oldest := mi.latest.Add(-c.horizon - c.window).UnixNano()
		for k := range mi.windows {
			if k < oldest {
				delete(mi.windows, k)
			}
		}
	}
}

// add records that a share published to the check stage holds each
// partition's messages of the window through the offsets given, merged with
// what is known of it.
func (c *countedIndex) add(model string, start time.Time, through []window.Offset) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mi := c.byModel[model]
	if mi == nil {
		return
	}
	mi.windows[start.UnixNano()] = withOffsets(mi.windows[start.UnixNano()], through)
}

// withOffsets returns a copy of known (the maps lookup returned never change)
// holding, per partition, the later of its offset and offsets'.
func withOffsets(known map[ingest.TopicPartition]int64, offsets []window.Offset) map[ingest.TopicPartition]int64 {
	merged := maps.Clone(known)
	if merged == nil {
		merged = make(map[ingest.TopicPartition]int64, len(offsets))
	}
	for _, o := range offsets {
		tp := ingest.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if n, ok := merged[tp]; !ok || o.Offset > n {
			merged[tp] = o.Offset
		}
	}
	return merged
}

// load reads what every model's windows stored within the late horizon
// counted, with shared windows, so that lookups of those windows need not
// ask the store: one query at the start of a generation rather than one per
// window a partition opens, which held a process that took over partitions
// at a zero watermark for seconds while it read them one by one. It is
// called after the shares waiting in the partials topic are learnt: a share
// checked meanwhile was stored before its record was committed, so it is
// either learnt or loaded. Later windows of other partitions cannot hold
// this process's messages.
func (c *countedIndex) load(ctx context.Context) error {
	h := c.stored()
	if h == nil || !c.shared {
		return nil
	}
	closed, err := h.ClosedWindows(ctx)
	if err != nil {
		return fmt.Errorf("reading the windows stored: %w", err)
	}
	c.mu.Lock()
	var since time.Time
	first := true
	for name, mi := range c.byModel {
		mi.latest = later(mi.latest, closed[name])
		if mi.latest.IsZero() {
			continue
		}
		if from := mi.latest.Add(-c.horizon - c.window); first || from.Before(since) {
			since, first = from, false
		}
	}
	c.mu.Unlock()
	rows, err := h.Counted(ctx, since)
	if err != nil {
		return fmt.Errorf("reading what the windows stored counted: %w", err)
	}
	counted := make(map[string]map[int64][]window.Offset)
	for _, r := range rows {
		offsets, err := window.CountedOffsets(r)
		if err != nil {
			return err
		}
		if counted[r.Model] == nil {
			counted[r.Model] = make(map[int64][]window.Offset)
		}
		counted[r.Model][r.WindowStart.UnixNano()] = offsets
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, mi := range c.byModel {
		for start, offsets := range counted[name] {
			mi.windows[start] = withOffsets(mi.windows[start], offsets)
		}
		mi.loaded, mi.loadedFrom = true, since
	}
	return nil
}

// lookup says what is stored of a model's window starting at start, with the
// offsets counted in it when written. The map returned is never changed.
func (c *countedIndex) lookup(ctx context.Context, model string, start time.Time) (map[ingest.TopicPartition]int64, windowStatus, error) {
	c.mu.RLock()
	mi := c.byModel[model]
	counted, known := mi.windows[start.UnixNano()]
	before, latest, h := mi.before, mi.latest, c.history
	loaded := mi.loaded && !start.Before(mi.loadedFrom)
	c.mu.RUnlock()
	end := start.Add(c.window)
	switch {
	case known && counted != nil && (!c.shared || loaded):
		return counted, written, nil
	case known && !c.shared:
		return nil, notWritten, nil
	case end.Before(latest.Add(-c.horizon)):
		return nil, beyondHorizon, nil
	case h == nil || end.After(before) && !c.shared || loaded:
		return nil, notWritten, nil
	}
	rows, err := h.Window(ctx, model, start)
	if err != nil {
		return nil, notWritten, fmt.Errorf("reading the stored window %s of model %s: %w", start.Format(time.RFC3339), model, err)
	}
	stored, err := window.Restore(c.models[model], start, c.window, rows)
	if err != nil {
		return nil, notWritten, fmt.Errorf("reading the stored window %s of model %s: %w", start.Format(time.RFC3339), model, err)
	}
	status := notWritten
	if stored != nil {
		status = written
	}
	if c.shared {
		// What another process wrote and what this one knows (shares it
		// learnt or checked) both hold messages: the later offset of each.
		c.mu.Lock()
		defer c.mu.Unlock()
		merged := mi.windows[start.UnixNano()]
		if stored != nil {
			merged = withOffsets(merged, stored.Offsets)
		}
		if merged != nil {
			mi.windows[start.UnixNano()] = merged
			status = written
		}
		return merged, status, nil
	}
	if stored != nil {
		counted = countedOf(stored.Offsets)
	}
	c.mu.Lock()
	if _, raced := mi.windows[start.UnixNano()]; !raced {
		mi.windows[start.UnixNano()] = counted // nil remembers "not stored"
	}
	c.mu.Unlock()
	return counted, status, nil
}

// countedOf turns stored offsets into a lookup map.
func countedOf(offsets []window.Offset) map[ingest.TopicPartition]int64 {
	out := make(map[ingest.TopicPartition]int64, len(offsets))
	for _, o := range offsets {
		out[ingest.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	}
	return out
}

// offsetsOf turns a lookup map into stored offsets, in a stable order.
func offsetsOf(counted map[ingest.TopicPartition]int64) []window.Offset {
	out := make([]window.Offset, 0, len(counted))
	for tp, o := range counted {
		out = append(out, window.Offset{Topic: tp.Topic, Partition: tp.Partition, Offset: o})
	}
	sortOffsets(out)
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
