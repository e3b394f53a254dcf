package labels

import (
	"bytes"
	"slices"
)

// The per-model table behind the Joiner: pointer-free slots found through an
// open-addressing index by a seeded hash of the request id, each on one FIFO.

// cell is an entry of the open-addressing index: a slot's index in the low
// half and the low half of its request id's hash in the high half. A probe
// passes the other requests' cells on their hash alone, and a removal moves
// cells back to their home without reading their slots: with a table of many
// thousands of slots, each slot read is a cache miss, and a prediction that
// finds no label waiting (most of them) would read one per cell probed. The
// table has at most 2^32 cells, so a cell's home is in its hash half.
type cell uint64

// emptyCell holds no slot (its index half is none).
const emptyCell = ^cell(0)

func newCell(h uint64, i int32) cell { return cell(h<<32 | uint64(uint32(i))) }

func (c cell) slot() int32 { return int32(uint32(c)) }

// hash is the low half of the cell's request id's hash.
func (c cell) hash() uint64 { return uint64(c) >> 32 }

// Lists a slot can be on.
const (
	pendingPrediction uint8 = iota
	pendingLabel
	joined
)

// Reasons an entry leaves.
const (
	expired = iota
	evicted
	duplicate
)

const none int32 = -1

// maxJoinClasses bounds the class names a Joiner interns.
const maxJoinClasses = 1024

// Class references in a slot besides an index into the Joiner's names.
const (
	noClass     int32 = -1 // the empty string: every value of a numeric kind
	inlineClass int32 = -2 // in the arena, after the request id
)

// slot is one request of a model. It holds no pointer: the request id (and a
// class name too rare to intern) is in the model's arena at off.
type slot struct {
	hash uint64
	t    int64
	num  float64
	off  int
	// at is the offset the entry was read at in stream (0: none).
	at         int64
	idLen      uint32
	classLen   uint32
	class      int32
	prev, next int32
	list       uint8
	tag        uint8
	stream     uint8
}

// slotStore holds a model's slots in chunks that never move: a prediction
// waits up to labels.max_delay (a day by default), so a stream without labels
// fills hundreds of thousands of slots, and a slice grown by append copied
// them again and again into fresh memory (a fifth of a replay's time went to
// those copies and the page faults of their new arrays). The first chunk
// grows by doubling, so that a model of a few requests holds a few slots.
type slotStore struct {
	chunks [][]slot
	n      int32
}

// slotChunk is the slots of a full chunk: 4096 of 64 bytes, a quarter
// megabyte.
const slotChunk = 1 << 12

func (st *slotStore) at(i int32) *slot { return &st.chunks[uint32(i)/slotChunk][uint32(i)%slotChunk] }

func (st *slotStore) len() int { return int(st.n) }

// add appends a zero slot and returns its index.
func (st *slotStore) add() int32 {
	i := st.n
	switch c := int(i / slotChunk); {
	case c < len(st.chunks):
		st.chunks[c] = append(st.chunks[c], slot{})
	case c == 0:
		st.chunks = append(st.chunks, make([]slot, 1, 16))
	default:
		st.chunks = append(st.chunks, make([]slot, 1, slotChunk))
	}
	st.n++
	return i
}

type fifo struct {
	head, tail int32
	n          int
	// streams counts the entries read from each stream (Position.Stream).
	streams [maxStreams]int
}

type modelJoin struct {
	j    *Joiner
	name string
	// table is an open-addressing (linear probing) index of slots by the hash
	// of their request id; its size is a power of two at least twice the
	// slots in use.
	table []cell
	slots slotStore
	free  int32
	lists [3]fifo
	keys  arena
	// counts is indexed by side (pendingPrediction, pendingLabel) and reason.
	counts [2][3]uint64
	joined uint64
}

func (m *modelJoin) count(list uint8, reason int) {
	if list != joined {
		m.counts[list][reason]++
	}
}

