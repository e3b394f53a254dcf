package labels

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"time"
)

// JoinerConfig bounds a Joiner. Both limits apply per model and per side, so one
// model's burst cannot push another model's predictions out.
type JoinerConfig struct {
	// MaxDelay is how long ground truth may lag its prediction: a prediction older
	// than its label's time minus MaxDelay is not joined, and Expire forgets
	// predictions and labels older than the watermark minus MaxDelay.
	MaxDelay time.Duration
	// MaxPending caps the predictions waiting for a label, and separately the labels
	// waiting for a prediction; the oldest inserted is evicted first.
	MaxPending int
}

// Position is where a prediction or label was read, for a caller that must
// know which reads the join still holds (Holding): a stream of the caller's
// numbering, from 1 to MaxStream, and the offset in it. The zero Position is
// none.
type Position struct {
	Stream uint8
	Offset int64
}

// MaxStream is the highest Position.Stream.
const MaxStream = maxStreams - 1

const maxStreams = 4

// Pair is a prediction joined with its ground truth.
type Pair struct {
	Model string
	// RequestID is the request id of the call that completed the pair, not a
	// copy: the Joiner keeps no string per request, and a pair is scored at once.
	RequestID      []byte
	Prediction     Value
	Label          Value
	PredictionTime time.Time
	LabelTime      time.Time
	// Waited is the Position of the side that waited for the other.
	Waited Position
}

// JoinStats holds a model's join counters (cumulative, for Prometheus counters) and
// its pending entries (for gauges).
type JoinStats struct {
	Joined uint64
	// PredictionsExpired counts predictions forgotten unlabelled because they were
	// older than MaxDelay before their label: by Expire, on arrival behind the
	// watermark, or at join time.
	PredictionsExpired uint64
	// PredictionsEvicted counts predictions pushed out by MaxPending.
	PredictionsEvicted uint64
	// PredictionDuplicates counts predictions for a request id already held: a
	// pending prediction replaced by a newer copy, or a copy arriving after the
	// request was joined (dropped).
	PredictionDuplicates uint64
	LabelsExpired        uint64
	LabelsEvicted        uint64
	LabelDuplicates      uint64
	PendingPredictions   int
	PendingLabels        int
}

// Joiner pairs predictions with labels that arrive later (or, across topics and
// partitions, earlier) by (model, request id).
//
// Duplicates: while a request is pending, the last copy of its prediction (or of
// its label) wins and the replaced one is counted as a duplicate. Once a request has
// been joined it is remembered (up to MaxPending joined requests per model, and not
// past the MaxDelay horizon) and later copies of either side are dropped and counted
// as duplicates, so at-least-once delivery does not join a request twice.
//
// Memory: each model holds at most 3×MaxPending entries (pending predictions,
// pending labels, joined requests) in a slab with intrusive FIFO lists, found
// through an open-addressing table by a 64-bit hash of the request id, whose
// bytes live in one byte arena per model to confirm the match. Nothing a request
// leaves behind holds a pointer, so a million pending predictions cost the
// garbage collector nothing to scan, and a request id costs no allocation: the
// arena, table and slab grow to the working set and are reused. Class values
// are interned (up to maxJoinClasses names; rarer ones are kept in the arena
// beside their request id). Every operation is O(1), amortised.
// Expiry walks each FIFO from its oldest insertion and stops at the first entry
// still inside the horizon; an entry inserted out of event-time order lingers until
// it reaches the head or is evicted, but is treated as expired as soon as the
// horizon passes it, so lingering never changes what is joined.
//
// Time is event time only (the prediction's and label's timestamps and the
// watermark passed to Expire); the Joiner never reads a clock. It is not safe for
// concurrent use.
type Joiner struct {
	maxDelay   int64
	maxPending int
	models     map[string]*modelJoin
	unknown    uint64
	// hash hashes request ids with a seed of this Joiner's, so that payloads
	// cannot aim at collisions (which are resolved, but cost probes).
	hash func([]byte) uint64
	// classes interns up to maxClasses class values: slots hold an index into
	// classNames.
	classes    map[string]int32
	classNames []string
	maxClasses int
	// cutoff is the latest Expire horizon in Unix nanoseconds: entries older than it
	// are gone, logically if not yet physically.
	cutoff int64
}

// NewJoiner returns a Joiner for the given models; events for other models are
// dropped and counted (UnknownModel) so that payloads cannot grow its memory.
func NewJoiner(cfg JoinerConfig, models []string) (*Joiner, error) {
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
	seed := maphash.MakeSeed()
	j := &Joiner{
		maxDelay:   int64(cfg.MaxDelay),
		maxPending: cfg.MaxPending,
		models:     make(map[string]*modelJoin, len(models)),
		cutoff:     math.MinInt64,
		hash:       func(b []byte) uint64 { return maphash.Bytes(seed, b) },
		classes:    make(map[string]int32),
		maxClasses: maxJoinClasses,
	}
	for _, m := range models {
		if _, dup := j.models[m]; dup {
			return nil, fmt.Errorf("drift: joiner model %q listed twice", m)
		}
		mj := &modelJoin{j: j, name: m, free: none}
		for l := range mj.lists {
			mj.lists[l] = fifo{head: none, tail: none}
		}
		j.models[m] = mj
	}
	return j, nil
}

