package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// Reasons a message is rejected, beyond the decoder's own. They label a metric
// and a dead-letter header, so they are a fixed set, never taken from payloads.
const (
	ReasonOversized        = "oversized"
	ReasonMissingModel     = "missing_model"
	ReasonUnknownModel     = "unknown_model"
	ReasonMissingTimestamp = "missing_timestamp"
	ReasonAbsurdTimestamp  = "absurd_timestamp"
)

// Reasons lists every reason word a message can be rejected with: the
// dead-letter producer counts each under its own series.
func Reasons() []string {
	out := []string{ReasonOversized, ReasonMissingModel, ReasonUnknownModel, ReasonMissingTimestamp, ReasonAbsurdTimestamp}
	for _, r := range event.Reasons() {
		out = append(out, string(r))
	}
	return out
}

// unknownModel is the model label of messages whose model is not monitored, so
// that payloads cannot create label values.
const unknownModel = "unknown"

type rejectedKey struct {
	model, reason string
	window        int64
	tp            ingest.TopicPartition
}

// rejections counts a worker's rejected messages per model, reason,
// topic-partition and minute of arrival, cumulatively, so that each row
// written holds the whole count so far and replaces the one before. After a
// restart the counts resume from the store's, and rejections read again at or
// below the highest offset counted are passed over: each is counted, and
// dead-lettered, once.
type rejections struct {
	counts  map[rejectedKey]*rejectedCount
	through map[ingest.TopicPartition]int64
	loaded  map[ingest.TopicPartition]bool
}

type rejectedCount struct {
	n     uint64
	dirty bool
}

func newRejections() *rejections {
	return &rejections{counts: make(map[rejectedKey]*rejectedCount), through: make(map[ingest.TopicPartition]int64),
		loaded: make(map[ingest.TopicPartition]bool)}
}

// reject dead-letters a message and counts it, by model, reason and window of
// arrival, for the store; the count holds the message's offset until written,
// and the dead letter until it is durable (Committable).
func (w *Worker) reject(ctx context.Context, msg ingest.Message, now time.Time, model, reason, detail string) error {
	tp := msg.TopicPartition()
	window := now.Truncate(w.opts.Window)
	if err := w.loadRejections(ctx, tp, window); err != nil {
		return err
	}
	if w.opts.DeadLetters != nil {
		// Dead-lettered again when read again: the count may have been written
		// before the dead letter was durable, and Pending held the offset, so
		// a dead letter is repeated rather than lost.
		if err := w.opts.DeadLetters.Enqueue(ctx, msg, reason, detail); err != nil {
			return fmt.Errorf("dead-lettering a message rejected as %s: %w", reason, err)
		}
	}
	if t, ok := w.rejected.through[tp]; ok && msg.Offset <= t {
		w.stats.Skipped++
		return nil
	}
	w.stats.Rejected++
	w.metrics.rejected.WithLabelValues(model, reason).Inc()
	k := rejectedKey{model: model, reason: reason, window: window.UnixNano(), tp: tp}
	c := w.rejected.counts[k]
	if c == nil {
		c = &rejectedCount{}
		w.rejected.counts[k] = c
	}
	c.n++
	c.dirty = true
	w.rejected.through[tp] = msg.Offset
	if _, ok := w.rejectedHold[tp]; !ok {
		w.rejectedHold[tp] = msg.Offset
	}
	return nil
}

// loadRejections resumes a topic-partition's counts from the store, once.
func (w *Worker) loadRejections(ctx context.Context, tp ingest.TopicPartition, window time.Time) error {
	r := w.rejected
	if r.loaded[tp] {
		return nil
	}
	h := w.index.stored()
	if h == nil {
		r.loaded[tp] = true
		return nil
	}
	rows, through, err := h.Rejections(ctx, tp.Topic, int32(tp.Partition), window.Add(-w.opts.Window))
	if err != nil {
		return fmt.Errorf("reading the rejections counted before: %w", err)
	}
	for _, row := range rows {
		r.counts[rejectedKey{model: row.Model, reason: row.Reason, window: row.WindowStart.UnixNano(), tp: tp}] = &rejectedCount{n: row.Count}
	}
	if through >= 0 {
		r.through[tp] = through
	}
	r.loaded[tp] = true
	return nil
}

// takeRejected returns the counts changed since the last call as store rows,
// and forgets those of minutes that can change no more.
func (w *Worker) takeRejected(now time.Time) []store.RejectedCount {
	var out []store.RejectedCount
	old := now.Truncate(w.opts.Window).Add(-w.opts.Window).UnixNano()
	for k, c := range w.rejected.counts {
		if c.dirty {
			out = append(out, store.RejectedCount{Model: k.model, Reason: k.reason, Topic: k.tp.Topic,
				Partition: int32(k.tp.Partition), WindowStart: time.Unix(0, k.window).UTC(), Count: c.n,
				Through: w.rejected.through[k.tp]})
			c.dirty = false
		} else if k.window < old {
			delete(w.rejected.counts, k)
		}
	}
	return out
}