// find returns the slot of the request id with hash h, or none.
func (m *modelJoin) find(h uint64, id []byte) int32 {
	if len(m.table) == 0 {
		return none
	}
	mask := uint64(len(m.table) - 1)
	tag := h & (1<<32 - 1)
	for p := h & mask; ; p = (p + 1) & mask {
		c := m.table[p]
		if c == emptyCell {
			return none
		}
		if c.hash() != tag {
			continue
		}
		if i := c.slot(); m.slots.at(i).hash == h && bytes.Equal(m.keys.id(m.slots.at(i)), id) {
			return i
		}
	}
}

// held is the number of slots in use.
func (m *modelJoin) held() int {
	return m.lists[pendingPrediction].n + m.lists[pendingLabel].n + m.lists[joined].n
}

func (m *modelJoin) insert(list uint8, h uint64, id []byte, v Value, t int64, at Position) {
	if 2*(m.held()+1) > len(m.table) {
		m.grow()
	}
	i := m.free
	if i == none {
		i = m.slots.add()
	} else {
		m.free = m.slots.at(i).next
	}
	*m.slots.at(i) = slot{hash: h, t: t, class: noClass, at: at.Offset, stream: at.Stream}
	m.setValue(i, id, v)
	mask := uint64(len(m.table) - 1)
	p := h & mask
	for m.table[p] != emptyCell {
		p = (p + 1) & mask
	}
	m.table[p] = newCell(h, i)
	m.push(list, i)
}

// grow doubles the table and places every cell again.
func (m *modelJoin) grow() {
	old := m.table
	size := max(64, 2*len(old))
	m.table = make([]cell, size)
	for p := range m.table {
		m.table[p] = emptyCell
	}
	mask := uint64(size - 1)
	for _, c := range old {
		if c == emptyCell {
			continue
		}
		p := c.hash() & mask
		for m.table[p] != emptyCell {
			p = (p + 1) & mask
		}
		m.table[p] = c
	}
}

// unindex takes slot i out of the table, shifting back the entries after it
// that probed past its cell, so that no tombstones are left.
func (m *modelJoin) unindex(i int32) {
	mask := uint64(len(m.table) - 1)
	p := m.slots.at(i).hash & mask
	for m.table[p].slot() != i {
		p = (p + 1) & mask
	}
	for q := p; ; {
		m.table[p] = emptyCell
		for {
			q = (q + 1) & mask
			k := m.table[q]
			if k == emptyCell {
				return
			}
			// The entry at q stays unless its home cell is cyclically outside
			// (p, q]: then the hole at p is on its probe path and it moves there.
			home := k.hash() & mask
			if (p < q && (home <= p || home > q)) || (p > q && home <= p && home > q) {
				m.table[p] = k
				p = q
				break
			}
		}
	}
}

// setValue stores v in slot i, whose request id is id: its class by index when
// it is interned or can be, else in the arena beside the request id.
func (m *modelJoin) setValue(i int32, id []byte, v Value) {
	s := m.slots.at(i)
	s.num, s.tag = v.Num, v.Tag
	class := noClass
	if v.Class != "" {
		j := m.j
		c, ok := j.classes[v.Class]
		if !ok && len(j.classNames) < j.maxClasses {
			c, ok = int32(len(j.classNames)), true
			j.classes[v.Class] = c
			j.classNames = append(j.classNames, v.Class)
		}
		if ok {
			class = c
		} else {
			class = inlineClass
		}
	}
	// What a slot stops holding is released only once it holds its new bytes,
	// as a compaction on release copies what slots hold.
	switch old := int(s.idLen) + int(s.classLen); {
	case class == inlineClass:
		s.off = m.keys.store(id, v.Class)
		s.idLen, s.classLen = uint32(len(id)), uint32(len(v.Class))
		if old > 0 {
			m.keys.release(m, old)
		}
	case s.classLen > 0:
		n := int(s.classLen)
		s.classLen = 0
		m.keys.release(m, n)
	case s.idLen == 0 && len(id) > 0:
		s.off = m.keys.store(id, "")
		s.idLen = uint32(len(id))
	}
	s.class = class
}

