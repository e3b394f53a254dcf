package labels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// op is one step of a joiner scenario.
type op struct {
	label  bool   // a label, else a prediction
	expire bool   // Expire(at(sec)) instead
	model  string // "a" unless set
	id     string
	v      float64
	sec    int
	// want is the prediction value joined by this step, or -1 for no pair.
	want float64
}

func pred(id string, v float64, sec int) op { return op{id: id, v: v, sec: sec, want: -1} }
func lab(id string, v float64, sec int) op  { return op{label: true, id: id, v: v, sec: sec, want: -1} }
func expire(sec int) op                     { return op{expire: true, sec: sec} }
func (o op) joins(p float64) op             { o.want = p; return o }
func (o op) in(model string) op             { o.model = model; return o }

func TestJoiner(t *testing.T) {
	cfg := JoinerConfig{MaxDelay: 100 * time.Second, MaxPending: 3}
	tests := []struct {
		name  string
		ops   []op
		stats map[string]JoinStats
	}{
		{
			name:  "label after prediction",
			ops:   []op{pred("r1", 0.9, 0), lab("r1", 1, 50).joins(0.9)},
			stats: map[string]JoinStats{"a": {Joined: 1}},
		},
		{
			name:  "label before prediction",
			ops:   []op{lab("r1", 1, 50), pred("r1", 0.8, 0).joins(0.8)},
			stats: map[string]JoinStats{"a": {Joined: 1}},
		},
		{
			name:  "label later than max delay",
			ops:   []op{pred("r1", 0.9, 0), lab("r1", 1, 101)},
			stats: map[string]JoinStats{"a": {PredictionsExpired: 1, PendingLabels: 1}},
		},
		{
			name:  "label waiting for a prediction older than max delay",
			ops:   []op{lab("r1", 1, 101), pred("r1", 0.9, 0), pred("r1", 0.7, 1).joins(0.7)},
			stats: map[string]JoinStats{"a": {Joined: 1, PredictionsExpired: 1}},
		},
		{
			name:  "exactly max delay joins",
			ops:   []op{pred("r1", 0.9, 0), lab("r1", 0, 100).joins(0.9)},
			stats: map[string]JoinStats{"a": {Joined: 1}},
		},
		{
			name: "expiry by watermark",
			ops: []op{
				pred("r1", 0.1, 0), pred("r2", 0.2, 10), lab("x", 1, 5),
				expire(105), // horizon 5: r1 goes, label x at 5 stays
				lab("r1", 1, 106), lab("r2", 1, 107).joins(0.2),
			},
			stats: map[string]JoinStats{"a": {Joined: 1, PredictionsExpired: 1, PendingLabels: 2}},
		},
		{
			name: "expiry reaches entries inserted out of order",
			ops: []op{
				pred("new", 0.1, 50), pred("old", 0.2, 0),
				expire(110), // horizon 10: "old" is behind "new" in the FIFO
				lab("old", 1, 60),
			},
			stats: map[string]JoinStats{"a": {PredictionsExpired: 1, PendingPredictions: 1, PendingLabels: 1}},
		},
		{
			name:  "arrivals behind the watermark are expired at once",
			ops:   []op{expire(200), pred("r1", 0.5, 50), lab("r2", 1, 99)},
			stats: map[string]JoinStats{"a": {PredictionsExpired: 1, LabelsExpired: 1}},
		},
		{
			name: "eviction at the bound, oldest first",
			ops: []op{
				pred("r1", 0.1, 0), pred("r2", 0.2, 1), pred("r3", 0.3, 2), pred("r4", 0.4, 3),
				lab("r1", 1, 10), lab("r2", 1, 10).joins(0.2),
				lab("x1", 1, 10), lab("x2", 1, 10), lab("x3", 1, 10), // r1's label is evicted
				pred("r1", 0.5, 11),
			},
			stats: map[string]JoinStats{"a": {
				Joined: 1, PredictionsEvicted: 1, LabelsEvicted: 1,
				PendingPredictions: 3, PendingLabels: 3,
			}},
		},
		{
			name:  "duplicate predictions: last wins",
			ops:   []op{pred("r1", 0.1, 0), pred("r1", 0.2, 1), lab("r1", 1, 2).joins(0.2)},
			stats: map[string]JoinStats{"a": {Joined: 1, PredictionDuplicates: 1}},
		},
		{
			name:  "duplicate labels: last wins",
			ops:   []op{lab("r1", 0, 5), lab("r1", 1, 6), pred("r1", 0.3, 0).joins(0.3)},
			stats: map[string]JoinStats{"a": {Joined: 1, LabelDuplicates: 1}},
		},
		{
			name: "redelivery after a join is not joined again",
			ops: []op{
				pred("r1", 0.1, 0), lab("r1", 1, 2).joins(0.1),
				pred("r1", 0.1, 0), lab("r1", 1, 2),
			},
			stats: map[string]JoinStats{"a": {Joined: 1, PredictionDuplicates: 1, LabelDuplicates: 1}},
		},
		{
			name: "joined requests are forgotten past the horizon",
			ops: []op{
				pred("r1", 0.1, 0), lab("r1", 1, 2).joins(0.1),
				expire(103), pred("r1", 0.4, 104), lab("r1", 1, 105).joins(0.4),
			},
			stats: map[string]JoinStats{"a": {Joined: 2}},
		},
		{
			name: "models kept apart",
			ops: []op{
				pred("r1", 0.1, 0).in("a"), lab("r1", 1, 1).in("b"),
				pred("r1", 0.2, 2).in("b").joins(0.2), lab("r1", 0, 3).in("a").joins(0.1),
			},
			stats: map[string]JoinStats{"a": {Joined: 1}, "b": {Joined: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := NewJoiner(cfg, []string{"a", "b"})
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range tt.ops {
				if o.expire {
					j.Expire(at(o.sec))
					continue
				}
				model := o.model
				if model == "" {
					model = "a"
				}
				add := j.AddPrediction
				if o.label {
					add = j.AddLabel
				}
				p, ok := add([]byte(model), []byte(o.id), Value{Num: o.v}, at(o.sec), Position{})
				switch {
				case o.want < 0 && ok:
					t.Fatalf("step %d: unexpected pair %+v", i, p)
				case o.want >= 0 && !ok:
					t.Fatalf("step %d: no pair, want prediction %v joined", i, o.want)
				case ok && (p.Prediction.Num != o.want || p.Model != model || string(p.RequestID) != o.id):
					t.Fatalf("step %d: pair %+v, want %s/%s prediction %v", i, p, model, o.id, o.want)
				}
			}
			for _, m := range []string{"a", "b"} {
				got, _ := j.Stats(m)
				if got != tt.stats[m] {
					t.Errorf("model %s stats\n got %+v\nwant %+v", m, got, tt.stats[m])
				}
			}
		})
	}
}

func TestJoinerPairCarriesBothSides(t *testing.T) {
	j, err := NewJoiner(JoinerConfig{MaxDelay: time.Hour, MaxPending: 10}, []string{"fraud"})
	if err != nil {
		t.Fatal(err)
	}
	j.AddLabel([]byte("fraud"), []byte("r-123"), Value{Num: 1}, at(60), Position{})
	p, ok := j.AddPrediction([]byte("fraud"), []byte("r-123"), Value{Num: 0.87}, at(0), Position{})
	want := Pair{Model: "fraud", RequestID: []byte("r-123"), Prediction: Value{Num: 0.87}, Label: Value{Num: 1},
		PredictionTime: at(0), LabelTime: at(60)}
	if !ok || fmt.Sprint(p) != fmt.Sprint(want) {
		t.Fatalf("got %+v, %v; want %+v", p, ok, want)
	}
	if _, ok := j.AddPrediction([]byte("spam"), []byte("r-1"), Value{}, at(0), Position{}); ok || j.UnknownModel() != 1 {
		t.Errorf("unknown model: joined %v, counted %d; want dropped and counted once", ok, j.UnknownModel())
	}
	if _, ok := j.Stats("spam"); ok {
		t.Error("stats for an unknown model")
	}
}

// TestJoinerHolding follows what the join holds, which a reader must read
// again to rebuild it after a restart.
func TestJoinerHolding(t *testing.T) {
	j, err := NewJoiner(JoinerConfig{MaxDelay: time.Minute, MaxPending: 10}, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	const events, labelsTopic = 1, 2
	add := func(label bool, m, id string, sec int, pos Position) (Pair, bool) {
		if label {
			return j.AddLabel([]byte(m), []byte(id), Value{Num: 1}, at(sec), pos)
		}
		return j.AddPrediction([]byte(m), []byte(id), Value{Num: 0.5}, at(sec), pos)
	}
	steps := []struct {
		label   bool
		model   string
		id      string
		sec     int
		at      Position
		expire  int // seconds, when > 0: Expire instead of adding
		waited  Position
		holding string
	}{
		{model: "a", id: "r1", sec: 0, at: Position{events, 10}, holding: "[{1 10}]"},
		{model: "b", id: "r2", sec: 1, at: Position{events, 11}, holding: "[{1 10}]"},
		{label: true, model: "a", id: "r9", sec: 2, at: Position{labelsTopic, 5}, holding: "[{1 10} {2 5}]"},
		// r1 joins: what waited for it was read at 10, which holds no more.
		{label: true, model: "a", id: "r1", sec: 3, at: Position{labelsTopic, 6}, waited: Position{events, 10}, holding: "[{1 11} {2 5}]"},
		// A newer copy of r2 replaces it: it is read again at 12.
		{model: "b", id: "r2", sec: 4, at: Position{events, 12}, holding: "[{1 12} {2 5}]"},
		// Without a position, a prediction holds nothing.
		{model: "a", id: "r3", sec: 30, holding: "[{1 12} {2 5}]"},
		// The horizon passes r2 and r9: only r3 waits, and it holds nothing.
		{expire: 65, holding: "[]"},
	}
	for i, s := range steps {
		if s.expire > 0 {
			j.Expire(at(s.expire))
		} else if p, ok := add(s.label, s.model, s.id, s.sec, s.at); ok != (s.waited != Position{}) || p.Waited != s.waited {
			t.Fatalf("step %d: joined %v, waited %+v; want waited %+v", i, ok, p.Waited, s.waited)
		}
		if got := fmt.Sprint(j.Holding()); got != s.holding {
			t.Fatalf("step %d: holding %s, want %s", i, got, s.holding)
		}
	}
}

func TestNewJoinerRejects(t *testing.T) {
	tests := []struct {
		cfg    JoinerConfig
		models []string
	}{
		{JoinerConfig{MaxDelay: 0, MaxPending: 1}, []string{"a"}},
		{JoinerConfig{MaxDelay: time.Second, MaxPending: 0}, []string{"a"}},
		{JoinerConfig{MaxDelay: time.Second, MaxPending: 1 << 30}, []string{"a"}},
		{JoinerConfig{MaxDelay: time.Second, MaxPending: 1}, nil},
		{JoinerConfig{MaxDelay: time.Second, MaxPending: 1}, []string{"a", "a"}},
	}
	for _, tt := range tests {
		if _, err := NewJoiner(tt.cfg, tt.models); err == nil {
			t.Errorf("NewJoiner(%+v, %q) accepted", tt.cfg, tt.models)
		}
	}
}

// TestJoinerProperties drives random interleavings with duplicates, late and early
// arrivals, expiry and eviction, and checks that no prediction or label is in two
// pairs, that every event is accounted for exactly once by the counters, that
// joined pairs are within MaxDelay, and that memory stays within its bound.
func TestJoinerProperties(t *testing.T) {
	const maxPending = 20
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		j, err := NewJoiner(JoinerConfig{MaxDelay: 50 * time.Second, MaxPending: maxPending}, []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		usedPred, usedLabel := map[float64]bool{}, map[float64]bool{}
		sent := map[string][2]uint64{}
		now := 0
		for n := range 3000 {
			model := []string{"a", "b"}[rng.IntN(2)]
			id := fmt.Sprintf("r%d", rng.IntN(60))
			sec := now - rng.IntN(80) + rng.IntN(20)
			switch r := rng.IntN(100); {
			case r < 3:
				j.Expire(at(now))
				continue
			case r < 50:
				c := sent[model]
				c[0]++
				sent[model] = c
				if p, ok := j.AddPrediction([]byte(model), []byte(id), Value{Num: float64(n)}, at(sec), Position{}); ok {
					check(t, seed, p, usedPred, usedLabel, n, true)
				}
			default:
				c := sent[model]
				c[1]++
				sent[model] = c
				if p, ok := j.AddLabel([]byte(model), []byte(id), Value{Num: float64(n)}, at(sec), Position{}); ok {
					check(t, seed, p, usedPred, usedLabel, n, false)
				}
			}
			now += rng.IntN(3)
		}
		for _, model := range []string{"a", "b"} {
			s, _ := j.Stats(model)
			preds := s.Joined + s.PredictionsExpired + s.PredictionsEvicted + s.PredictionDuplicates + uint64(s.PendingPredictions)
			labels := s.Joined + s.LabelsExpired + s.LabelsEvicted + s.LabelDuplicates + uint64(s.PendingLabels)
			if preds != sent[model][0] || labels != sent[model][1] {
				t.Fatalf("seed %d model %s: counters account for %d predictions and %d labels, sent %d and %d: %+v",
					seed, model, preds, labels, sent[model][0], sent[model][1], s)
			}
			m := j.models[model]
			if s.PendingPredictions > maxPending || s.PendingLabels > maxPending ||
				m.lists[joined].n > maxPending || m.indexed() != m.held() || m.slots.len() > 3*maxPending {
				t.Fatalf("seed %d model %s: memory past its bound: %+v, %d joined held, %d indexed, %d slots",
					seed, model, s, m.lists[joined].n, m.indexed(), m.slots.len())
			}
		}
	}
}

func check(t *testing.T, seed uint64, p Pair, usedPred, usedLabel map[float64]bool, n int, byPrediction bool) {
	t.Helper()
	if usedPred[p.Prediction.Num] || usedLabel[p.Label.Num] {
		t.Fatalf("seed %d: %+v reuses a prediction or label", seed, p)
	}
	usedPred[p.Prediction.Num], usedLabel[p.Label.Num] = true, true
	if (byPrediction && p.Prediction.Num != float64(n)) || (!byPrediction && p.Label.Num != float64(n)) {
		t.Fatalf("seed %d: %+v returned for event %d", seed, p, n)
	}
	if p.PredictionTime.Before(p.LabelTime.Add(-50 * time.Second)) {
		t.Fatalf("seed %d: %+v joined beyond max delay", seed, p)
	}
}

// TestJoinerAllocatesNothing: once its table, slots and id arena have grown to
// the working set, the Joiner allocates nothing per prediction or label,
// whether requests are joined, evicted unlabelled or duplicated.
func TestJoinerAllocatesNothing(t *testing.T) {
	j, err := NewJoiner(JoinerConfig{MaxDelay: time.Hour, MaxPending: 1000}, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	model := []byte("a")
	ids := make([][]byte, 4096)
	for i := range ids {
		ids[i] = fmt.Appendf(nil, "%036d", i)
	}
	classes := []Value{{Class: "x"}, {Class: "y"}, {Num: 0.5}}
	var i int
	step := func() {
		id := ids[i%len(ids)]
		ts := at(i / 100)
		switch i % 5 {
		case 0, 1: // unlabelled, evicted in time
			j.AddPrediction(model, id, classes[i%3], ts, Position{})
		case 2: // joined
			j.AddPrediction(model, id, classes[i%3], ts, Position{})
			j.AddLabel(model, id, classes[(i+1)%3], ts, Position{})
		case 3: // duplicated
			j.AddLabel(model, id, classes[i%3], ts, Position{})
			j.AddLabel(model, id, classes[i%3], ts, Position{})
		case 4:
			j.Expire(ts)
		}
		i++
	}
	for range 200_000 {
		step()
	}
	if n := testing.AllocsPerRun(10_000, step); n != 0 {
		t.Errorf("%v allocations per step", n)
	}
}
