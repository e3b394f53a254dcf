package window

import (
	"math"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/shadow"
)

// TestMergeVersions: two partitions' shares of a window merge their shadow
// pairs and version mix, whichever of them has either.
func TestMergeVersions(t *testing.T) {
	c, err := config.ParseContract([]byte("model: m\nprediction: {kind: class}\nshadow: {reference: v1, candidate: v2}\n" +
		"features: [{name: x, type: numeric}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := modeltest.FromCSV(t, c, "x\n1\n2\n")
	start := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var shares [3]*Window
	for i := range shares {
		if shares[i], err = New(m, start, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// The first share has neither; the second both; the third a pair that
	// disagrees and a version past none of the bounds.
	shares[1].VersionCounts(m).Add([]byte("v1"), start)
	shares[1].ShadowPairs(m).Add(shadow.Pair{Reference: labels.Value{Class: "a"}, Candidate: labels.Value{Class: "a"}})
	shares[2].VersionCounts(m).Add([]byte("v3"), start)
	shares[2].ShadowPairs(m).Add(shadow.Pair{Reference: labels.Value{Class: "a"}, Candidate: labels.Value{Class: "b"}})
	shares[2].ShadowPairs(m).AddUnpaired(shadow.Unpaired{ReferenceOnly: 2})
	for _, s := range shares[1:] {
		if err := shares[0].Merge(s); err != nil {
			t.Fatal(err)
		}
	}
	w := shares[0]
	if w.Shadow == nil || w.Shadow.Pairs != 2 || w.Shadow.Disagree != 1 || w.Shadow.ReferenceOnly != 2 {
		t.Errorf("merged shadow %+v", w.Shadow)
	}
	got := map[string]uint64{}
	w.Versions.Each(func(label string, n uint64, _ time.Time) { got[label] = n })
	if len(got) != 2 || got["v1"] != 1 || got["v3"] != 1 {
		t.Errorf("merged versions %v", got)
	}
}

// TestByVersion: each version is profiled on its own, features only for a
// canary, across merged shares whatever order their versions arrived in;
// folding by the versions followed leaves the rest to other's profile.
func TestByVersion(t *testing.T) {
	c, err := config.ParseContract([]byte("model: m\nprediction: {kind: probability}\ncanary: {candidate: v2}\n" +
		"versions: {max_others: 1}\nfeatures: [{name: x, type: numeric}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := modeltest.FromCSV(t, c, "x\n1\n2\n")
	start := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	add := func(w *Window, version string, x, p float64) {
		ev := &event.Event{ModelVersion: []byte(version), Timestamp: start,
			Prediction: event.Value{Kind: event.KindNumber, Num: p}, LatencyMs: event.Value{Kind: event.KindNumber, Num: 5}}
		ev.Features = append(ev.Features, event.Field{Name: []byte("x"), Value: event.Value{Kind: event.KindNumber, Num: x}})
		w.Add(m, ev)
		w.AddVersion(m, ev)
	}
	var shares [2]*Window
	for i := range shares {
		if shares[i], err = New(m, start, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// v2 is named; each share meets another version first.
	add(shares[0], "v1", 1, 0.1)
	add(shares[0], "v2", 2, 0.2)
	add(shares[0], "v3", 3, 0.3)
	add(shares[1], "v4", 4, 0.4)
	add(shares[1], "v1", 5, 0.5)
	add(shares[1], "", 6, 0.6) // no version: the model's alone
	if err := shares[0].Merge(shares[1]); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]float64{}
	shares[0].ByVersion.Each(func(label string, v *Window) {
		got[label] = [2]float64{float64(v.Events), float64(v.Features.Features[0].Rows)}
	})
	want := map[string][2]float64{"v2": {1, 1}, "v1": {2, 2}, "v3": {1, 1}, "v4": {1, 1}}
	check := func() {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("versions %v, want %v", got, want)
		}
		for l, w := range want {
			if got[l] != w {
				t.Errorf("version %s: events and feature rows %v, want %v", l, got[l], w)
			}
		}
	}
	check()
	if v1 := shares[0].ByVersion.Get("v1"); math.Abs(v1.Prediction.Mean-0.3) > 1e-12 || v1.Latency.Finite != 2 {
		t.Errorf("v1's prediction mean %v, latencies %d; want 0.3 and 2", v1.Prediction.Mean, v1.Latency.Finite)
	}
	// The checker follows v2 and v1 (max_others 1): v3 and v4 are other.
	if err := shares[0].ByVersion.Fold(func(l string) bool { return l == "v1" || l == "v2" }); err != nil {
		t.Fatal(err)
	}
	clear(got)
	shares[0].ByVersion.Each(func(label string, v *Window) {
		got[label] = [2]float64{float64(v.Events), float64(v.Features.Features[0].Rows)}
	})
	want = map[string][2]float64{"v2": {1, 1}, "v1": {2, 2}, config.VersionOther: {2, 2}}
	check()
}
