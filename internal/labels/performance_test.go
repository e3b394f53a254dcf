package labels

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
)

func newPerf(t testing.TB, cfg PerformanceConfig) *Performance {
	t.Helper()
	p, err := NewPerformance(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUndefinedMetricsAbsent checks that what cannot be computed is left out of the
// JSON rather than written as NaN, which encoding/json would refuse anyway.
func TestUndefinedMetricsAbsent(t *testing.T) {
	tests := []struct {
		name  string
		kind  config.PredictionKind
		pairs [][2]float64
		want  string
	}{
		{"empty probability window", config.Probability, nil, `{"kind":"probability","count":0}`},
		{"empty regression window", config.Regression, nil, `{"kind":"regression","count":0}`},
		{"one class only: no AUC", config.Probability, [][2]float64{{0.25, 1}, {0.75, 1}},
			`{"kind":"probability","count":2,"accuracy":0.5,"log_loss":0.8369882167858358,"label_positive_rate":1,"mean_prediction":0.5}`},
		{"score: no log loss", config.Score, [][2]float64{{-1, 0}, {2, 1}},
			`{"kind":"score","count":2,"accuracy":1,"auc":1,"label_positive_rate":0.5,"mean_prediction":0.5}`},
		{"regression", config.Regression, [][2]float64{{1, 2}, {4, 2}},
			`{"kind":"regression","count":2,"mae":1.5,"rmse":1.5811388300841898,"mean_error":0.5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPerf(t, PerformanceConfig{Kind: tt.kind})
			for _, pr := range tt.pairs {
				if err := p.Add(Value{Num: pr[0]}, Value{Num: pr[1]}); err != nil {
					t.Fatal(err)
				}
			}
			b, err := json.Marshal(p.Metrics())
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}

func TestAddRejectsWhatDoesNotFit(t *testing.T) {
	tests := []struct {
		kind        config.PredictionKind
		pred, label float64
	}{
		{config.Probability, 1.5, 1},
		{config.Probability, math.NaN(), 1},
		{config.Probability, 0.5, 2},
		{config.Score, math.Inf(1), 0},
		{config.Score, 0.5, 0.5},
		{config.Regression, 1, math.NaN()},
	}
	for _, tt := range tests {
		p := newPerf(t, PerformanceConfig{Kind: tt.kind})
		err := p.Add(Value{Num: tt.pred}, Value{Num: tt.label})
		if !errors.Is(err, ErrInvalidValue) {
			t.Errorf("%s (%v, %v): err %v, want ErrInvalidValue", tt.kind, tt.pred, tt.label, err)
		}
		if p.Metrics().Count != 0 {
			t.Errorf("%s (%v, %v): rejected pair counted", tt.kind, tt.pred, tt.label)
		}
	}
}

func TestNewPerformanceRejects(t *testing.T) {
	half, nan := 0.5, math.NaN()
	tests := []PerformanceConfig{
		{Kind: "ranking"},
		{Kind: config.Class, Threshold: &half},
		{Kind: config.Probability, Threshold: &nan},
		{Kind: config.Score, ExactAUCLimit: -1},
	}
	for _, cfg := range tests {
		if _, err := NewPerformance(cfg); err == nil {
			t.Errorf("NewPerformance(%+v) accepted", cfg)
		}
	}
}

func TestMergeRejectsMismatch(t *testing.T) {
	one := 1.0
	p := newPerf(t, PerformanceConfig{Kind: config.Score})
	for _, o := range []PerformanceConfig{{Kind: config.Probability}, {Kind: config.Score, Threshold: &one}} {
		if err := p.Merge(newPerf(t, o)); err == nil {
			t.Errorf("merged %+v into a score accumulator with threshold 0", o)
		}
	}
}

// TestMergeAcrossTheLimit merges windows where one side is exact and the other
// bucketed, in both orders, and expects what a single accumulator gives.
func TestMergeAcrossTheLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var preds, labels []float64
	for range 3000 {
		y := float64(rng.IntN(2))
		preds = append(preds, min(1, max(0, 0.4+0.2*y+0.2*rng.NormFloat64())))
		labels = append(labels, y)
	}
	cfg := PerformanceConfig{Kind: config.Probability, ExactAUCLimit: 1000}
	whole := newPerf(t, cfg)
	for i := range preds {
		if err := whole.Add(Value{Num: preds[i]}, Value{Num: labels[i]}); err != nil {
			t.Fatal(err)
		}
	}
	want := whole.Metrics()
	for _, split := range []int{200, 2800} {
		a, b := newPerf(t, cfg), newPerf(t, cfg)
		for i := range preds {
			acc := a
			if i >= split {
				acc = b
			}
			if err := acc.Add(Value{Num: preds[i]}, Value{Num: labels[i]}); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Merge(b); err != nil {
			t.Fatal(err)
		}
		got := a.Metrics()
		if *got.AUC != *want.AUC || *got.AUCErrorBound != *want.AUCErrorBound || got.Count != want.Count ||
			!closeRel(*got.LogLoss, *want.LogLoss, 1e-12) {
			t.Errorf("split at %d: %+v, want %+v", split, got, want)
		}
	}
}

// TestBucketsAreMonotone is what the AUC bound rests on: a larger score never lands
// in a lower bucket.
func TestBucketsAreMonotone(t *testing.T) {
	probs := []float64{0, 1e-300, 1e-16, 8e-16, 1e-15, 1e-9, 0.001, 0.2, 0.4999999, 0.5,
		math.Nextafter(0.5, 1), 0.5000001, 0.9, 0.999, 1 - 1e-12, math.Nextafter(1, 0), 1}
	scores := []float64{math.Inf(-1), -1e300, -2e9, -1e9, -3, -1e-9, -1e-12, -1e-300, 0,
		1e-300, 1e-12, 1e-9, 0.5, 3, 1e9, 2e9, 1e300, math.Inf(1)}
	for _, c := range []struct {
		name   string
		bucket func(float64) (int, int)
		xs     []float64
	}{{"probability", bucketProb, probs}, {"score", bucketScore, scores}} {
		prev := -1
		for _, x := range c.xs {
			b, n := c.bucket(x)
			if b < prev || b < 0 || b >= n {
				t.Errorf("%s %g: bucket %d of %d after %d", c.name, x, b, n, prev)
			}
			prev = b
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		x, y := rng.Float64(), rng.Float64()
		if x > y {
			x, y = y, x
		}
		if bx, _ := bucketProb(x); bx > first(bucketProb(y)) {
			t.Fatalf("probability %g in bucket %d above %g's", x, bx, y)
		}
		sx, sy := math.Ldexp(x-0.5, rng.IntN(80)-40), math.Ldexp(y-0.5, rng.IntN(80)-40)
		if sx > sy {
			sx, sy = sy, sx
		}
		if bx, _ := bucketScore(sx); bx > first(bucketScore(sy)) {
			t.Fatalf("score %g in bucket %d above %g's", sx, bx, sy)
		}
	}
}

func first(b, _ int) int { return b }

func TestValueParser(t *testing.T) {
	num := func(x float64) event.Value { return event.Value{Kind: event.KindNumber, Num: x} }
	str := func(s string) event.Value { return event.Value{Kind: event.KindString, Str: []byte(s)} }
	boolean := func(b bool) event.Value {
		v := event.Value{Kind: event.KindBool, Bool: b}
		if b {
			v.Num = 1
		}
		return v
	}
	quotedNaN := event.Value{Kind: event.KindNumber, Num: math.NaN(), Str: []byte("NaN")}
	tests := []struct {
		kind    config.PredictionKind
		label   bool
		in      event.Value
		want    Value
		wantErr string
	}{
		{config.Probability, false, num(0.87), Value{Num: 0.87}, ""},
		{config.Probability, false, num(1.2), Value{}, "outside [0, 1]"},
		{config.Probability, false, quotedNaN, Value{}, "quoted number"},
		{config.Probability, false, str("0.5"), Value{}, "is string, want a number"},
		{config.Probability, true, num(1), Value{Num: 1}, ""},
		{config.Probability, true, boolean(true), Value{Num: 1}, ""},
		{config.Score, true, boolean(false), Value{Num: 0}, ""},
		{config.Score, true, num(2), Value{}, "not 0, 1"},
		{config.Score, false, num(-3.5), Value{Num: -3.5}, ""},
		{config.Score, false, num(math.Inf(1)), Value{}, "is +Inf"},
		{config.Regression, true, num(12.5), Value{Num: 12.5}, ""},
		{config.Regression, true, event.Value{Kind: event.KindNull}, Value{}, "is null"},
		{config.Class, false, str("cat"), Value{Class: "cat"}, ""},
		{config.Class, false, num(1), Value{Class: "1"}, ""},
		{config.Class, true, str("1"), Value{Class: "1"}, ""},
		{config.Class, true, num(2.5), Value{Class: "2.5"}, ""},
		{config.Class, true, boolean(true), Value{Class: "true"}, ""},
		{config.Class, true, event.Value{Kind: event.KindOther}, Value{}, "want a string or number"},
		{"ranking", false, num(1), Value{}, "unknown prediction kind"},
	}
	vp := NewValueParser(2)
	for _, tt := range tests {
		parse := vp.Prediction
		if tt.label {
			parse = vp.Label
		}
		got, err := parse(tt.kind, tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s %+v: %v", tt.kind, tt.in, err)
		case tt.wantErr != "" && (!errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s %+v: err %v, want ErrInvalidValue with %q", tt.kind, tt.in, err, tt.wantErr)
		case got != tt.want:
			t.Errorf("%s %+v: %+v, want %+v", tt.kind, tt.in, got, tt.want)
		}
	}
	if len(vp.classes) != 2 {
		t.Errorf("interned %d class names, want the bound of 2", len(vp.classes))
	}
}

// scoresOf is what Scores calls fn with.
func scoresOf(p *Performance) (out [][2]float64) {
	p.Scores(func(score float64, n uint64) { out = append(out, [2]float64{score, float64(n)}) })
	return out
}

// TestScores: the labelled predictions' scores come in ascending order, each
// with how many predictions of either class had it; past the exact limit, one
// per bucket.
func TestScores(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, limit := range []int{0, 50} {
		p := newPerf(t, PerformanceConfig{Kind: config.Probability, ExactAUCLimit: limit})
		count := map[float64]float64{}
		for range 200 {
			// Few distinct scores: ties within and across classes.
			x, y := float64(r.IntN(20))/20, float64(r.IntN(2))
			if err := p.Add(Value{Num: x}, Value{Num: y}); err != nil {
				t.Fatal(err)
			}
			count[x]++
		}
		got := scoresOf(p)
		var total float64
		for i, s := range got {
			if i > 0 && !(s[0] > got[i-1][0]) {
				t.Fatalf("limit %d: scores %v not ascending", limit, got)
			}
			if limit == 0 && s[1] != count[s[0]] {
				t.Fatalf("limit %d: score %v counted %v times, held %v", limit, s[0], s[1], count[s[0]])
			}
			total += s[1]
		}
		if total != 200 || (limit == 0 && len(got) != len(count)) {
			t.Fatalf("limit %d: %d scores counting %v predictions, want %d counting 200", limit, len(got), total, len(count))
		}
	}
}

// TestPerformanceReset: a Performance reset and fed pairs reports what a new
// one fed the same pairs does, whether it had gone past the exact limit
// before, or goes past it after.
func TestPerformanceReset(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	pairs := func(n int) [][2]Value {
		out := make([][2]Value, n)
		for i := range out {
			out[i] = [2]Value{{Num: r.Float64()}, {Num: float64(r.IntN(2))}}
		}
		return out
	}
	for _, kind := range []config.PredictionKind{config.Probability, config.Score, config.Regression} {
		for _, sizes := range [][2]int{{10, 30}, {80, 30}, {10, 80}, {80, 80}} {
			cfg := PerformanceConfig{Kind: kind, ExactAUCLimit: 50}
			used := newPerf(t, cfg)
			for _, pr := range pairs(sizes[0]) {
				if err := used.Add(pr[0], pr[1]); err != nil {
					t.Fatal(err)
				}
			}
			used.Metrics()
			used.Reset()
			fresh := newPerf(t, cfg)
			for _, pr := range pairs(sizes[1]) {
				for _, p := range []*Performance{used, fresh} {
					if err := p.Add(pr[0], pr[1]); err != nil {
						t.Fatal(err)
					}
				}
			}
			a, _ := json.Marshal(used.Metrics())
			b, _ := json.Marshal(fresh.Metrics())
			if string(a) != string(b) {
				t.Fatalf("%s %v: reset %s, new %s", kind, sizes, a, b)
			}
			if sa, sb := scoresOf(used), scoresOf(fresh); !slices.Equal(sa, sb) {
				t.Fatalf("%s %v: reset scores %v, new %v", kind, sizes, sa, sb)
			}
		}
	}
}
