package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/binstate"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// A record is how a share or a partition's report travels from the profile
// stage to the check stage through the partials topic. Its first byte says
// which; a share is keyed by its model, so that a model's shares meet in one
// partition, and a report goes to every partition, so that every check
// stage owner knows how far every source partition has got.
const (
	recordShare    = 's'
	recordProgress = 'p'
	recordRelease  = 'r'
)

// errRecord says bytes are not a record of the partials topic.
var errRecord = errors.New("malformed partials record")

// AppendShare appends d as a record:
//
//	's', model (uvarint length and bytes), source partition (uvarint),
//	final (byte), offsets through and offsets from (each a uvarint count,
//	then topic, partition and offset each), the window
//	(window.AppendPartial)
//
// The record holds all the window does: a share of its worker's goes back
// to be opened again, and d.Window is nil after. A window a hundred models'
// workers open fifty events at a time cost more to allocate and grow than
// to fill.
func AppendShare(dst []byte, d *Delta) []byte {
	dst = append(dst, recordShare)
	dst = binstate.AppendBytes(dst, d.Model.Name())
	dst = binary.AppendUvarint(dst, uint64(d.Partition))
	final := byte(0)
	if d.Final {
		final = 1
	}
	dst = appendOffsets(append(dst, final), d.Through)
	dst = appendOffsets(dst, d.From)
	dst = d.Window.AppendPartial(dst)
	if d.pool != nil {
		d.pool.put(d.Window)
		d.Window = nil
	}
	return dst
}

func appendOffsets(dst []byte, offsets []window.Offset) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(offsets)))
	for _, o := range offsets {
		dst = binstate.AppendBytes(dst, o.Topic)
		dst = binary.AppendUvarint(dst, uint64(o.Partition))
		dst = binary.AppendVarint(dst, o.Offset)
	}
	return dst
}

// AppendProgress appends p as a record:
//
//	'p', source partition (uvarint), watermark (varint, Unix ns; the zero
//	time is 0), idle (byte), last events (uvarint count, then model and
//	Unix ns each), rejections (uvarint count, then model, reason, topic,
//	partition, window start, count and offset through each)
func AppendProgress(dst []byte, p *Progress) []byte {
	dst = append(dst, recordProgress)
	dst = binary.AppendUvarint(dst, uint64(p.Partition))
	dst = binary.AppendVarint(dst, unixNano(p.Watermark))
	idle := byte(0)
	if p.Idle {
		idle = 1
	}
	dst = append(dst, idle)
	dst = binary.AppendUvarint(dst, uint64(len(p.LastEvent)))
	for _, name := range slices.Sorted(maps.Keys(p.LastEvent)) {
		dst = binstate.AppendBytes(dst, name)
		dst = binary.AppendVarint(dst, unixNano(p.LastEvent[name]))
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Rejected)))
	for _, r := range p.Rejected {
		dst = binstate.AppendBytes(dst, r.Model)
		dst = binstate.AppendBytes(dst, r.Reason)
		dst = binstate.AppendBytes(dst, r.Topic)
		dst = binary.AppendUvarint(dst, uint64(r.Partition))
		dst = binary.AppendVarint(dst, unixNano(r.WindowStart))
		dst = binary.AppendUvarint(dst, r.Count)
		dst = binary.AppendVarint(dst, r.Through)
	}
	return dst
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// AppendRelease appends the record by which the profile stage says it has
// published all it will of a source partition in a generation of its
// group, at the end of it:
//
//	'r', source partition (uvarint), generation (varint)
//
// The partition's next owner waits for it before it learns what the shares
// waiting for the check stage hold: a previous owner slower to hand over
// than the group to rebalance still publishes after the next one started.
func AppendRelease(dst []byte, partition int, generation int32) []byte {
	dst = append(dst, recordRelease)
	dst = binary.AppendUvarint(dst, uint64(partition))
	return binary.AppendVarint(dst, int64(generation))
}

// ReadRelease reads a record of AppendRelease; ok is false for any other.
func ReadRelease(data []byte) (partition int, generation int32, ok bool) {
	r := binstate.NewReader(data, errRecord)
	if r.Byte() != recordRelease {
		return 0, 0, false
	}
	p, g := r.Uvarint(), r.Varint()
	if r.Err() != nil || p > maxPartition || g < 0 || g > 1<<31-1 {
		return 0, 0, false
	}
	return int(p), int32(g), true
}

