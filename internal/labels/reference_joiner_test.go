package labels

// The Joiner as it was before its index became pointer-free (a map keyed by
// request-id strings), kept as the reference its replacement is tested against:
// TestJoinerDifferential drives both with the same operations.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// refPair is Pair as the reference returns it.
type refPair struct {
	Model, RequestID string
	Prediction       Value
	Label            Value
	PredictionTime   time.Time
	LabelTime        time.Time
}

type refJoiner struct {
	maxDelay   int64
	maxPending int
	models     map[string]*refModel
	unknown    uint64
	// cutoff is the latest Expire horizon in Unix nanoseconds: entries older than it
	// are gone, logically if not yet physically.
	cutoff int64
}

// NewJoiner returns a Joiner for the given models; events for other models are
// dropped and counted (UnknownModel) so that payloads cannot grow its memory.
func newRefJoiner(cfg JoinerConfig, models []string) (*refJoiner, error) {
	if cfg.MaxDelay <= 0 {
		return nil, fmt.Errorf("drift: joiner max delay %v must be positive", cfg.MaxDelay)
	}
	// Slab indexes are int32 and a model holds three lists.
	if cfg.MaxPending <= 0 || cfg.MaxPending > math.MaxInt32/3 {
		return nil, fmt.Errorf("drift: joiner max pending %d must be in [1, %d]", cfg.MaxPending, math.MaxInt32/3)
	}
	if len(models) == 0 {
		return nil, errors.New("drift: joiner needs at least one model")
	}
	j := &refJoiner{
		maxDelay:   int64(cfg.MaxDelay),
		maxPending: cfg.MaxPending,
		models:     make(map[string]*refModel, len(models)),
		cutoff:     math.MinInt64,
	}
	for _, m := range models {
		if _, dup := j.models[m]; dup {
			return nil, fmt.Errorf("drift: joiner model %q listed twice", m)
		}
		j.models[m] = &refModel{name: m, index: make(map[string]int32), free: none}
		for l := range j.models[m].lists {
			j.models[m].lists[l] = refFifo{head: none, tail: none}
		}
	}
	return j, nil
}

// UnknownModel counts events dropped because their model was not given to NewJoiner.
func (j *refJoiner) unknownModel() uint64 { return j.unknown }

// Stats returns a model's counters; ok is false for a model the Joiner does not know.
func (j *refJoiner) stats(model string) (s JoinStats, ok bool) {
	m := j.models[model]
	if m == nil {
		return JoinStats{}, false
	}
	c := &m.counts
	s = JoinStats{
		Joined:               m.joined,
		PredictionsExpired:   c[pendingPrediction][expired],
		PredictionsEvicted:   c[pendingPrediction][evicted],
		PredictionDuplicates: c[pendingPrediction][duplicate],
		LabelsExpired:        c[pendingLabel][expired],
		LabelsEvicted:        c[pendingLabel][evicted],
		LabelDuplicates:      c[pendingLabel][duplicate],
	}
	s.PendingPredictions = m.lists[pendingPrediction].n
	s.PendingLabels = m.lists[pendingLabel].n
	return s, true
}

// AddPrediction records a prediction. When its label is already pending and within
// MaxDelay, the two are joined and the pair returned.
func (j *refJoiner) addPrediction(model, requestID []byte, v Value, eventTime time.Time) (refPair, bool) {
	return j.add(pendingPrediction, model, requestID, v, eventTime)
}

// AddLabel records a label. When its prediction is pending and within MaxDelay,
// the two are joined and the pair returned; otherwise the label waits for its
// prediction.
func (j *refJoiner) addLabel(model, requestID []byte, v Value, eventTime time.Time) (refPair, bool) {
	return j.add(pendingLabel, model, requestID, v, eventTime)
}

// Expire forgets predictions and labels older than watermark minus MaxDelay, and
// joined requests as old, which can no longer be joined once the label stream's
// event time has passed the watermark. A watermark earlier than a previous one is
// ignored.
func (j *refJoiner) expire(watermark time.Time) {
	c := watermark.UnixNano() - j.maxDelay
	if c <= j.cutoff {
		return
	}
	j.cutoff = c
	for _, m := range j.models {
		for l := range m.lists {
			for m.lists[l].head != none && m.slots[m.lists[l].head].t < c {
				m.drop(m.lists[l].head, true)
			}
		}
	}
}

