package skew

import (
	"math"
	"time"

	"github.com/sentinel-ml/sentinel/internal/event"
)

// KeyedOptions bound a KeyedJoin.
type KeyedOptions struct {
	// Tolerance is the relative difference under which two numbers are equal
	// (absolute below 1), so that a float32 round trip is not a mismatch.
	Tolerance float64
	// MaxPending caps the requests waiting for their other side; the oldest go
	// first.
	MaxPending int
	// MaxDelay is how far apart in event time the two sides may arrive.
	MaxDelay time.Duration
}

// KeyedJoin pairs the feature values a model was served with the values the
// offline pipeline computed for the same request id, and says, per feature,
// whether they differ: keyed train-serve skew. It keeps a bounded set of
// requests waiting for their other side.
type KeyedJoin struct {
	opts    KeyedOptions
	index   map[string]int
	pending map[string]*keyedEntry
	fifo    []string // pending keys by arrival; expired or evicted keys stay until popped
	head    int
	scratch Match

	// Joined, Expired and Evicted count requests compared, forgotten past
	// MaxDelay, and pushed out by MaxPending.
	Joined, Expired, Evicted uint64
}

// Match is the comparison of one request: per feature, whether both sides had it
// and whether they differ. It is valid until the next Add.
type Match struct {
	Compared, Mismatch []bool
}

type keyedValue struct {
	kind event.Kind
	num  float64
	str  string
}

type keyedEntry struct {
	offline bool
	at      time.Time
	values  []keyedValue
}

// NewKeyedJoin compares the named features.
func NewKeyedJoin(features []string, opts KeyedOptions) *KeyedJoin {
	k := &KeyedJoin{opts: opts, index: make(map[string]int, len(features)), pending: make(map[string]*keyedEntry),
		scratch: Match{Compared: make([]bool, len(features)), Mismatch: make([]bool, len(features))}}
	for i, f := range features {
		k.index[f] = i
	}
	return k
}

// AddServing offers a served event's features; it returns the match when the
// offline values were waiting.
func (k *KeyedJoin) AddServing(requestID []byte, fields []event.Field, at time.Time) (*Match, bool) {
	return k.add(false, requestID, fields, at)
}

// AddOffline offers the offline values of a request.
func (k *KeyedJoin) AddOffline(requestID []byte, fields []event.Field, at time.Time) (*Match, bool) {
	return k.add(true, requestID, fields, at)
}

func (k *KeyedJoin) add(offline bool, requestID []byte, fields []event.Field, at time.Time) (*Match, bool) {
	if e, ok := k.pending[string(requestID)]; ok {
		if e.offline == offline {
			// The same side again (a redelivery): the newer copy wins.
			e.values, e.at = k.values(e.values[:0], fields), at
			return nil, false
		}
		delete(k.pending, string(requestID))
		if d := at.Sub(e.at); d > k.opts.MaxDelay || -d > k.opts.MaxDelay {
			k.Expired++
			return nil, false
		}
		k.Joined++
		return k.compare(e.values, fields), true
	}
	key := string(requestID)
	k.pending[key] = &keyedEntry{offline: offline, at: at, values: k.values(nil, fields)}
	k.fifo = append(k.fifo, key)
	for len(k.pending) > k.opts.MaxPending {
		k.pop(&k.Evicted)
	}
	k.compact()
	return nil, false
}

// values keeps the features the join compares, strings copied: the event's
// memory is reused.
func (k *KeyedJoin) values(dst []keyedValue, fields []event.Field) []keyedValue {
	if cap(dst) < len(k.index) {
		dst = make([]keyedValue, len(k.index))
	}
	dst = dst[:len(k.index)]
	clear(dst)
	for _, f := range fields {
		i, ok := k.index[string(f.Name)]
		if !ok {
			continue
		}
		v := keyedValue{kind: f.Value.Kind, num: f.Value.Num}
		switch f.Value.Kind {
		case event.KindString:
			v.str = string(f.Value.Str)
		case event.KindBool:
			v.num = 0
			if f.Value.Bool {
				v.num = 1
			}
		}
		dst[i] = v
	}
	return dst
}

func (k *KeyedJoin) compare(stored []keyedValue, fields []event.Field) *Match {
	m := &k.scratch
	clear(m.Compared)
	clear(m.Mismatch)
	for _, f := range fields {
		i, ok := k.index[string(f.Name)]
		if !ok {
			continue
		}
		a := stored[i]
		if a.kind == event.KindAbsent {
			continue
		}
		m.Compared[i] = true
		m.Mismatch[i] = !k.equal(a, f.Value)
	}
	return m
}

func (k *KeyedJoin) equal(a keyedValue, b event.Value) bool {
	bnum := b.Num
	if b.Kind == event.KindBool {
		bnum = 0
		if b.Bool {
			bnum = 1
		}
	}
	switch {
	case a.kind != b.Kind:
		return false
	case a.kind == event.KindString:
		return a.str == string(b.Str)
	case a.kind == event.KindNumber:
		if math.IsNaN(a.num) || math.IsNaN(bnum) {
			return math.IsNaN(a.num) && math.IsNaN(bnum)
		}
		if a.num == bnum {
			return true
		}
		return math.Abs(a.num-bnum) <= k.opts.Tolerance*math.Max(1, math.Max(math.Abs(a.num), math.Abs(bnum)))
	case a.kind == event.KindBool:
		return a.num == bnum
	}
	return true // both null, or both nested values
}

// Expire forgets requests older than the watermark minus MaxDelay.
func (k *KeyedJoin) Expire(watermark time.Time) {
	horizon := watermark.Add(-k.opts.MaxDelay)
	for k.head < len(k.fifo) {
		e, ok := k.pending[k.fifo[k.head]]
		if ok && !e.at.Before(horizon) {
			break
		}
		k.pop(&k.Expired)
	}
	k.compact()
}

// pop drops the oldest key; it counts only when the key was still pending.
func (k *KeyedJoin) pop(counter *uint64) {
	key := k.fifo[k.head]
	k.fifo[k.head] = ""
	k.head++
	if _, ok := k.pending[key]; ok {
		delete(k.pending, key)
		*counter++
	}
}

// compact reclaims the popped prefix of the FIFO once it is half of it.
func (k *KeyedJoin) compact() {
	if k.head > 1024 && k.head*2 > len(k.fifo) {
		k.fifo = append(k.fifo[:0], k.fifo[k.head:]...)
		k.head = 0
	}
}

// Pending returns how many requests wait for their other side.
func (k *KeyedJoin) Pending() int { return len(k.pending) }