// ReadRecord reads a record of the partials topic: a share of one of the
// models, or a partition's report; neither for a release (ReadRelease). A
// share of a model not configured here is an error, as is anything else that
// is not a record; done is what the share's or report's Done will call. A
// share's window is one of the workers' and checker's, recycled: it goes
// back to them when the checker is done with it (or Published is). It keeps
// slices of data, the states its rows are stored from (window.ReadPartial):
// data is not to change after, as a fetched message's value does not.
func (s *Sides) ReadRecord(data []byte, done func()) (*Delta, *Progress, error) {
	r := binstate.NewReader(data, errRecord)
	switch r.Byte() {
	case recordShare:
		d, err := readShare(&r, data, s.pools)
		if err != nil {
			return nil, nil, err
		}
		d.done = done
		return d, nil, nil
	case recordProgress:
		p, err := readProgress(&r)
		if err != nil {
			return nil, nil, err
		}
		p.done = done
		return nil, p, nil
	case recordRelease:
		// For the profile stage (ReadRelease); the check stage has nothing
		// to do with it.
		if _, _, ok := ReadRelease(data); !ok {
			return nil, nil, fmt.Errorf("%w: a release's body", errRecord)
		}
		return nil, nil, nil
	}
	return nil, nil, fmt.Errorf("%w: unknown kind", errRecord)
}

func readShare(r *binstate.Reader, data []byte, pools map[string]*windowPool) (*Delta, error) {
	name := string(r.Bytes())
	partition, final := r.Uvarint(), r.Byte()
	through, from := readOffsets(r), readOffsets(r)
	if r.Err() != nil || final > 1 || partition > maxPartition {
		return nil, fmt.Errorf("%w: a share's header", errRecord)
	}
	pool := pools[name]
	if pool == nil {
		return nil, fmt.Errorf("a share of model %q, which is not configured here", name)
	}
	w, err := pool.take()
	if err != nil {
		return nil, err
	}
	if err := window.ReadPartialInto(w, pool.m, data[len(data)-r.Len():]); err != nil {
		pool.put(w)
		return nil, err
	}
	return &Delta{Model: pool.m, Window: w, Partition: int(partition), Through: through, From: from, Final: final == 1}, nil
}

// maxPartition bounds a partition number read from a record: Kafka's are
// int32s.
const maxPartition = 1<<31 - 1

func readOffsets(r *binstate.Reader) []window.Offset {
	n := r.Count(3)
	out := make([]window.Offset, 0, n)
	for range n {
		topic, partition, offset := string(r.Bytes()), r.Uvarint(), r.Varint()
		if r.Err() != nil || partition > maxPartition {
			r.Fail()
			return nil
		}
		out = append(out, window.Offset{Topic: topic, Partition: int(partition), Offset: offset})
	}
	return out
}

func readProgress(r *binstate.Reader) (*Progress, error) {
	p := &Progress{}
	partition := r.Uvarint()
	p.Watermark = fromUnixNano(r.Varint())
	idle := r.Byte()
	n := r.Count(2)
	p.LastEvent = make(map[string]time.Time, n)
	for range n {
		name := string(r.Bytes())
		p.LastEvent[name] = fromUnixNano(r.Varint())
	}
	for i, n := 0, r.Count(7); i < n && r.Err() == nil; i++ {
		rc := store.RejectedCount{Model: string(r.Bytes()), Reason: string(r.Bytes()), Topic: string(r.Bytes())}
		part := r.Uvarint()
		rc.WindowStart, rc.Count, rc.Through = fromUnixNano(r.Varint()), r.Uvarint(), r.Varint()
		if part > maxPartition {
			r.Fail()
		}
		rc.Partition = int32(part)
		p.Rejected = append(p.Rejected, rc)
	}
	if r.Err() == nil && r.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after a report", errRecord, r.Len())
	}
	if r.Err() != nil || idle > 1 || partition > maxPartition {
		return nil, fmt.Errorf("%w: a partition's report", errRecord)
	}
	p.Partition, p.Idle = int(partition), idle == 1
	return p, nil
}