func (j *refJoiner) add(side uint8, model, requestID []byte, v Value, eventTime time.Time) (refPair, bool) {
	m := j.models[string(model)]
	if m == nil {
		j.unknown++
		return refPair{}, false
	}
	t := eventTime.UnixNano()
	if i, held := m.index[string(requestID)]; held {
		s := &m.slots[i]
		switch s.list {
		case side:
			m.count(side, duplicate)
			if t < j.cutoff {
				// The newer copy is already past the horizon; the older one stays.
				return refPair{}, false
			}
			s.value, s.t = v, t
			m.unlink(i)
			m.push(side, i)
			return refPair{}, false
		case joined:
			m.count(side, duplicate)
			return refPair{}, false
		}
		// s is the other side.
		p, l, pt, lt := s.value, v, s.t, t
		if side == pendingPrediction {
			p, l, pt, lt = v, s.value, t, s.t
		}
		switch {
		case s.t < j.cutoff:
			m.drop(i, true)
		case pt < lt-j.maxDelay:
			// The prediction was forgotten before its label came, as it would have
			// been by Expire; a label keeps waiting, as it would have then.
			m.counts[pendingPrediction][expired]++
			if side == pendingPrediction {
				return refPair{}, false
			}
			m.remove(i)
		default:
			m.joined++
			m.unlink(i)
			if m.lists[joined].n >= j.maxPending {
				m.remove(m.lists[joined].head)
			}
			s.value = Value{}
			s.t = max(pt, lt)
			m.push(joined, i)
			return refPair{
				Model: m.name, RequestID: s.key,
				Prediction: p, Label: l,
				PredictionTime: time.Unix(0, pt).UTC(), LabelTime: time.Unix(0, lt).UTC(),
			}, true
		}
	}
	if t < j.cutoff {
		m.count(side, expired)
		return refPair{}, false
	}
	if m.lists[side].n >= j.maxPending {
		m.drop(m.lists[side].head, m.slots[m.lists[side].head].t < j.cutoff)
	}
	m.insert(side, string(requestID), v, t)
	return refPair{}, false
}

type refSlot struct {
	key        string
	value      Value
	t          int64
	prev, next int32
	list       uint8
}

type refFifo struct {
	head, tail int32
	n          int
}

type refModel struct {
	name  string
	index map[string]int32
	slots []refSlot
	free  int32
	lists [3]refFifo
	// counts is indexed by side (pendingPrediction, pendingLabel) and reason.
	counts [2][3]uint64
	joined uint64
}

func (m *refModel) count(list uint8, reason int) {
	if list != joined {
		m.counts[list][reason]++
	}
}

func (m *refModel) insert(list uint8, key string, v Value, t int64) {
	i := m.free
	if i == none {
		m.slots = append(m.slots, refSlot{})
		i = int32(len(m.slots) - 1)
	} else {
		m.free = m.slots[i].next
	}
	m.slots[i] = refSlot{key: key, value: v, t: t}
	m.index[key] = i
	m.push(list, i)
}

// drop removes slot i, counting it as expired when pastHorizon and as evicted
// otherwise (joined requests are not counted).
func (m *refModel) drop(i int32, pastHorizon bool) {
	if pastHorizon {
		m.count(m.slots[i].list, expired)
	} else {
		m.count(m.slots[i].list, evicted)
	}
	m.remove(i)
}

func (m *refModel) remove(i int32) {
	s := &m.slots[i]
	m.unlink(i)
	delete(m.index, s.key)
	*s = refSlot{next: m.free}
	m.free = i
}

func (m *refModel) push(list uint8, i int32) {
	f := &m.lists[list]
	s := &m.slots[i]
	s.list, s.prev, s.next = list, f.tail, none
	if f.tail == none {
		f.head = i
	} else {
		m.slots[f.tail].next = i
	}
	f.tail = i
	f.n++
}

func (m *refModel) unlink(i int32) {
	s := &m.slots[i]
	f := &m.lists[s.list]
	if s.prev == none {
		f.head = s.next
	} else {
		m.slots[s.prev].next = s.next
	}
	if s.next == none {
		f.tail = s.prev
	} else {
		m.slots[s.next].prev = s.prev
	}
	f.n--
}

// indexed counts the table's occupied cells, which must be the slots held,
// or -1 when a cell's hash half is not its slot's.
func (m *modelJoin) indexed() int {
	n := 0
	for _, c := range m.table {
		if c != emptyCell {
			if c != newCell(m.slots.at(c.slot()).hash, c.slot()) {
				return -1
			}
			n++
		}
	}
	return n
}

// TestJoinerDifferential drives the Joiner and the reference with the same
// random operations — duplicates, both arrival orders, late and early events,
// expiry, eviction at a small MaxPending, class values (some too many to
// intern), ids of many lengths — and requires the same pairs and counters
// after every step. It runs with the real hash and with hashes that collide
// (all ids of a length, or all ids), so that identity is confirmed by the
// bytes, not the hash; and with an arena small enough to compact often.
func TestJoinerDifferential(t *testing.T) {
	hashes := map[string]func([]byte) uint64{
		"seeded":      nil,
		"by length":   func(b []byte) uint64 { return uint64(len(b)) },
		"all collide": func([]byte) uint64 { return 42 },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			seeds := uint64(60)
			if hash != nil {
				seeds = 15
			}
			for seed := range seeds {
				differential(t, seed, hash)
			}
		})
	}
}