// UnknownModel counts events dropped because their model was not given to NewJoiner.
func (j *Joiner) UnknownModel() uint64 { return j.unknown }

// Stats returns a model's counters; ok is false for a model the Joiner does not know.
func (j *Joiner) Stats(model string) (s JoinStats, ok bool) {
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
func (j *Joiner) AddPrediction(model, requestID []byte, v Value, eventTime time.Time, at Position) (Pair, bool) {
	return j.add(pendingPrediction, model, requestID, v, eventTime, at)
}

// AddLabel records a label. When its prediction is pending and within MaxDelay,
// the two are joined and the pair returned; otherwise the label waits for its
// prediction.
func (j *Joiner) AddLabel(model, requestID []byte, v Value, eventTime time.Time, at Position) (Pair, bool) {
	return j.add(pendingLabel, model, requestID, v, eventTime, at)
}

// Holding returns, per stream, the lowest offset of a prediction or label
// still waiting within the horizon: what a reader must read again to rebuild
// the join after a restart. Entries without a Position hold nothing.
func (j *Joiner) Holding() []Position {
	var low [maxStreams]int64
	var found [maxStreams]bool
	for _, m := range j.models {
		for _, l := range []uint8{pendingPrediction, pendingLabel} {
			f := &m.lists[l]
			// Each stream's entries are on the list in the order read, so
			// its first entry within the horizon is its lowest offset.
			want := 0
			for s := 1; s < maxStreams; s++ {
				if f.streams[s] > 0 {
					want++
				}
			}
			var seen [maxStreams]bool
			for i := f.head; i != none && want > 0; i = m.slots.at(i).next {
				s := m.slots.at(i)
				if s.stream == 0 || seen[s.stream] || s.t < j.cutoff {
					continue
				}
				seen[s.stream] = true
				want--
				if !found[s.stream] || s.at < low[s.stream] {
					low[s.stream], found[s.stream] = s.at, true
				}
			}
		}
	}
	var out []Position
	for s := 1; s < maxStreams; s++ {
		if found[s] {
			out = append(out, Position{Stream: uint8(s), Offset: low[s]})
		}
	}
	return out
}

// Expire forgets predictions and labels older than watermark minus MaxDelay, and
// joined requests as old, which can no longer be joined once the label stream's
// event time has passed the watermark. A watermark earlier than a previous one is
// ignored.
func (j *Joiner) Expire(watermark time.Time) {
	c := watermark.UnixNano() - j.maxDelay
	if c <= j.cutoff {
		return
	}
	j.cutoff = c
	for _, m := range j.models {
		for l := range m.lists {
			for m.lists[l].head != none && m.slots.at(m.lists[l].head).t < c {
				m.drop(m.lists[l].head, true)
			}
		}
	}
}

func (j *Joiner) add(side uint8, model, requestID []byte, v Value, eventTime time.Time, at Position) (Pair, bool) {
	m := j.models[string(model)]
	if m == nil {
		j.unknown++
		return Pair{}, false
	}
	if at.Stream >= maxStreams {
		at = Position{}
	}
	t := eventTime.UnixNano()
	h := j.hash(requestID)
	if i := m.find(h, requestID); i != none {
		s := m.slots.at(i)
		switch s.list {
		case side:
			m.count(side, duplicate)
			if t < j.cutoff {
				// The newer copy is already past the horizon; the older one stays.
				return Pair{}, false
			}
			m.setValue(i, requestID, v)
			s.t = t
			m.unlink(i)
			s.at, s.stream = at.Offset, at.Stream
			m.push(side, i)
			return Pair{}, false
		case joined:
			m.count(side, duplicate)
			return Pair{}, false
		}
		// s is the other side.
		p, l, pt, lt, waited := m.value(i), v, s.t, t, Position{Stream: s.stream, Offset: s.at}
		if side == pendingPrediction {
			p, l, pt, lt = v, p, t, s.t
		}
		switch {
		case s.t < j.cutoff:
			m.drop(i, true)
		case pt < lt-j.maxDelay:
			// The prediction was forgotten before its label came, as it would have
			// been by Expire; a label keeps waiting, as it would have then.
			m.counts[pendingPrediction][expired]++
			if side == pendingPrediction {
				return Pair{}, false
			}
			m.remove(i)
		default:
			m.joined++
			m.unlink(i)
			if m.lists[joined].n >= j.maxPending {
				m.remove(m.lists[joined].head)
			}
			m.setValue(i, requestID, Value{})
			s.t = max(pt, lt)
			m.push(joined, i)
			return Pair{
				Model: m.name, RequestID: requestID,
				Prediction: p, Label: l,
				PredictionTime: time.Unix(0, pt).UTC(), LabelTime: time.Unix(0, lt).UTC(),
				Waited: waited,
			}, true
		}
	}
	if t < j.cutoff {
		m.count(side, expired)
		return Pair{}, false
	}
	if m.lists[side].n >= j.maxPending {
		m.drop(m.lists[side].head, m.slots.at(m.lists[side].head).t < j.cutoff)
	}
	m.insert(side, h, requestID, v, t, at)
	return Pair{}, false
}
