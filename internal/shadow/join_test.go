package shadow

import (
	"strconv"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
)

// TestJoinBounds: each version's waiting predictions are capped, the oldest
// evicted and counted; a duplicate prediction pairs once; other versions and
// models are ignored; what expires unpaired is counted once, per version.
func TestJoinBounds(t *testing.T) {
	m := shadowModel(t, "m", config.Probability, ", max_pending: 2, max_delay: 10s")
	j, err := NewJoin([]*model.Model{m, shadowModel(t, "plain", config.Probability, "")})
	if err != nil {
		t.Fatal(err)
	}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	offer := func(version, id string, s int) bool {
		_, ok := j.Offer("m", []byte(version), []byte(id), labels.Value{Num: 0.5}, at(s))
		return ok
	}
	for i := range 3 {
		offer("v1", "r"+strconv.Itoa(i), i) // r0 is evicted by r2
	}
	if offer("v2", "r0", 3) || !offer("v2", "r1", 3) || offer("v2", "r1", 3) || offer("v3", "r2", 3) {
		t.Error("r0 paired after its eviction, r1 did not pair once, or a third version paired")
	}
	if _, ok := j.Offer("unknown", []byte("v1"), []byte("r2"), labels.Value{}, at(3)); ok {
		t.Error("a model without shadow paired")
	}
	if ref, cand := j.Pending("m"); ref != 1 || cand != 1 {
		t.Errorf("pending %d, %d; want r2 and r0 waiting", ref, cand)
	}
	j.Expire(at(20))
	want := Unpaired{ReferenceOnly: 1, CandidateOnly: 1, Evicted: 1}
	if u := j.Settle("m"); u != want {
		t.Errorf("settled %+v, want %+v", u, want)
	}
	if u := j.Settle("m"); u != (Unpaired{}) {
		t.Errorf("settled %+v again", u)
	}
}

// TestResults: thresholds come from the contract, disagreement breaches
// above max_disagreement, and a window in which the versions did not both
// serve reports nothing.
func TestResults(t *testing.T) {
	m := shadowModel(t, "m", config.Class, ", max_disagreement: 0.2")
	w := NewWindow(config.Class)
	if rs := w.Results("m", t0, t0.Add(time.Minute), m.Contract.Shadow); rs != nil {
		t.Errorf("an empty window reports %v", rs)
	}
	for i := range 10 {
		cand := "a"
		if i < 3 {
			cand = "b"
		}
		w.Add(Pair{Reference: labels.Value{Class: "a"}, Candidate: labels.Value{Class: cand}})
	}
	w.AddUnpaired(Unpaired{CandidateOnly: 1})
	got := map[string]check.Result{}
	for _, r := range w.Results("m", t0, t0.Add(time.Minute), m.Contract.Shadow) {
		got[r.Metric] = r
	}
	if r := got[check.DisagreementRatio]; r.Value != 0.3 || r.Threshold != 0.2 || !r.Breached {
		t.Errorf("disagreement %+v", r)
	}
	if r := got[check.UnpairedRatio]; r.Value != 1.0/11 || r.Threshold != config.DefaultMaxUnpairedRatio || !r.Breached {
		t.Errorf("unpaired %+v", r)
	}
	if err := w.Merge(NewWindow(config.Probability)); err == nil {
		t.Error("merged windows of different kinds")
	}
}

// BenchmarkOffer pairs a steady stream: both versions' predictions of each
// request, the reference's first.
func BenchmarkOffer(b *testing.B) {
	m := shadowModel(b, "m", config.Probability, "")
	j, err := NewJoin([]*model.Model{m})
	if err != nil {
		b.Fatal(err)
	}
	w := NewWindow(config.Probability)
	ids := make([][]byte, 1<<16)
	for i := range ids {
		ids[i] = []byte("req-" + strconv.Itoa(i))
	}
	ref, cand := []byte("v1"), []byte("v2")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := ids[i%len(ids)]
		t := t0.Add(time.Duration(i) * time.Millisecond)
		j.Offer("m", ref, id, labels.Value{Num: 0.3}, t)
		if p, ok := j.Offer("m", cand, id, labels.Value{Num: 0.4}, t); ok {
			w.Add(p)
		}
		if i%4096 == 0 {
			j.Expire(t)
		}
	}
}
