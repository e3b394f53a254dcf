package labels

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// perfCase is an accumulator filled with n pairs of a kind.
type perfCase struct {
	name  string
	cfg   PerformanceConfig
	pairs int
}

func perfCases() []perfCase {
	return []perfCase{
		{"empty", PerformanceConfig{Kind: config.Probability}, 0},
		{"probability exact", PerformanceConfig{Kind: config.Probability}, 300},
		{"probability bucketed", PerformanceConfig{Kind: config.Probability, ExactAUCLimit: 50}, 400},
		{"score bucketed", PerformanceConfig{Kind: config.Score, ExactAUCLimit: 10, Threshold: ptr(0.25)}, 300},
		{"score exact", PerformanceConfig{Kind: config.Score}, 30},
		{"class", PerformanceConfig{Kind: config.Class}, 200},
		{"regression", PerformanceConfig{Kind: config.Regression}, 200},
	}
}

func (c perfCase) fill(t testing.TB, seed uint64, n int) *Performance {
	t.Helper()
	p := newPerf(t, c.cfg)
	r := rand.New(rand.NewPCG(seed, 3))
	for range n {
		y := float64(r.IntN(2))
		x := min(1, max(0, 0.3+0.3*y+0.25*r.NormFloat64()))
		pred, label := Value{Num: x}, Value{Num: y}
		switch c.cfg.Kind {
		case config.Score:
			pred.Num = 4*x - 2
		case config.Class:
			pred, label = Value{Class: fmt.Sprint(r.IntN(3))}, Value{Class: fmt.Sprint(r.IntN(3))}
		case config.Regression:
			label.Num = x + r.NormFloat64()
		}
		if r.IntN(10) == 0 && c.cfg.Kind == config.Probability {
			pred.Num = float64(r.IntN(2)) // extremes, clipped for the log loss
		}
		if err := p.Add(pred, label); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// samePerformance compares two accumulators by their metrics and their state.
// Metrics sorts the scores held for the exact AUC, whose order means nothing,
// so the states are compared after it.
func samePerformance(t *testing.T, what string, got, want *Performance) {
	t.Helper()
	if g, w := metricsText(got.Metrics()), metricsText(want.Metrics()); g != w {
		t.Errorf("%s: metrics %s, want %s", what, g, w)
	}
	if g, w := got.AppendState(nil), want.AppendState(nil); !bytes.Equal(g, w) {
		t.Errorf("%s: states differ:\n%x\n%x", what, g, w)
	}
}

func metricsText(m Metrics) string {
	s := fmt.Sprintf("%s n=%d", m.Kind, m.Count)
	for _, f := range []*float64{m.Accuracy, m.AUC, m.AUCErrorBound, m.LogLoss, m.LabelPositiveRate, m.MeanPrediction, m.MAE, m.RMSE, m.MeanError} {
		if f == nil {
			s += " -"
		} else {
			s += fmt.Sprintf(" %x", *f)
		}
	}
	return s
}

// TestPerformanceStateRoundTrip: an accumulator read back from its state is
// the same one, exactly (counts, compensated sums, AUC scores or buckets), and
// partials read back from the store merge as the originals do.
func TestPerformanceStateRoundTrip(t *testing.T) {
	for _, c := range perfCases() {
		t.Run(c.name, func(t *testing.T) {
			a, b := c.fill(t, 1, c.pairs), c.fill(t, 2, c.pairs/2)
			for _, p := range []*Performance{a, b} {
				data := p.MarshalState()
				back, err := UnmarshalState(data)
				if err != nil {
					t.Fatal(err)
				}
				samePerformance(t, "round trip", back, p)
			}
			merged := c.fill(t, 1, c.pairs)
			if err := merged.Merge(b); err != nil {
				t.Fatal(err)
			}
			ra, err := UnmarshalState(a.MarshalState())
			if err != nil {
				t.Fatal(err)
			}
			rb, err := UnmarshalState(b.MarshalState())
			if err != nil {
				t.Fatal(err)
			}
			if err := ra.Merge(rb); err != nil {
				t.Fatal(err)
			}
			samePerformance(t, "merged from states", ra, merged)
		})
	}
}

// TestPerformanceStateRefused: truncated states, other versions, trailing
// bytes and counts that do not add up are errors.
func TestPerformanceStateRefused(t *testing.T) {
	for _, c := range perfCases() {
		good := c.fill(t, 5, c.pairs).MarshalState()
		// Every cut in the header and the tail, and a sample between: a
		// bucketed state's reader sizes all buckets, so each read costs.
		for n := range len(good) {
			if n > 64 && n < len(good)-64 && n%37 != 0 {
				continue
			}
			if _, err := UnmarshalState(good[:n]); err == nil {
				t.Fatalf("%s: state cut at %d of %d bytes read", c.name, n, len(good))
			}
		}
		if _, err := UnmarshalState(append(good[:len(good):len(good)], 0)); err == nil {
			t.Errorf("%s: trailing byte accepted", c.name)
		}
		if _, err := UnmarshalState(append([]byte{2}, good[1:]...)); err == nil {
			t.Errorf("%s: version 2 accepted", c.name)
		}
	}
	// n one more than the scores held.
	p := perfCases()[1].fill(t, 6, 10)
	p.n++
	if _, err := UnmarshalState(p.MarshalState()); err == nil {
		t.Error("a count the scores do not add up to was accepted")
	}
}

// FuzzPerformanceState: any bytes are refused or read without panicking, and
// an accepted state writes the bytes it was read from, reports its metrics and
// merges into an accumulator of its kind.
func FuzzPerformanceState(f *testing.F) {
	for i, c := range perfCases() {
		f.Add(c.fill(f, uint64(i), min(c.pairs, 60)).MarshalState())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := UnmarshalState(data)
		if err != nil {
			return
		}
		if again := p.MarshalState(); !bytes.Equal(again, data) {
			t.Fatalf("read %x, writes %x", data, again)
		}
		p.Metrics()
		q, err := UnmarshalState(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Merge(p); err != nil {
			t.Fatal(err)
		}
		q.Metrics()
	})
}
