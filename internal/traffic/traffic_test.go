package traffic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"testing"
	"time"
)

var start = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// TestFeatureIndices holds the indices the model's score reads to the names.
func TestFeatureIndices(t *testing.T) {
	for name, i := range map[string]int{"age": iAge, "amount": iAmount, "session_seconds": iSession, "device": iDevice, "is_new": iIsNew} {
		if got := featureIndex(name); got != i {
			t.Errorf("%s is feature %d, the constant says %d", name, got, i)
		}
	}
}

type event struct {
	Model      string         `json:"model"`
	RequestID  string         `json:"request_id"`
	Timestamp  time.Time      `json:"timestamp"`
	Features   map[string]any `json:"features"`
	Prediction *float64       `json:"prediction"`
	Label      *int           `json:"label"`
}

// readStream decodes every line of a stream; NaN predictions, which JSON
// cannot spell, come back as nan.
func readStream(t *testing.T, cfg Config) (events, labels []event, nan int) {
	t.Helper()
	s, err := NewStream(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for {
		l, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(l, []byte(`"prediction":NaN`)) {
			nan++
			l = bytes.Replace(l, []byte(`"prediction":NaN`), []byte(`"prediction":null`), 1)
		}
		var e event
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if e.Label != nil {
			labels = append(labels, e)
		} else {
			events = append(events, e)
		}
	}
	return events, labels, nan
}

// TestStreamDailyCurve: a day of traffic averages the events a window asked
// for, its busiest hour carries several times its quietest, every feature is
// in every event, a label follows a third of them, and a seed draws the same
// stream again.
func TestStreamDailyCurve(t *testing.T) {
	cfg := Config{Seed: 4, Start: start, Duration: 24 * time.Hour, Window: time.Minute, EventsPerWindow: 50,
		LabelShare: 1.0 / 3, LabelDelay: 10 * time.Minute}
	events, labels, nan := readStream(t, cfg)
	if got := float64(len(events)) / (24 * 60); math.Abs(got-50) > 5 {
		t.Errorf("%.1f events a window on average, want 50", got)
	}
	var hours [24]int
	for _, e := range events {
		hours[e.Timestamp.Hour()]++
		if len(e.Features) != len(features) {
			t.Fatalf("event %s has %d features, want %d", e.RequestID, len(e.Features), len(features))
		}
	}
	lo, hi := hours[0], hours[0]
	for _, n := range hours {
		lo, hi = min(lo, n), max(hi, n)
	}
	if float64(hi)/float64(lo) < 2.5 {
		t.Errorf("hourly events %v: busiest over quietest %.2f, want the daily curve's several-fold", hours, float64(hi)/float64(lo))
	}
	if share := float64(len(labels)) / float64(len(events)); math.Abs(share-1.0/3) > 0.02 {
		t.Errorf("labels for %.3f of events, want a third", share)
	}
	if nan != 0 {
		t.Errorf("%d NaN predictions in healthy traffic", nan)
	}
	again, _, _ := readStream(t, cfg)
	if len(again) != len(events) || again[len(again)/2].RequestID != events[len(events)/2].RequestID ||
		again[len(again)/2].Timestamp != events[len(events)/2].Timestamp {
		t.Error("the same seed drew a different stream")
	}
}

// TestIncidentsStrike: each kind of incident changes the events of its span
// and only them.
func TestIncidentsStrike(t *testing.T) {
	at, hour := start.Add(2*time.Hour), time.Hour
	cfg := Config{Seed: 5, Start: start, Duration: 4 * time.Hour, Window: time.Minute, EventsPerWindow: 100,
		Incidents: []Incident{
			{Kind: NaNPredictions, Feature: "prediction", Start: at, End: at.Add(hour), Size: 0.1},
			{Kind: NewCategory, Feature: "channel", Start: at, End: at.Add(hour), Size: 0.1},
			{Kind: NullBurst, Feature: "amount", Start: at, End: at.Add(hour), Size: 0.5},
			{Kind: MeanShift, Feature: "balance", Start: at, End: at.Add(hour), Size: 1},
			{Kind: TrafficDrop, Start: at, End: at.Add(hour), Size: 0.25},
		}}
	events, _, nan := readStream(t, cfg)
	type tally struct{ n, predNaN, newCat, nulls int }
	var in, before tally
	var balIn, balBefore float64
	for _, e := range events {
		tl, bal := &before, &balBefore
		switch {
		case !e.Timestamp.Before(at.Add(hour)):
			continue
		case !e.Timestamp.Before(at):
			tl, bal = &in, &balIn
		case e.Timestamp.Before(at.Add(-hour)):
			continue
		}
		tl.n++
		if e.Prediction == nil {
			tl.predNaN++
		}
		if e.Features["channel"] == newCategory {
			tl.newCat++
		}
		if e.Features["amount"] == nil {
			tl.nulls++
		}
		*bal += e.Features["balance"].(float64)
	}
	share := func(k, n int) float64 { return float64(k) / float64(n) }
	if nan != in.predNaN || math.Abs(share(in.predNaN, in.n)-0.1) > 0.03 || before.predNaN != 0 {
		t.Errorf("NaN predictions: %d of %d during, %d of %d before", in.predNaN, in.n, before.predNaN, before.n)
	}
	if math.Abs(share(in.newCat, in.n)-0.1) > 0.03 || before.newCat != 0 {
		t.Errorf("new category: %d of %d during, %d of %d before", in.newCat, in.n, before.newCat, before.n)
	}
	if math.Abs(share(in.nulls, in.n)-0.5) > 0.05 || before.nulls != 0 {
		t.Errorf("null amounts: %d of %d during, %d of %d before", in.nulls, in.n, before.nulls, before.n)
	}
	// balance is 200 + 1500 z: a shift of z by 1 moves its mean by 1,500.
	if d := balIn/float64(in.n) - balBefore/float64(before.n); math.Abs(d-1500) > 300 {
		t.Errorf("balance's mean moved by %.0f, want 1,500", d)
	}
	// The hour before and the hour of the drop differ a little in the daily
	// curve; the drop is to a quarter.
	if r := share(in.n, before.n); r < 0.15 || r > 0.4 {
		t.Errorf("traffic during the drop %.2f of the hour before, want about 0.25", r)
	}
}

// TestScheduleValid: a schedule lays out every kind once, each valid, in
// order and apart.
func TestScheduleValid(t *testing.T) {
	ins, end := Schedule(3, start.Add(30*time.Second), 5*time.Minute, 1000, DefaultSizes(), 24)
	if len(ins) != len(Kinds()) {
		t.Fatalf("%d incidents, want one of each of %d kinds", len(ins), len(Kinds()))
	}
	seen := map[Kind]bool{}
	prev := start
	for _, in := range ins {
		if err := in.validate(); err != nil {
			t.Error(err)
		}
		if seen[in.Kind] {
			t.Errorf("%s twice", in.Kind)
		}
		seen[in.Kind] = true
		if in.Start.Before(prev) || in.Start.Truncate(5*time.Minute) != in.Start {
			t.Errorf("%s starts at %s, before the last ended (%s) or off a window", &in, in.Start, prev)
		}
		prev = in.End.Add(24 * 5 * time.Minute)
	}
	if end != prev {
		t.Errorf("schedule ends at %s, want %s", end, prev)
	}
}
