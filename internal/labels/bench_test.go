package labels

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// BenchmarkJoinerEvent is one labelled request: its prediction, then its label
// (joined), over a working set larger than MaxPending so eviction and slot reuse
// are in the steady state. Goal: no allocation.
func BenchmarkJoinerEvent(b *testing.B) {
	for _, order := range []string{"label after", "label first"} {
		b.Run(order, func(b *testing.B) {
			j, err := NewJoiner(JoinerConfig{MaxDelay: time.Hour, MaxPending: 100_000}, []string{"fraud", "churn"})
			if err != nil {
				b.Fatal(err)
			}
			model := []byte("fraud")
			ids := make([][]byte, 1<<18)
			for i := range ids {
				ids[i] = fmt.Appendf(nil, "r-%08x-5b7d-4e9a-9c0f-1a2b3c4d5e6f", i)
			}
			pv, lv := Value{Num: 0.87}, Value{Num: 1}
			var i int
			b.ReportAllocs()
			for b.Loop() {
				id := ids[i&(len(ids)-1)]
				ts := t0.Add(time.Duration(i) * time.Millisecond)
				var ok bool
				if order == "label after" {
					j.AddPrediction(model, id, pv, ts, Position{})
					_, ok = j.AddLabel(model, id, lv, ts.Add(time.Minute), Position{})
				} else {
					j.AddLabel(model, id, lv, ts.Add(time.Minute), Position{})
					_, ok = j.AddPrediction(model, id, pv, ts, Position{})
				}
				// Every id comes round again only after its joined entry was evicted.
				if !ok {
					b.Fatal("not joined")
				}
				i++
			}
		})
	}
}

// uuidIDs returns n request ids as services write them.
func uuidIDs(n int) [][]byte {
	r := rand.New(rand.NewPCG(9, 9))
	ids := make([][]byte, n)
	for i := range ids {
		ids[i] = fmt.Appendf(nil, "%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&(1<<48-1))
	}
	return ids
}

// BenchmarkJoinerUnlabelled is issue #17's stream: every prediction carries a
// request id and waits for a label that never comes, so the daemon's default
// MaxPending of a million predictions is always full and each one evicts the
// oldest. Goal: no allocation.
func BenchmarkJoinerUnlabelled(b *testing.B) {
	const pending = 1_000_000
	j, err := NewJoiner(JoinerConfig{MaxDelay: 24 * time.Hour, MaxPending: pending}, []string{"fraud"})
	if err != nil {
		b.Fatal(err)
	}
	model, ids, pv := []byte("fraud"), uuidIDs(1<<21), Value{Num: 0.87}
	var i int
	add := func() {
		j.AddPrediction(model, ids[i&(len(ids)-1)], pv, t0.Add(time.Duration(i)*time.Millisecond), Position{})
		i++
	}
	// Past the first compactions of the id arena, to the steady state.
	for range 3 * pending {
		add()
	}
	b.ReportAllocs()
	for b.Loop() {
		add()
	}
}

// BenchmarkJoinerGC is what a million pending predictions cost each garbage
// collection: the time of a forced one, with the Joiner live.
func BenchmarkJoinerGC(b *testing.B) {
	const pending = 1_000_000
	j, err := NewJoiner(JoinerConfig{MaxDelay: 24 * time.Hour, MaxPending: pending}, []string{"fraud"})
	if err != nil {
		b.Fatal(err)
	}
	model, ids := []byte("fraud"), uuidIDs(pending)
	for i, id := range ids {
		j.AddPrediction(model, id, Value{Num: 0.5}, t0.Add(time.Duration(i)*time.Millisecond), Position{})
	}
	ids = nil
	runtime.GC()
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(j)
}

func BenchmarkPerformanceAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 1 << 16
	preds, labels := make([]Value, n), make([]Value, n)
	for i := range n {
		y := float64(rng.IntN(2))
		preds[i] = Value{Num: min(1, max(0, 0.4+0.2*y+0.2*rng.NormFloat64())), Class: "cat"}
		labels[i] = Value{Num: y, Class: "cat"}
	}
	for _, c := range []struct {
		name  string
		kind  config.PredictionKind
		limit int
	}{
		// A window past the exact limit: the steady state of a busy model.
		{"probability/bucketed", config.Probability, 1},
		{"score/bucketed", config.Score, 1},
		{"class", config.Class, 0},
		{"regression", config.Regression, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := newPerf(b, PerformanceConfig{Kind: c.kind, ExactAUCLimit: c.limit})
			var i int
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Add(preds[i&(n-1)], labels[i&(n-1)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	// Exact below the limit: appends, amortised; a fresh window every limit pairs.
	b.Run("probability/exact", func(b *testing.B) {
		p := newPerf(b, PerformanceConfig{Kind: config.Probability})
		var i int
		b.ReportAllocs()
		for b.Loop() {
			if i%DefaultExactAUCLimit == 0 {
				p = newPerf(b, PerformanceConfig{Kind: config.Probability})
			}
			if err := p.Add(preds[i&(n-1)], labels[i&(n-1)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkPerformanceMetrics is the window-close cost: sorting a full exact window,
// or summing the buckets of a bucketed one.
func BenchmarkPerformanceMetrics(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, limit := range []int{0, 1} {
		name := map[int]string{0: "exact-100k", 1: "bucketed"}[limit]
		b.Run(name, func(b *testing.B) {
			p := newPerf(b, PerformanceConfig{Kind: config.Probability, ExactAUCLimit: limit})
			for range DefaultExactAUCLimit {
				y := float64(rng.IntN(2))
				if err := p.Add(Value{Num: min(1, max(0, 0.4+0.2*y+0.2*rng.NormFloat64()))}, Value{Num: y}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				// Shuffle back so each exact run sorts unsorted data, as at window close.
				b.StopTimer()
				rng.Shuffle(len(p.pos), func(i, j int) { p.pos[i], p.pos[j] = p.pos[j], p.pos[i] })
				rng.Shuffle(len(p.neg), func(i, j int) { p.neg[i], p.neg[j] = p.neg[j], p.neg[i] })
				b.StartTimer()
				if p.Metrics().AUC == nil {
					b.Fatal("no AUC")
				}
			}
		})
	}
}
