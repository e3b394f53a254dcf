package pipeline

import (
	"sort"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// offsets is the first and last offset processed per partition.
type offsets struct {
	seen map[ingest.TopicPartition]*[2]int64
	// last is the entry of the partition of the previous message, which the
	// next message usually shares.
	lastTP ingest.TopicPartition
	last   *[2]int64
}

func newOffsets() offsets {
	return offsets{seen: make(map[ingest.TopicPartition]*[2]int64)}
}

// see records that the message at offset of tp is being processed.
func (o *offsets) see(tp ingest.TopicPartition, offset int64) {
	if o.last == nil || tp != o.lastTP {
		s, ok := o.seen[tp]
		if !ok {
			s = &[2]int64{offset, offset}
			o.seen[tp] = s
		}
		o.lastTP, o.last = tp, s
	}
	o.last[1] = offset
}

// processed lists the last offset processed in each partition, as a written
// window stores them.
func (o *offsets) processed() []window.Offset {
	out := make([]window.Offset, 0, len(o.seen))
	for tp, s := range o.seen {
		out = append(out, window.Offset{Topic: tp.Topic, Partition: tp.Partition, Offset: s[1]})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Committable returns, per partition, the last message whose offset may be
// committed: the one before the lowest offset still held by an open or unwritten
// window, or the last one seen when no window holds any.
func (p *Pipeline) Committable() []ingest.Message {
	held := make(map[ingest.TopicPartition]int64)
	hold := func(w *openWindow) {
		for tp, o := range w.minOffset {
			if h, ok := held[tp]; !ok || o < h {
				held[tp] = o
			}
		}
	}
	for _, ms := range p.models {
		for _, w := range ms.open {
			hold(w)
		}
	}
	for _, w := range p.unwritten {
		hold(w)
	}
	out := make([]ingest.Message, 0, len(p.offsets.seen))
	for tp, s := range p.offsets.seen {
		off := s[1]
		if h, ok := held[tp]; ok {
			off = h - 1
		}
		// Nothing before the first message this pipeline processed is its to commit.
		if off >= s[0] {
			out = append(out, ingest.Message{Topic: tp.Topic, Partition: tp.Partition, Offset: off})
		}
	}
	return out
}
