package binstate

import (
	"errors"
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
