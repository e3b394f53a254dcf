package pipeline

import (
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// partial is a worker's share of one model's window: the messages of its
// partitions, and the lowest offset of each that fed it, which may be
// committed only once the share is durable.
type partial struct {
	*window.Window
	minOffset map[ingest.TopicPartition]int64
	held      bool
	lastHeld  ingest.TopicPartition
	// waited holds, per topic-partition, the lowest offset of a pair's side
	// that waited in the join, read before the pair's window: not a message
	// of the share, but one a restart must read again until it is durable.
	waited map[ingest.TopicPartition]int64
	// counted, for a window already written, is per partition the offset
	// through which the stored window holds its messages: messages read again
	// at or below it are skipped.
	counted map[ingest.TopicPartition]int64
}

func newPartial(pool *windowPool, start time.Time, counted map[ingest.TopicPartition]int64) (*partial, error) {
	w, err := pool.get(start)
	if err != nil {
		return nil, err
	}
	return &partial{Window: w, minOffset: make(map[ingest.TopicPartition]int64), counted: counted}, nil
}

// isCounted reports whether the stored window already holds the message.
func (p *partial) isCounted(tp ingest.TopicPartition, offset int64) bool {
	if p.counted == nil {
		return false
	}
	c, ok := p.counted[tp]
	return ok && offset <= c
}

// hold records that the message at offset feeds this share.
func (p *partial) hold(tp ingest.TopicPartition, offset int64) {
	// A partition's offsets only grow, so its first message in the share holds
	// the lowest; consecutive messages mostly come from one partition.
	if p.held && tp == p.lastHeld {
		return
	}
	holdLowest(p.minOffset, tp, offset)
	p.held, p.lastHeld = true, tp
}

// holdWaited records the side of a pair scored in the share that waited in
// the join.
func (p *partial) holdWaited(tp ingest.TopicPartition, offset int64) {
	if p.waited == nil {
		p.waited = make(map[ingest.TopicPartition]int64)
	}
	holdLowest(p.waited, tp, offset)
}

// holdIn lowers held to the offsets the share holds until it is durable:
// its messages' and its pairs' waiting sides'.
func (p *partial) holdIn(held map[ingest.TopicPartition]int64) {
	for _, m := range []map[ingest.TopicPartition]int64{p.minOffset, p.waited} {
		for tp, o := range m {
			holdLowest(held, tp, o)
		}
	}
}

// Delta is a worker's share of one model's window, handed to the checking side.
type Delta struct {
	Model  *model.Model
	Window *window.Window
	// Partition is the worker's partition number.
	Partition int
	// Through is, per topic-partition the worker reads, the last offset it had
	// processed when it handed the share over: the share holds every message of
	// the window up to it that no earlier share or stored window holds.
	Through []window.Offset
	// From is, per topic-partition that fed the share, its first message's
	// offset: with Through, the range of messages the share holds them all
	// of, which tells a share read twice (a rebalance) from a new one.
	From []window.Offset
	// Final says the partition's watermark had passed the window; a share
	// handed over at a drain or an idle partition's flush is not final.
	Final bool
	done  func()
	// pool is where the window came from: once AppendShare has made it a
	// record, it goes back there.
	pool *windowPool
}

// Done releases the share's offsets: it is durable.
func (d *Delta) Done() { d.done() }

// Progress is a worker's report of how far its partition has got.
type Progress struct {
	Partition int
	// Watermark is the event time before which the partition's windows are
	// complete; zero before its first event.
	Watermark time.Time
	// Idle says the partition has nothing to read and has read nothing for a
	// window and the lateness: it holds no window open.
	Idle bool
	// LastEvent is, per model, when the partition last admitted its event.
	LastEvent map[string]time.Time
	// Rejected are the rejections counted since the last report.
	Rejected []store.RejectedCount
	// Only, when set (the check stage), names the models whose windows this
	// report may close: those whose shares it was read after.
	Only []string
	done func()
}

// Done releases the offsets of the rejections reported: they are durable.
func (p *Progress) Done() {
	if p.done != nil {
		p.done()
	}
}