func differential(t *testing.T, seed uint64, hash func([]byte) uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	cfg := JoinerConfig{MaxDelay: 40 * time.Second, MaxPending: 1 + rng.IntN(25)}
	models := []string{"a", "b"}
	j, err := NewJoiner(cfg, models)
	if err != nil {
		t.Fatal(err)
	}
	if hash != nil {
		j.hash = hash
	}
	j.maxClasses = 100 // fewer than the rare names of one run
	ref, err := newRefJoiner(cfg, models)
	if err != nil {
		t.Fatal(err)
	}
	// Long ids make the arena pass its compaction threshold within the run.
	idLen := []int{1, 8, 36, 300, 5000}[rng.IntN(5)]
	now := 0
	for step := range 4000 {
		model := []string{"a", "b", "c"}[rng.IntN(3)]
		id := fmt.Appendf(nil, "%0*d", idLen, rng.IntN(40))
		sec := now - rng.IntN(70) + rng.IntN(20)
		v := Value{Num: float64(step)}
		switch rng.IntN(4) {
		case 0:
			v.Class = fmt.Sprintf("class-%d", rng.IntN(3))
		case 1:
			// More names than the Joiner interns, over the whole test.
			v.Class = fmt.Sprintf("rare-%d-%d", seed, step)
		}
		var (
			got  Pair
			want refPair
			gok  bool
			wok  bool
		)
		switch r := rng.IntN(100); {
		case r < 3:
			j.Expire(at(now))
			ref.expire(at(now))
		case r < 50:
			got, gok = j.AddPrediction([]byte(model), id, v, at(sec), Position{Stream: 1, Offset: int64(step)})
			want, wok = ref.addPrediction([]byte(model), id, v, at(sec))
		default:
			got, gok = j.AddLabel([]byte(model), id, v, at(sec), Position{Stream: uint8(1 + step%2), Offset: int64(step)})
			want, wok = ref.addLabel([]byte(model), id, v, at(sec))
		}
		if gok != wok || gok && (got.Model != want.Model || string(got.RequestID) != want.RequestID ||
			got.Prediction != want.Prediction || got.Label != want.Label ||
			!got.PredictionTime.Equal(want.PredictionTime) || !got.LabelTime.Equal(want.LabelTime)) {
			t.Fatalf("seed %d step %d: joined %v %+v, reference %v %+v", seed, step, gok, got, wok, want)
		}
		for _, m := range models {
			g, _ := j.Stats(m)
			w, _ := ref.stats(m)
			if g != w {
				t.Fatalf("seed %d step %d model %s: stats %+v, reference %+v", seed, step, m, g, w)
			}
			if mj := j.models[m]; mj.indexed() != mj.held() {
				t.Fatalf("seed %d step %d model %s: %d indexed, %d held", seed, step, m, mj.indexed(), mj.held())
			}
		}
		if j.UnknownModel() != ref.unknownModel() {
			t.Fatalf("seed %d step %d: unknown %d, reference %d", seed, step, j.UnknownModel(), ref.unknownModel())
		}
		if got, want := fmt.Sprint(j.Holding()), fmt.Sprint(holdingOf(j)); got != want {
			t.Fatalf("seed %d step %d: holding %s, every pending entry's lowest %s", seed, step, got, want)
		}
		now += rng.IntN(3)
	}
	// The arena holds the live ids and at most as much garbage, past its
	// threshold.
	for _, m := range models {
		mj := j.models[m]
		live := 0
		for l := range mj.lists {
			for i := mj.lists[l].head; i != none; i = mj.slots.at(i).next {
				live += int(mj.slots.at(i).idLen + mj.slots.at(i).classLen)
			}
		}
		if len(mj.keys.buf) > max(2*live, live+minCompaction) {
			t.Fatalf("seed %d model %s: arena of %d bytes for %d live", seed, m, len(mj.keys.buf), live)
		}
	}
}

// holdingOf is Holding the long way: the lowest offset per stream over every
// pending entry within the horizon.
func holdingOf(j *Joiner) []Position {
	low := map[uint8]int64{}
	for _, m := range j.models {
		for _, l := range []uint8{pendingPrediction, pendingLabel} {
			for i := m.lists[l].head; i != none; i = m.slots.at(i).next {
				s := m.slots.at(i)
				if o, ok := low[s.stream]; s.stream != 0 && s.t >= j.cutoff && (!ok || s.at < o) {
					low[s.stream] = s.at
				}
			}
		}
	}
	var out []Position
	for s := uint8(1); s <= MaxStream; s++ {
		if o, ok := low[s]; ok {
			out = append(out, Position{Stream: s, Offset: o})
		}
	}
	return out
}
