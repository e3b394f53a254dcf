package binstate

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"
)

var errBad = errors.New("bad state")

// TestReader: what is written reads back; an overlong varint, a count the
// rest cannot hold and a short read each fail with the caller's error, and
// every read after a failure returns zero.
func TestReader(t *testing.T) {
	b := AppendFloat(nil, 2.5)
	b = AppendBytes(b, "abc")
	b = append(b, 7)
	r := NewReader(b, errBad)
	if x, s, c := r.Float(), string(r.Bytes()), r.Byte(); x != 2.5 || s != "abc" || c != 7 || r.Err() != nil || r.Len() != 0 {
		t.Fatalf("read back %v %q %d, err %v, %d left", x, s, c, r.Err(), r.Len())
	}
	for name, data := range map[string][]byte{
		"overlong varint":    {0x80, 0x00},
		"count past the end": {5, 1, 2},
		"short float":        {1, 2, 3},
	} {
		r := NewReader(data, errBad)
		switch name {
		case "overlong varint":
			r.Uvarint()
		case "count past the end":
			r.Count(1)
		case "short float":
			r.Float()
		}
		if !errors.Is(r.Err(), errBad) {
			t.Errorf("%s: err %v, want %v", name, r.Err(), errBad)
		}
		if r.Byte() != 0 || r.Len() != 0 {
			t.Errorf("%s: a read after the failure returned data", name)
		}
	}
}

// TestUvarintAt reads what binary.AppendUvarint writes, whatever its length,
// as Uvarint does, and refuses what Uvarint refuses.
func TestUvarintAt(t *testing.T) {
	for _, x := range []uint64{0, 1, 127, 128, 300, 16383, 16384, 1 << 32, math.MaxUint64} {
		b := append([]byte{9}, binary.AppendUvarint(nil, x)...)
		b = append(b, 5)
		got, next := UvarintAt(b, 1)
		r := NewReader(b[1:], errBad)
		if want := r.Uvarint(); got != x || want != x || next != len(b)-1 {
			t.Errorf("%d: read %d (Uvarint %d), next %d, want %d", x, got, want, next, len(b)-1)
		}
	}
	for name, b := range map[string][]byte{
		"overlong, two bytes":   {0x80, 0x00},
		"overlong, three bytes": {0x81, 0x80, 0x00},
		"short":                 {0x80},
		"empty":                 {},
	} {
		if x, next := UvarintAt(b, 0); next != -1 {
			t.Errorf("%s: read %d, next %d, want -1", name, x, next)
		}
	}
}

// TestUvarints reads what Uvarint reads, and on a malformed one fails and
// leaves dst empty.
func TestUvarints(t *testing.T) {
	var b []byte
	want := []uint64{0, 5, 127, 128, 70000, 1 << 40, 3}
	for _, x := range want {
		b = binary.AppendUvarint(b, x)
	}
	r := NewReader(append(b, 42), errBad)
	got := make([]uint64, len(want))
	if r.Uvarints(got); !slices.Equal(got, want) || r.Byte() != 42 || r.Err() != nil {
		t.Fatalf("read %v, want %v (err %v)", got, want, r.Err())
	}
	r = NewReader(append(b[:len(b)-1:len(b)-1], 0x80, 0x00), errBad)
	if r.Uvarints(got); !errors.Is(r.Err(), errBad) || slices.ContainsFunc(got, func(x uint64) bool { return x != 0 }) {
		t.Errorf("an overlong last: read %v, err %v", got, r.Err())
	}
}

// TestVarint: Varint reads what binary.AppendVarint wrote, at every length,
// and refuses an overlong or cut encoding.
func TestVarint(t *testing.T) {
	for _, x := range []int64{0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, 1 << 40, -(1 << 40), math.MaxInt64, math.MinInt64} {
		b := binary.AppendVarint(nil, x)
		r := NewReader(append(b, 9), errBad)
		if got := r.Varint(); got != x || r.Err() != nil || r.Len() != 1 {
			t.Errorf("%d: read %d, %d left, err %v", x, got, r.Len(), r.Err())
		}
	}
	for name, data := range map[string][]byte{"overlong": {0x81, 0x00}, "cut": {0x81}, "empty": nil} {
		r := NewReader(data, errBad)
		if r.Varint(); !errors.Is(r.Err(), errBad) {
			t.Errorf("%s: err %v, want %v", name, r.Err(), errBad)
		}
	}
}
