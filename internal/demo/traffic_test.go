package demo

import (
	"slices"
	"testing"
	"time"
)

// TestTickSpreadsEvents: a late tick's events are stamped over the time it
// covers, in order, so that a window keeps its share of them however the
// producer is scheduled.
func TestTickSpreadsEvents(t *testing.T) {
	const window = time.Second
	tr := newTraffic(1, window, Schedule(warmupWindows*window, window))
	at := time.Date(2026, 12, 1, 0, 0, 10, 0, time.UTC)
	const dt = 3 * window // a tick thirty times late
	events, labels := tr.tick(at, 10*window, dt)
	if len(events) < 1000 {
		t.Fatalf("%d events in %s, want about %.0f", len(events), dt, (fraudPerSec+etaPerSec)*dt.Seconds())
	}
	for _, ms := range [][]message{events, labels} {
		if !slices.IsSortedFunc(ms, func(a, b message) int { return a.at.Compare(b.at) }) {
			t.Error("messages out of time order")
		}
	}
	perWindow := map[time.Time]int{}
	for _, e := range events {
		if e.at.Before(at.Add(-dt)) || !e.at.Before(at) {
			t.Fatalf("event at %s, outside the tick's [%s, %s)", e.at, at.Add(-dt), at)
		}
		perWindow[e.at.Truncate(window)]++
	}
	for w, n := range perWindow {
		if share := float64(n) / float64(len(events)); share < 0.3 || share > 0.37 {
			t.Errorf("window %s has %.0f%% of the tick's events, want a third", w.Format(time.TimeOnly), 100*share)
		}
	}
}
