package versions

import (
	"fmt"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func contract(t *testing.T) *config.Contract {
	t.Helper()
	c, err := config.ParseContract([]byte("model: m\nversions: {names: [v1, v2], max_others: 1, max_silence: 2m}\n" +
		"features: [{name: x, type: numeric}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCountsBounded: named versions and config.MaxOtherVersionsLimit more are
// counted by name, the rest under other, in a window and across a merge; no
// payload grows the labels. (The contract's max_others is the Tracker's.)
func TestCountsBounded(t *testing.T) {
	c := contract(t)
	a, b := NewCounts(c), NewCounts(c)
	extra := config.MaxOtherVersionsLimit + 5
	for i := range extra {
		a.Add([]byte(fmt.Sprintf("x%d", i)), t0.Add(time.Duration(i)*time.Second))
		a.Add([]byte("v1"), t0)
	}
	a.Add(nil, t0)
	b.Add([]byte("y"), t0.Add(time.Minute))
	b.Add([]byte("other"), t0)
	a.Merge(b)
	got := map[string]uint64{}
	a.Each(func(label string, n uint64, last time.Time) { got[label] = n })
	want := map[string]uint64{"v1": uint64(extra), "other": 5 + 2}
	for i := range config.MaxOtherVersionsLimit {
		want[fmt.Sprintf("x%d", i)] = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || a.OtherLast != t0.Add(time.Minute).UnixNano() || len(a.labels) != 2+config.MaxOtherVersionsLimit {
		t.Errorf("counts %v (labels %q, other last %v), want %v", got, a.labels, time.Unix(0, a.OtherLast).UTC(), want)
	}
}

// TestTracker follows a model through windows of a minute: the first window
// reports no version as new, a later one for two windows; a named version that stops sending breaches
// max_silence while the model sends; a version not named appears (a new
// version), takes the one free label, and one more goes to other; an unnamed
// version silent past max_silence is reported once, then forgotten.
func TestTracker(t *testing.T) {
	c := contract(t)
	tr := NewTracker(c, time.Hour)
	type sent map[string]int
	windows := []sent{
		{"v1": 50, "v2": 50},
		{"v1": 100},
		{"v1": 90, "v3": 10},
		{"v1": 90, "v3": 5, "v4": 5},
		{"v1": 100},
		{"v1": 100},
		{"v1": 100},
	}
	type finding struct {
		window         int
		version, check string
	}
	var got []finding
	var mix []string
	for i, s := range windows {
		start := t0.Add(time.Duration(i) * time.Minute)
		counts := NewCounts(c)
		total := 0
		for v, n := range s {
			for j := range n {
				counts.Add([]byte(v), start.Add(time.Duration(j)*100*time.Millisecond))
			}
			total += n
		}
		line := ""
		for _, r := range tr.Results("m", start, start.Add(time.Minute), uint64(total), counts) {
			label, ok := check.VersionOf(r.Feature)
			if !ok || r.Kind != check.Availability {
				t.Fatalf("result %+v is not of a version", r)
			}
			if r.Breached {
				got = append(got, finding{i, label, r.Metric})
			}
			if r.Metric == check.Events {
				line += fmt.Sprintf(" %s=%g", label, r.Value)
			}
		}
		mix = append(mix, line)
	}
	want := []finding{
		{2, "v2", check.SecondsSinceEvent}, // last event at 10:00:04.9, the window ends at 10:03
		{2, "v3", check.NewVersion},
		{3, "v2", check.SecondsSinceEvent},
		{3, "v3", check.NewVersion}, // for two windows
		{3, "other", check.NewVersion},
		{4, "v2", check.SecondsSinceEvent},
		{4, "other", check.NewVersion},
		{5, "v2", check.SecondsSinceEvent},
		{5, "v3", check.SecondsSinceEvent}, // then forgotten, with other
		{5, "other", check.SecondsSinceEvent},
		{6, "v2", check.SecondsSinceEvent},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("findings\n%v\nwant\n%v\nmix by window: %q", got, want, mix)
	}
	if mix[3] != " v1=90 v2=0 v3=5 other=5" || mix[6] != " v1=100 v2=0" {
		t.Errorf("mix by window: %q", mix)
	}
	if len(tr.versions) != 2 {
		t.Errorf("the tracker still follows %d versions, want the two named", len(tr.versions))
	}
	if r := tr.Results("m", t0, t0, 0, nil); r != nil {
		t.Errorf("a window without events reports %v", r)
	}
}

// TestTrackerBusiest: the busiest version is that of the last complete
// reference period, not of the window, and none before a period has passed.
func TestTrackerBusiest(t *testing.T) {
	c := contract(t)
	tr := NewTracker(c, 2*time.Minute)
	var got []string
	for i, s := range []map[string]int{{"v1": 10, "v2": 90}, {"v1": 10, "v2": 90}, {"v1": 90, "v2": 10}, {"v1": 90, "v2": 10}, {"v1": 90}} {
		start := t0.Add(time.Duration(i) * time.Minute)
		counts := NewCounts(c)
		total := 0
		for v, n := range s {
			for range n {
				counts.Add([]byte(v), start)
			}
			total += n
		}
		tr.Results("m", start, start.Add(time.Minute), uint64(total), counts)
		got = append(got, tr.Busiest())
	}
	if want := []string{"", "", "v2", "v2", "v1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("busiest after each window %q, want %q", got, want)
	}
}

// BenchmarkCountsAdd counts the events of a window spread over the named
// versions, two others and versions past the bound.
func BenchmarkCountsAdd(b *testing.B) {
	c, err := config.ParseContract([]byte("model: m\nversions: {names: [v1, v2], max_others: 2}\nfeatures: [{name: x, type: numeric}]\n"))
	if err != nil {
		b.Fatal(err)
	}
	versions := [][]byte{[]byte("v1"), []byte("v2"), []byte("v1"), []byte("x1"), []byte("x2"), []byte("x3"), []byte("x4"), []byte("v1")}
	w := NewCounts(c)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Add(versions[i%len(versions)], t0)
	}
}
