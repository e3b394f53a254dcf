package skew

import (
	"math"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/event"
)

func fnum(name string, x float64) event.Field {
	return event.Field{Name: []byte(name), Value: event.Value{Kind: event.KindNumber, Num: x}}
}

func fstr(name, s string) event.Field {
	return event.Field{Name: []byte(name), Value: event.Value{Kind: event.KindString, Str: []byte(s)}}
}

func fnull(name string) event.Field {
	return event.Field{Name: []byte(name), Value: event.Value{Kind: event.KindNull}}
}

var k0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func TestKeyedJoinCompares(t *testing.T) {
	features := []string{"a", "b", "c", "d"}
	tests := []struct {
		name              string
		serving, offline  []event.Field
		compared, differs []bool
	}{
		{"equal", []event.Field{fnum("a", 1.5), fstr("b", "x"), fnull("c")}, []event.Field{fnum("a", 1.5), fstr("b", "x"), fnull("c")},
			[]bool{true, true, true, false}, []bool{false, false, false, false}},
		{"within tolerance", []event.Field{fnum("a", 1000), fnum("c", 1e-9)}, []event.Field{fnum("a", 1000.0000001), fnum("c", 0)},
			[]bool{true, false, true, false}, []bool{false, false, false, false}},
		{"different", []event.Field{fnum("a", 1), fstr("b", "x"), fnull("c"), fnum("d", math.NaN())},
			[]event.Field{fnum("a", 2), fstr("b", "y"), fnum("c", 0), fnum("d", math.NaN())},
			[]bool{true, true, true, true}, []bool{true, true, true, false}},
		{"one side lacks a feature", []event.Field{fnum("a", 1)}, []event.Field{fnum("b", 1)},
			[]bool{false, false, false, false}, []bool{false, false, false, false}},
		{"types differ", []event.Field{fstr("a", "1")}, []event.Field{fnum("a", 1)},
			[]bool{true, false, false, false}, []bool{true, false, false, false}},
	}
	for _, tc := range tests {
		for _, offlineFirst := range []bool{false, true} {
			k := NewKeyedJoin(features, KeyedOptions{Tolerance: 1e-6, MaxPending: 10, MaxDelay: time.Hour})
			var m *Match
			var ok bool
			if offlineFirst {
				k.AddOffline([]byte("r"), tc.offline, k0)
				m, ok = k.AddServing([]byte("r"), tc.serving, k0)
			} else {
				k.AddServing([]byte("r"), tc.serving, k0)
				m, ok = k.AddOffline([]byte("r"), tc.offline, k0)
			}
			if !ok {
				t.Fatalf("%s: not joined", tc.name)
			}
			for i := range features {
				if m.Compared[i] != tc.compared[i] || m.Mismatch[i] != tc.differs[i] {
					t.Errorf("%s (offline first %v): compared %v mismatch %v, want %v %v", tc.name, offlineFirst, m.Compared, m.Mismatch, tc.compared, tc.differs)
					break
				}
			}
		}
	}
}

func TestKeyedJoinBounds(t *testing.T) {
	k := NewKeyedJoin([]string{"a"}, KeyedOptions{MaxPending: 2, MaxDelay: time.Minute})
	fields := []event.Field{fnum("a", 1)}
	k.AddServing([]byte("r1"), fields, k0)
	k.AddServing([]byte("r2"), fields, k0.Add(time.Second))
	k.AddServing([]byte("r3"), fields, k0.Add(2*time.Second)) // evicts r1
	// r1's offline side finds nothing, waits, and pushes r2 out.
	if _, ok := k.AddOffline([]byte("r1"), fields, k0); ok || k.Evicted != 2 {
		t.Errorf("r1 joined after eviction, or evictions %d != 2", k.Evicted)
	}
	if _, ok := k.AddOffline([]byte("r3"), fields, k0.Add(time.Hour)); ok || k.Expired != 1 {
		t.Errorf("r3 joined an hour late, or expired %d != 1", k.Expired)
	}
	k.Expire(k0.Add(10 * time.Minute)) // forgets r1's offline side
	if k.Pending() != 0 || k.Expired != 2 {
		t.Errorf("%d pending, %d expired after expiry; want 0 and 2", k.Pending(), k.Expired)
	}
	if _, ok := k.AddServing([]byte("r3"), fields, k0.Add(11*time.Minute)); ok {
		t.Error("r3 joined after both its sides were forgotten")
	}
	// A redelivered side replaces the pending copy instead of joining itself.
	if _, ok := k.AddServing([]byte("r3"), fields, k0.Add(11*time.Minute)); ok {
		t.Error("the same side joined itself")
	}
	if m, ok := k.AddOffline([]byte("r3"), []event.Field{fnum("a", 2)}, k0.Add(11*time.Minute)); !ok || !m.Mismatch[0] {
		t.Errorf("r3: %v %v, want a mismatch", m, ok)
	}
}

func BenchmarkKeyedJoin(b *testing.B) {
	features := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	k := NewKeyedJoin(features, KeyedOptions{Tolerance: 1e-6, MaxPending: 100000, MaxDelay: time.Hour})
	var fields []event.Field
	for _, f := range features {
		fields = append(fields, fnum(f, 1.25))
	}
	ids := make([][]byte, 1024)
	for i := range ids {
		ids[i] = []byte("request-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := ids[i%len(ids)]
		k.AddServing(id, fields, k0)
		k.AddOffline(id, fields, k0)
	}
}
