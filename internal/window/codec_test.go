package window

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/sentinel-ml/sentinel/internal/binstate"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/shadow"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// codecModel is a probability model with every part a window can hold: a
// canary (versions' profiles with features), a shadow pair (pairs and the
// version mix), numeric and categorical features.
func codecModel(t testing.TB) *model.Model {
	t.Helper()
	c, err := config.ParseContract([]byte(`model: m
prediction: {kind: probability}
shadow: {reference: v1, candidate: v2}
canary: {candidate: v3}
features:
  - {name: x, type: numeric, nullable: true}
  - {name: c, type: categorical, categories: [a, b]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return modeltest.FromCSV(t, c, "x,c\n1,a\n2,b\n3,a\n")
}

// codecWindow fills a window of m with n events of every kind of value,
// spread over four versions, label pairs, keyed comparisons, shadow pairs and
// unexpected fields.
func codecWindow(t testing.TB, m *model.Model, n int, seed uint64) *Window {
	t.Helper()
	start := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	w, err := New(m, start, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	versions := []string{"v1", "v2", "v3", "v4", ""}
	for i := range n {
		x := event.Value{Kind: event.KindNumber, Num: rng.NormFloat64() * 10}
		switch i % 17 {
		case 3:
			x = event.Value{Kind: event.KindNull}
		case 5:
			x = event.Value{Kind: event.KindNumber, Num: math.NaN()}
		case 7:
			x = event.Value{Kind: event.KindString, Str: []byte("oops")}
		}
		ev := &event.Event{ModelVersion: []byte(versions[rng.IntN(len(versions))]), Timestamp: start.Add(time.Duration(i) * time.Millisecond),
			Prediction: event.Value{Kind: event.KindNumber, Num: rng.Float64()}, LatencyMs: event.Value{Kind: event.KindNumber, Num: 5 + rng.ExpFloat64()}}
		ev.Features = append(ev.Features,
			event.Field{Name: []byte("x"), Value: x},
			event.Field{Name: []byte("c"), Value: event.Value{Kind: event.KindString, Str: []byte([]string{"a", "b", "z"}[rng.IntN(3)])}})
		if i%11 == 0 {
			ev.Features = append(ev.Features, event.Field{Name: []byte(fmt.Sprintf("extra%d", i%3)), Value: event.Value{Kind: event.KindNumber, Num: 1}})
		}
		w.Add(m, ev)
		w.AddVersion(m, ev)
		w.VersionCounts(m).Add(ev.ModelVersion, ev.Timestamp)
		if i%4 == 0 {
			pair := labels.Pair{Prediction: labels.Value{Num: ev.Prediction.Num}, Label: labels.Value{Num: float64(rng.IntN(2))}}
			w.AddPair(m, pair)
			if len(ev.ModelVersion) > 0 {
				w.AddVersionPair(m, string(ev.ModelVersion), pair)
			}
		}
		if i%6 == 0 {
			w.AddMatch(&skew.Match{Compared: []bool{true, i%12 == 0}, Mismatch: []bool{i%18 == 0, false}})
		}
		if i%9 == 0 {
			w.ShadowPairs(m).Add(shadow.Pair{Reference: labels.Value{Num: rng.Float64()}, Candidate: labels.Value{Num: rng.Float64()}})
		}
	}
	w.ShadowPairs(m).AddUnpaired(shadow.Unpaired{ReferenceOnly: 3, CandidateOnly: 1, Evicted: 2})
	w.BadLabels = 4
	return w
}

// TestPartialRoundTrip: a window read back from its binary form writes the
// same bytes, and merges as the original does: every part a share can hold
// travels, exactly.
func TestPartialRoundTrip(t *testing.T) {
	m := codecModel(t)
	for _, n := range []int{0, 1, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			w := codecWindow(t, m, n, uint64(n))
			data := w.AppendPartial(nil)
			got, err := ReadPartial(m, data)
			if err != nil {
				t.Fatal(err)
			}
			if again := got.AppendPartial(nil); !bytes.Equal(again, data) {
				t.Fatalf("read back and written again, %d bytes differ from the %d written", len(again), len(data))
			}
			// Read into a window that held another, as a recycled one is.
			for _, held := range []int{0, 300} {
				into := codecWindow(t, m, held, 7)
				if err := ReadPartialInto(into, m, data); err != nil {
					t.Fatal(err)
				}
				if again := into.AppendPartial(nil); !bytes.Equal(again, data) {
					t.Fatalf("read into a window of %d events, %d bytes differ from the %d written", held, len(again), len(data))
				}
			}
			if !got.Start.Equal(w.Start) || !got.End.Equal(w.End) || got.Events != w.Events || got.BadLabels != w.BadLabels ||
				!reflect.DeepEqual(got.Features.Unexpected, w.Features.Unexpected) || !reflect.DeepEqual(got.KeyedMismatch, w.KeyedMismatch) {
				t.Errorf("read back %+v, want %+v", got, w)
			}
			// Merged into another share, the copy and the original give the
			// same window.
			viaCopy, viaOriginal := codecWindow(t, m, 300, 99), codecWindow(t, m, 300, 99)
			if err := viaCopy.Merge(got); err != nil {
				t.Fatal(err)
			}
			if err := viaOriginal.Merge(w); err != nil {
				t.Fatal(err)
			}
			if a, b := viaCopy.AppendPartial(nil), viaOriginal.AppendPartial(nil); !bytes.Equal(a, b) {
				t.Errorf("merging the copy and the original differ")
			}
			if n > 0 && (got.Performance == nil || got.Shadow == nil || got.Versions == nil || got.ByVersion == nil) {
				t.Errorf("parts lost: performance %v, shadow %v, versions %v, by version %v", got.Performance != nil, got.Shadow != nil,
					got.Versions != nil, got.ByVersion != nil)
			}
		})
	}
}

// TestRowsOfReadWindow: a window read from a share stores the rows the
// window it was written from does, and after an event, a merge or a reset
// those of what it then holds, not the share's.
func TestRowsOfReadWindow(t *testing.T) {
	m := codecModel(t)
	rows := func(w *Window) string { return fmt.Sprintf("%+v", rowsOf(w, m, nil, true)) }
	data := codecWindow(t, m, 200, 1).AppendPartial(nil)
	read := func() *Window {
		w := codecWindow(t, m, 30, 2)
		if err := ReadPartialInto(w, m, data); err != nil {
			t.Fatal(err)
		}
		return w
	}
	if got, want := rows(read()), rows(codecWindow(t, m, 200, 1)); got != want {
		t.Fatalf("rows of the read window\n%s\ndiffer from the written one's\n%s", got, want)
	}
	// The rows keep their states when the window goes on to read another
	// share, and the window's rows of that share are its own.
	w := read()
	kept := rowsOf(w, m, nil, true)
	before := fmt.Sprintf("%+v", kept)
	other := codecWindow(t, m, 70, 4).AppendPartial(nil)
	if err := ReadPartialInto(w, m, other); err != nil {
		t.Fatal(err)
	}
	if got, want := rows(w), rows(codecWindow(t, m, 70, 4)); got != want {
		t.Errorf("rows of a recycled window's next share\n%s\ndiffer from the written one's\n%s", got, want)
	}
	if after := fmt.Sprintf("%+v", kept); after != before {
		t.Errorf("rows changed when their window read another share:\n%s\nwas\n%s", after, before)
	}
	ev := event.Event{Prediction: event.Value{Kind: event.KindNumber, Num: 0.5},
		Features: []event.Field{{Name: []byte("x"), Value: event.Value{Kind: event.KindNumber, Num: 1e9}}}}
	for name, change := range map[string]func(*Window) error{
		"event": func(w *Window) error { w.Add(m, &ev); return nil },
		"merge": func(w *Window) error { return w.Merge(codecWindow(t, m, 50, 3)) },
		"reset": func(w *Window) error { w.Reset(w.Start, time.Minute); return nil },
	} {
		w := read()
		if err := change(w); err != nil {
			t.Fatal(err)
		}
		want, err := ReadPartial(m, w.AppendPartial(nil)) // a window of what w holds, not read from the share
		if err != nil {
			t.Fatal(err)
		}
		want.readValid = false
		if got := rows(w); got != rows(want) {
			t.Errorf("%s: the rows are the share's, not what the window holds", name)
		}
	}
}

// TestPartialRefused: bytes that are not a window of the model are refused
// with an error, not read as one.
func TestPartialRefused(t *testing.T) {
	m := codecModel(t)
	data := codecWindow(t, m, 50, 1).AppendPartial(nil)
	other, err := config.ParseContract([]byte("model: m\nprediction: {kind: probability}\nfeatures: [{name: y, type: numeric}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		m    *model.Model
		data []byte
	}{
		"empty":          {m, nil},
		"version":        {m, append([]byte{9}, data[1:]...)},
		"truncated":      {m, data[:len(data)/2]},
		"trailing":       {m, append(append([]byte(nil), data...), 0)},
		"other features": {modeltest.FromCSV(t, other, "y\n1\n"), data},
	} {
		if _, err := ReadPartial(tc.m, tc.data); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}

// FuzzReadPartial: whatever the bytes, reading them returns a window or an
// error, and a window read writes bytes that read back to it.
func FuzzReadPartial(f *testing.F) {
	m := codecModel(f)
	for _, n := range []int{0, 3, 40} {
		f.Add(codecWindow(f, m, n, uint64(n)).AppendPartial(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ReadPartial(m, data)
		if err != nil {
			return
		}
		out := w.AppendPartial(nil)
		again, err := ReadPartial(m, out)
		if err != nil {
			t.Fatalf("a window read from fuzzed bytes does not read back: %v", err)
		}
		if !bytes.Equal(again.AppendPartial(nil), out) {
			t.Fatal("a window read from fuzzed bytes does not write the same bytes twice")
		}
	})
}

// TestAppendSized: a state of any length is written after its length, as
// binstate.Reader.Bytes reads it, whatever the bytes before it.
func TestAppendSized(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 16383, 16384, 70000} {
		state := bytes.Repeat([]byte{0xab}, n)
		data := appendSized([]byte("before"), func(dst []byte) []byte { return append(dst, state...) })
		r := binstate.NewReader(data[len("before"):], errMalformed)
		if got := r.Bytes(); !bytes.Equal(got, state) || r.Err() != nil || r.Len() != 0 {
			t.Errorf("%d bytes: read back %d bytes, %d left, error %v", n, len(got), r.Len(), r.Err())
		}
		if !bytes.HasPrefix(data, []byte("before")) {
			t.Errorf("%d bytes: the bytes before changed", n)
		}
	}
}

// rowsOf is w's rows with their states in an array of their own.
func rowsOf(w *Window, m *model.Model, offsets []Offset, complete bool) []store.WindowProfile {
	rows, _ := w.AppendRows(nil, nil, m, offsets, complete, slog.New(slog.DiscardHandler))
	return rows
}

// TestAppendRowsSharesStates: windows appended one after another write their
// states into the array they are given while it has room, start a larger one
// when it has not, and every row keeps its own window's states either way.
func TestAppendRowsSharesStates(t *testing.T) {
	m := codecModel(t)
	log := slog.New(slog.DiscardHandler)
	windows := []*Window{codecWindow(t, m, 200, 1), codecWindow(t, m, 30, 2), codecWindow(t, m, 70, 3)}
	var want []string
	for _, w := range windows {
		want = append(want, fmt.Sprintf("%+v", rowsOf(w, m, nil, true)))
	}
	for _, room := range []int{0, 16, 1 << 20} {
		states := make([]byte, 3, 3+room) // bytes of a window before, left alone
		copy(states, "abc")
		first := unsafe.SliceData(states)
		var rows []store.WindowProfile
		for _, w := range windows {
			rows, states = w.AppendRows(rows, states, m, nil, true, log)
		}
		per := len(rows) / len(windows)
		for k := range windows {
			if got := fmt.Sprintf("%+v", rows[k*per:(k+1)*per]); got != want[k] {
				t.Errorf("room %d, window %d: rows\n%s\ndiffer from its own\n%s", room, k, got, want[k])
			}
		}
		if shared := unsafe.SliceData(states) == first; shared != (room == 1<<20) {
			t.Errorf("room %d: states written into the array given: %v", room, shared)
		}
		if room == 1<<20 && string(states[:3]) != "abc" {
			t.Errorf("the bytes before the window's were overwritten: %q", states[:3])
		}
	}
}
