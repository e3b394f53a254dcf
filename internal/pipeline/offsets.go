package pipeline

import (
	"sort"
	"sync"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// offsets tracks, for one worker, the first and last offset processed per
// topic-partition, and the offsets held by shares handed over but not yet
// durable. The checking side releases those from its own goroutine.
type offsets struct {
	seen map[ingest.TopicPartition]*[2]int64
	// last is the entry of the partition of the previous message, which the
	// next message usually shares.
	lastTP ingest.TopicPartition
	last   *[2]int64

	mu      sync.Mutex
	pending map[*hold]struct{}
}

// hold is the lowest offset per topic-partition of a share in flight.
type hold struct {
	min map[ingest.TopicPartition]int64
}

func newOffsets() *offsets {
	return &offsets{seen: make(map[ingest.TopicPartition]*[2]int64), pending: make(map[*hold]struct{})}
}

// see records that the message at offset of tp is being processed, and
// returns the offset seen before it (one less than it for the partition's
// first), for unsee.
func (o *offsets) see(tp ingest.TopicPartition, offset int64) (prev int64) {
	if o.last == nil || tp != o.lastTP {
		s, ok := o.seen[tp]
		if !ok {
			s = &[2]int64{offset, offset - 1}
			o.seen[tp] = s
		}
		o.lastTP, o.last = tp, s
	}
	prev, o.last[1] = o.last[1], offset
	return prev
}

// unsee takes back the last see of tp, given what it returned: the message
// was not processed after all (Process failed, and will be asked again or
// the partition read again from before it), so no commit may pass it.
func (o *offsets) unsee(tp ingest.TopicPartition, prev int64) {
	s := o.seen[tp]
	if s == nil {
		return
	}
	if prev < s[0] {
		delete(o.seen, tp)
		if o.lastTP == tp {
			o.last = nil
		}
		return
	}
	s[1] = prev
}

// processed lists the last offset processed in each partition: what a share
// handed over now holds, at most.
func (o *offsets) processed() []window.Offset {
	out := make([]window.Offset, 0, len(o.seen))
	for tp, s := range o.seen {
		out = append(out, window.Offset{Topic: tp.Topic, Partition: tp.Partition, Offset: s[1]})
	}
	sortOffsets(out)
	return out
}

func sortOffsets(out []window.Offset) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
}

// holdUntilDone keeps min held until the returned function is called (once
// the share is durable).
func (o *offsets) holdUntilDone(min map[ingest.TopicPartition]int64) func() {
	if len(min) == 0 {
		return func() {}
	}
	h := &hold{min: min}
	o.mu.Lock()
	o.pending[h] = struct{}{}
	o.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			delete(o.pending, h)
			o.mu.Unlock()
		})
	}
}

// committable returns per topic-partition the last offset that may be
// committed: the one before the lowest offset held (by held, or a share in
// flight), or the last one seen.
func (o *offsets) committable(held map[ingest.TopicPartition]int64) []ingest.Message {
	o.mu.Lock()
	for h := range o.pending {
		for tp, off := range h.min {
			holdLowest(held, tp, off)
		}
	}
	o.mu.Unlock()
	out := make([]ingest.Message, 0, len(o.seen))
	for tp, s := range o.seen {
		off := s[1]
		if h, ok := held[tp]; ok {
			off = h - 1
		}
		// Nothing before the first message this worker processed is its to commit.
		if off >= s[0] {
			out = append(out, ingest.Message{Topic: tp.Topic, Partition: tp.Partition, Offset: off})
		}
	}
	return out
}

// holdLowest lowers held's offset of tp to offset, or sets it when tp holds
// none.
func holdLowest(held map[ingest.TopicPartition]int64, tp ingest.TopicPartition, offset int64) {
	if cur, ok := held[tp]; !ok || offset < cur {
		held[tp] = offset
	}
}
