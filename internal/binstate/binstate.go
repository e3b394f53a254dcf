// Package binstate reads and writes the pieces of Sentinel's compact binary
// states (a profile's, a label join's quality accumulators): unsigned and
// signed varints, little-endian float64s, length-prefixed bytes.
//
// A Reader fails once and stays failed: after the first short or malformed
// read every read returns zero, so that a decoder checks Err once at the
// end, or where a bad count would make it loop.
package binstate

import (
	"encoding/binary"
	"math"
)

// Reader reads a binary state. Copying a Reader copies its position, which
// lets a decoder read ahead and come back. It keeps its position as an
// index rather than reslicing: a read then writes an int, not a slice
// header with its write barrier, and the one-byte varint, most of a state's,
// inlines.
type Reader struct {
	b         []byte
	at        int
	err       error
	malformed error
}

// NewReader reads data; malformed is the error every failed read reports,
// so that callers keep their package's own sentinel error.
func NewReader(data []byte, malformed error) Reader {
	return Reader{b: data, malformed: malformed}
}

// Err is the first failure, nil while every read succeeded.
func (r *Reader) Err() error { return r.err }

// Len is how many bytes are left.
func (r *Reader) Len() int { return len(r.b) - r.at }

// Fail marks the state malformed.
func (r *Reader) Fail() {
	if r.err == nil {
		r.err = r.malformed
	}
	r.at = len(r.b)
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.at >= len(r.b) {
		r.Fail()
		return 0
	}
	r.at++
	return r.b[r.at-1]
}

// Uvarint reads an unsigned varint. An overlong encoding (ending in a zero
// byte) is refused, so that a state has one form.
func (r *Reader) Uvarint() uint64 {
	if r.at < len(r.b) && r.b[r.at] < 0x80 {
		r.at++
		return uint64(r.b[r.at-1])
	}
	return r.uvarint()
}

func (r *Reader) uvarint() uint64 {
	x, next := UvarintAt(r.b, r.at)
	if next < 0 {
		r.Fail()
		return 0
	}
	r.at = next
	return x
}

// Uvarints reads len(dst) unsigned varints into dst, as Uvarint would one
// by one, in one call: a profile's counts, a dozen or more, are read for
// every feature of every share the check stage reads.
func (r *Reader) Uvarints(dst []uint64) {
	b, at := r.b, r.at
	for k := range dst {
		if at < len(b) && b[at] < 0x80 {
			dst[k] = uint64(b[at])
			at++
			continue
		}
		x, next := UvarintAt(b, at)
		if next < 0 {
			clear(dst)
			r.Fail()
			return
		}
		dst[k], at = x, next
	}
	r.at = at
}

// Rest is the bytes not yet read, for a decoder's inner loop to read
// without a call per value (Uvarint does not inline): it reads them with
// UvarintAt, then Skips what it read.
func (r *Reader) Rest() []byte { return r.b[r.at:] }

// Skip passes n bytes that Rest returned.
func (r *Reader) Skip(n int) {
	if n < 0 || n > r.Len() {
		r.Fail()
		return
	}
	r.at += n
}

// UvarintAt reads the unsigned varint at b[i], i ≤ len(b), as Uvarint
// does, and returns it with the index past it; next is -1 when it is short
// or overlong. An inner loop reads a one-byte varint itself and calls this
// for the rest.
func UvarintAt(b []byte, i int) (x uint64, next int) {
	// Two bytes, the gaps between a few dozen registers of thousands, most
	// often past one: without the general loop.
	if i+1 < len(b) && b[i] >= 0x80 && b[i+1]-1 < 0x7f {
		return uint64(b[i]&0x7f) | uint64(b[i+1])<<7, i + 2
	}
	x, n := binary.Uvarint(b[i:])
	if n <= 0 || n > 1 && b[i+n-1] == 0 {
		return 0, -1
	}
	return x, i + n
}

// Varint reads a signed varint, refusing overlong encodings as Uvarint does:
// the zigzag form of an unsigned one (binary.AppendVarint's).
func (r *Reader) Varint() int64 {
	ux := r.Uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// Float reads a little-endian float64.
func (r *Reader) Float() float64 {
	if r.Len() < 8 {
		r.Fail()
		return 0
	}
	r.at += 8
	return math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.at-8:]))
}

// Count reads a number of items that take at least size bytes each, refusing
// one that the rest of the state could not hold, so that a corrupt count
// cannot make the reader allocate without bound.
func (r *Reader) Count(size int) int {
	n := r.Uvarint()
	if n > uint64(r.Len()/size) {
		r.Fail()
		return 0
	}
	return int(n)
}

// Bytes reads length-prefixed bytes, valid as long as the state is.
func (r *Reader) Bytes() []byte {
	return r.Next(r.Count(1))
}

// Next reads the next n bytes, valid as long as the state is.
func (r *Reader) Next(n int) []byte {
	if r.Len() < n {
		r.Fail()
		return nil
	}
	r.at += n
	return r.b[r.at-n : r.at : r.at]
}

// AppendFloat appends x as Reader.Float reads it.
func AppendFloat(dst []byte, x float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
}

// AppendBytes appends s as Reader.Bytes reads it.
func AppendBytes[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
