package window

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/skew"
)

// TestReset: a window emptied by Reset and filled again holds what a new
// window filled alike holds, row for row and state for state, whatever the
// window before it held (wider ranges, other categories, nulls).
func TestReset(t *testing.T) {
	m := modeltest.Generated(t, "m", 3, 2, 4, "nullable: true", "nullable: true")
	dec := event.NewDecoder(event.Options{Layout: event.LayoutEnvelope})
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	fill := func(w *Window, seed uint64, n int, scale float64) {
		r := rand.New(rand.NewPCG(seed, seed))
		for i := range n {
			line := fmt.Sprintf(`{"model": "m", "timestamp": "2026-11-21T10:00:%02dZ", "features": {"n0": %g, "n1": %g, "n2": null, "c0": "c%d", "c1": "x%d"}, "prediction": %g, "latency_ms": %g}`,
				i%60, r.NormFloat64()*scale, r.ExpFloat64()*scale, r.IntN(6), r.IntN(30), r.Float64(), r.Float64()*100*scale)
			var ev event.Event
			if err := dec.Decode([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			w.Add(m, &ev)
		}
	}
	reused, err := New(m, start.Add(-time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	fill(reused, 1, 500, 1e6)
	for round := range 3 {
		reused.Reset(start, time.Minute)
		fill(reused, uint64(10+round), 40, 1)
		fresh, err := New(m, start, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		fill(fresh, uint64(10+round), 40, 1)
		// Printed, as the rows hold NaN summaries, which equal nothing.
		got, want := fmt.Sprintf("%+v", rowsOf(reused, m, nil, true)), fmt.Sprintf("%+v", rowsOf(fresh, m, nil, true))
		if got != want {
			t.Fatalf("round %d: the reset window's rows\n%s\ndiffer from a new window's\n%s", round, got, want)
		}
	}
}

// TestResetLetsGoOfMerged: a window's version mix and shadow pairs, which a
// window merged from it takes over when it has none, stay that window's when
// the first is recycled and fills again.
func TestResetLetsGoOfMerged(t *testing.T) {
	m := modeltest.Generated(t, "m", 1, 0, 4, "nullable: true", "")
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	share, err := New(m, start, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	share.VersionCounts(m).Add([]byte("v1"), start)
	share.ShadowPairs(m)
	merged, err := New(m, start, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := merged.Merge(share); err != nil {
		t.Fatal(err)
	}
	held, pairs := merged.Versions, merged.Shadow
	share.Reset(start.Add(time.Minute), time.Minute)
	if share.Versions != nil || share.Shadow != nil {
		t.Fatal("a reset window still holds the version mix or shadow pairs it had")
	}
	share.VersionCounts(m).Add([]byte("v2"), start.Add(time.Minute))
	if merged.Versions != held || merged.Shadow != pairs {
		t.Fatal("the merged window's version mix or shadow pairs changed")
	}
	var got []string
	merged.Versions.Each(func(label string, n uint64, _ time.Time) { got = append(got, fmt.Sprint(label, n)) })
	if fmt.Sprint(got) != "[v11]" {
		t.Errorf("the merged window counts versions %v, want v1 once", got)
	}
}

// TestResetKeepsPerformance: a recycled window scores its pairs as a new one
// does, with the Performance of its last life; one merged into another is
// taken over, and stays the other's when the share is recycled and scores
// again.
func TestResetKeepsPerformance(t *testing.T) {
	m := modeltest.Generated(t, "m", 1, 0, 4, "nullable: true", "")
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(6, 6))
	score := func(w *Window, seed uint64, n int) {
		r := rand.New(rand.NewPCG(seed, seed))
		for range n {
			w.AddPair(m, labels.Pair{Prediction: labels.Value{Num: r.Float64()}, Label: labels.Value{Num: float64(r.IntN(2))}})
		}
	}
	metrics := func(w *Window) string {
		b, err := json.Marshal(w.Performance.Metrics())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	share, err := New(m, start, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	score(share, r.Uint64(), 300)
	merged, err := New(m, start, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := merged.Merge(share); err != nil {
		t.Fatal(err)
	}
	before := metrics(merged)
	for round := range 3 {
		seed := r.Uint64()
		share.Reset(start.Add(time.Duration(round+1)*time.Minute), time.Minute)
		if share.Performance != nil {
			t.Fatal("a reset window holds a Performance before its first pair")
		}
		score(share, seed, 40+round*100)
		fresh, err := New(m, share.Start, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		score(fresh, seed, 40+round*100)
		if got, want := metrics(share), metrics(fresh); got != want {
			t.Fatalf("round %d: the recycled window's metrics %s, a new one's %s", round, got, want)
		}
	}
	if got := metrics(merged); got != before {
		t.Fatalf("the merged window's metrics changed from %s to %s", before, got)
	}
}

// TestRestoreKeepsPairsAndKeyedCounts: a window written before it was
// complete (a drain) and read back goes on from the pairs it had scored and
// the requests it had compared, not from none.
func TestRestoreKeepsPairsAndKeyedCounts(t *testing.T) {
	m := modeltest.Generated(t, "m", 2, 1, 4, "", "")
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	w, err := New(m, start, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	for range 50 {
		w.AddPair(m, labels.Pair{Prediction: labels.Value{Num: r.Float64()}, Label: labels.Value{Num: float64(r.IntN(2))}})
	}
	w.AddMatch(&skew.Match{Compared: []bool{true, false, true}, Mismatch: []bool{false, false, true}})
	stored, err := Restore(m, start, time.Minute, rowsOf(w, m, []Offset{{Topic: "events", Offset: 9}}, false))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(w.Performance.Metrics())
	got, _ := json.Marshal(stored.Performance.Metrics())
	if string(got) != string(want) {
		t.Errorf("restored performance %s, want %s", got, want)
	}
	if fmt.Sprint(stored.KeyedCompared, stored.KeyedMismatch) != "[1 0 1] [0 0 1]" {
		t.Errorf("restored keyed counts %v %v, want [1 0 1] [0 0 1]", stored.KeyedCompared, stored.KeyedMismatch)
	}
	// What the window counted reads from its model-level row alone.
	counted := []Offset{{Topic: "events", Partition: 3, Offset: 9}, {Topic: "labels", Partition: 3, Offset: 4}}
	rows := rowsOf(w, m, counted, true)
	if got, err := CountedOffsets(rows[0]); err != nil || !reflect.DeepEqual(got, counted) {
		t.Errorf("CountedOffsets = %v, %v; want %v", got, err, counted)
	}
	if _, err := CountedOffsets(rows[1]); err == nil {
		t.Error("a feature's row read as a window's counts")
	}
}