// value returns slot i's value.
func (m *modelJoin) value(i int32) Value {
	s := m.slots.at(i)
	switch s.class {
	case noClass:
		return Value{Num: s.num, Tag: s.tag}
	case inlineClass:
		return Value{Num: s.num, Tag: s.tag, Class: string(m.keys.buf[s.off+int(s.idLen) : s.off+int(s.idLen)+int(s.classLen)])}
	}
	return Value{Num: s.num, Tag: s.tag, Class: m.j.classNames[s.class]}
}

// drop removes slot i, counting it as expired when pastHorizon and as evicted
// otherwise (joined requests are not counted).
func (m *modelJoin) drop(i int32, pastHorizon bool) {
	if pastHorizon {
		m.count(m.slots.at(i).list, expired)
	} else {
		m.count(m.slots.at(i).list, evicted)
	}
	m.remove(i)
}

func (m *modelJoin) remove(i int32) {
	s := m.slots.at(i)
	m.unlink(i)
	m.unindex(i)
	n := int(s.idLen) + int(s.classLen)
	*s = slot{next: m.free}
	m.free = i
	if n > 0 {
		m.keys.release(m, n)
	}
}

func (m *modelJoin) push(list uint8, i int32) {
	f := &m.lists[list]
	s := m.slots.at(i)
	s.list, s.prev, s.next = list, f.tail, none
	if f.tail == none {
		f.head = i
	} else {
		m.slots.at(f.tail).next = i
	}
	f.tail = i
	f.n++
	f.streams[s.stream]++
}

func (m *modelJoin) unlink(i int32) {
	s := m.slots.at(i)
	f := &m.lists[s.list]
	if s.prev == none {
		f.head = s.next
	} else {
		m.slots.at(s.prev).next = s.next
	}
	if s.next == none {
		f.tail = s.prev
	} else {
		m.slots.at(s.next).prev = s.prev
	}
	f.n--
	f.streams[s.stream]--
}

// arena holds a model's request ids (each followed by its class name when that
// is not interned). Bytes of removed requests are garbage until a compaction
// copies the live ones to the spare buffer, once the garbage is as large as
// the live bytes: each byte is copied O(1) times on average, and the two
// buffers, once grown to the working set, are reused without allocating.
type arena struct {
	buf, spare []byte
	garbage    int
}

// minCompaction keeps small arenas from compacting all the time.
const minCompaction = 64 << 10

func (a *arena) store(id []byte, class string) int {
	off := len(a.buf)
	if need := off + len(id) + len(class); need > cap(a.buf) {
		// Doubling: append grows a large slice by a quarter, which copied
		// the ids of a day's pending predictions four times over.
		a.buf = slices.Grow(a.buf, max(need, 2*cap(a.buf))-off)
	}
	a.buf = append(a.buf, id...)
	a.buf = append(a.buf, class...)
	return off
}

func (a *arena) id(s *slot) []byte { return a.buf[s.off : s.off+int(s.idLen)] }

// release marks n bytes as garbage, compacting m's arena when they outweigh
// the live ones.
func (a *arena) release(m *modelJoin, n int) {
	a.garbage += n
	if a.garbage < minCompaction || 2*a.garbage < len(a.buf) {
		return
	}
	// The spare buffer takes the capacity of the one it replaces, which the
	// arena grows back to before the next compaction.
	if cap(a.spare) < cap(a.buf) {
		a.spare = make([]byte, 0, cap(a.buf))
	}
	next := a.spare[:0]
	for l := range m.lists {
		for i := m.lists[l].head; i != none; i = m.slots.at(i).next {
			s := m.slots.at(i)
			off := len(next)
			next = append(next, a.buf[s.off:s.off+int(s.idLen)+int(s.classLen)]...)
			s.off = off
		}
	}
	a.buf, a.spare, a.garbage = next, a.buf[:0], 0
}
