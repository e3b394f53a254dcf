package versions

import (
	"encoding/binary"

	"github.com/sentinel-ml/sentinel/internal/binstate"
	"github.com/sentinel-ml/sentinel/internal/config"
)

// AppendState appends the counts in a binary form that ReadCounts reads
// back, so that a window's share can travel between processes:
//
//	labels     uvarint count, then each label (uvarint length and bytes),
//	           its events (uvarint) and latest event (varint, Unix ns)
//	other      events (uvarint), latest event (varint)
func (w *Counts) AppendState(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(w.labels)))
	for i, l := range w.labels {
		dst = binstate.AppendBytes(dst, l)
		dst = binary.AppendUvarint(dst, w.events[i])
		dst = binary.AppendVarint(dst, w.last[i])
	}
	dst = binary.AppendUvarint(dst, w.Other)
	return binary.AppendVarint(dst, w.OtherLast)
}

// ReadCounts reads the counts of a model of contract c as AppendState wrote
// them; the labels go through the bound as an event's version does, so a
// state from a process with another contract cannot grow them.
func ReadCounts(c *config.Contract, r *binstate.Reader) *Counts {
	w := NewCounts(c)
	o := &Counts{}
	for i, n := 0, r.Count(3); i < n; i++ {
		l, events, last := r.Bytes(), r.Uvarint(), r.Varint()
		if r.Err() != nil {
			return w
		}
		o.labels, o.events, o.last = append(o.labels, string(l)), append(o.events, events), append(o.last, last)
	}
	o.Other, o.OtherLast = r.Uvarint(), r.Varint()
	w.Merge(o)
	return w
}
