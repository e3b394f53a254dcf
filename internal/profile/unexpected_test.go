package profile

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
)

// unexpectedBytes is what the set keeps of unexpected names.
func unexpectedBytes(s *Set) int {
	n := 0
	for k := range s.Unexpected {
		n += len(k)
	}
	return n
}

// TestUnexpectedNamesBounded: hostile producers send a fresh field name in
// every event, or names of a megabyte: the set keeps at most maxUnexpected
// names of at most maxUnexpectedName bytes (and the mark of the cut), and
// counts every field.
func TestUnexpectedNamesBounded(t *testing.T) {
	newSet := func() *Set {
		s, err := NewSet([]Spec{{Name: "amount", Type: config.Numeric}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	huge := func(i int) []byte {
		return append(bytes.Repeat([]byte("x"), 1<<20), strconv.Itoa(i)...)
	}
	tests := []struct {
		name   string
		events int
		fields func(i int) []event.Field
		// want is the fields counted, named or other.
		want uint64
	}{
		{"a megabyte name in each of 200 events", 200, func(i int) []event.Field {
			return []event.Field{{Name: huge(i), Value: event.Value{Kind: event.KindNumber, Num: 1}}}
		}, 200},
		{"100,000 distinct names in one event", 1, func(int) []event.Field {
			fs := make([]event.Field, 100_000)
			for j := range fs {
				fs[j] = event.Field{Name: []byte("f" + strconv.Itoa(j)), Value: event.Value{Kind: event.KindNull}}
			}
			return fs
		}, 100_000},
		{"a fresh name in each of 100,000 events", 100_000, func(i int) []event.Field {
			return []event.Field{{Name: []byte("g" + strconv.Itoa(i)), Value: event.Value{Kind: event.KindNull}}}
		}, 100_000},
	}
	for _, tc := range tests {
		s := newSet()
		for i := range tc.events {
			s.AddEvent(&event.Event{Features: tc.fields(i)})
		}
		var counted uint64
		for _, n := range s.Unexpected {
			counted += n
		}
		if counted+s.UnexpectedOther != tc.want {
			t.Errorf("%s: %d named and %d other, want %d fields counted", tc.name, counted, s.UnexpectedOther, tc.want)
		}
		if len(s.Unexpected) > maxUnexpected {
			t.Errorf("%s: %d names kept, want at most %d", tc.name, len(s.Unexpected), maxUnexpected)
		}
		if b := unexpectedBytes(s); b > maxUnexpected*(maxUnexpectedName+len("…")) {
			t.Errorf("%s: %d bytes of names kept", tc.name, b)
		}
		// Merging keeps the bounds too.
		m := newSet()
		if err := m.Merge(s); err != nil {
			t.Fatal(err)
		}
		if err := m.Merge(s); err != nil {
			t.Fatal(err)
		}
		if len(m.Unexpected) > maxUnexpected || unexpectedBytes(m) > maxUnexpected*(maxUnexpectedName+len("…")) {
			t.Errorf("%s: merged, %d names of %d bytes", tc.name, len(m.Unexpected), unexpectedBytes(m))
		}
	}
}

func TestBoundName(t *testing.T) {
	short := []byte("country")
	if got := boundName(short); !bytes.Equal(got, short) {
		t.Errorf("a short name changed: %q", got)
	}
	// A three-byte character straddles the cut: it goes whole.
	name := []byte(strings.Repeat("a", maxUnexpectedName-1) + "€" + "tail")
	got := boundName(name)
	if !utf8.Valid(got) || !strings.HasSuffix(string(got), "…") || len(got) != maxUnexpectedName-1+len("…") {
		t.Errorf("cut to %d bytes, valid UTF-8 %v, %q…", len(got), utf8.Valid(got), got[len(got)-8:])
	}
	if !bytes.Equal(name[:4], []byte("aaaa")) || !bytes.HasSuffix(name, []byte("tail")) {
		t.Error("the input was modified")
	}
}

// layoutBytes is what the set keeps of the names at each position.
func layoutBytes(s *Set) int {
	n := 0
	for _, e := range s.layout {
		n += cap(e.name)
	}
	return n
}

// TestLayoutKeepsNoLongUnexpectedNames: the set remembers the name at each
// position to match the next event's by position; a name of a megabyte at a
// fresh position in each event must not be kept per position (a thousand
// events would pin a gigabyte).
func TestLayoutKeepsNoLongUnexpectedNames(t *testing.T) {
	s, err := NewSet([]Spec{{Name: "amount", Type: config.Numeric}})
	if err != nil {
		t.Fatal(err)
	}
	long := bytes.Repeat([]byte("y"), 1<<20)
	for k := range 64 {
		fs := make([]event.Field, k+2)
		fs[0] = event.Field{Name: []byte("amount"), Value: event.Value{Kind: event.KindNumber, Num: 1}}
		for j := 1; j <= k; j++ {
			fs[j] = event.Field{Name: []byte("p" + strconv.Itoa(j)), Value: event.Value{Kind: event.KindNull}}
		}
		fs[k+1] = event.Field{Name: long, Value: event.Value{Kind: event.KindNull}}
		s.AddEvent(&event.Event{Features: fs, Layout: uint64(k + 1)})
	}
	if b := layoutBytes(s); b > 1<<16 {
		t.Errorf("%d bytes of names kept by position after 64 events with a megabyte name each", b)
	}
	// The positions still match: the same layout again profiles by position.
	fs := []event.Field{{Name: []byte("amount"), Value: event.Value{Kind: event.KindNumber, Num: 2}}, {Name: long, Value: event.Value{Kind: event.KindNull}}}
	before := s.Features[0].Finite
	s.AddEvent(&event.Event{Features: fs, Layout: 1000})
	s.AddEvent(&event.Event{Features: fs, Layout: 1000})
	if got := s.Features[0].Finite - before; got != 2 {
		t.Errorf("amount counted %d times over two events, want 2", got)
	}
}
