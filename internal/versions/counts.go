package versions

import (
	"bytes"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// Counts are one window's events of a model by version. The contract's named
// versions come first; up to config.MaxOtherVersionsLimit more are kept by
// name, and the rest are counted under Other. Events without a version are not
// counted. The contract's own, smaller max_others is the Tracker's to apply:
// it knows which versions earlier windows gave a label, while a window's counts
// see versions in the order its events happen to arrive, and would otherwise
// let a newcomer take the label of a version already followed.
type Counts struct {
	named int
	// labels, events and last (the latest event time, Unix nanoseconds) are
	// indexed alike.
	labels []string
	events []uint64
	last   []int64
	// Other and OtherLast count the versions past the bound.
	Other     uint64
	OtherLast int64
}

// NewCounts returns empty counts for a model of contract c.
func NewCounts(c *config.Contract) *Counts {
	named := c.NamedVersions()
	n := len(named) + config.MaxOtherVersionsLimit
	w := &Counts{named: len(named), labels: make([]string, len(named), n),
		events: make([]uint64, len(named), n), last: make([]int64, len(named), n)}
	copy(w.labels, named)
	return w
}

// Add counts an event of version at event time t.
func (w *Counts) Add(version []byte, t time.Time) {
	if len(version) == 0 {
		return
	}
	ns := t.UnixNano()
	for i, l := range w.labels {
		// The comparison does not allocate: the compiler converts in place.
		if l == string(version) {
			w.count(i, 1, ns)
			return
		}
	}
	if len(w.labels) < w.named+config.MaxOtherVersionsLimit && !bytes.Equal(version, []byte(config.VersionOther)) {
		w.labels = append(w.labels, string(version))
		w.events = append(w.events, 0)
		w.last = append(w.last, 0)
		w.count(len(w.labels)-1, 1, ns)
		return
	}
	w.Other++
	w.OtherLast = max(w.OtherLast, ns)
}

func (w *Counts) count(i int, n uint64, last int64) {
	w.events[i] += n
	w.last[i] = max(w.last[i], last)
}

// Merge adds o, the counts of the same model's window from another
// partition; versions o has by name that w has no room for go to Other.
func (w *Counts) Merge(o *Counts) {
	for j, l := range o.labels {
		if o.events[j] == 0 {
			continue
		}
		i := w.index(l)
		if i < 0 && len(w.labels) < w.named+config.MaxOtherVersionsLimit {
			w.labels, w.events, w.last = append(w.labels, l), append(w.events, 0), append(w.last, 0)
			i = len(w.labels) - 1
		}
		if i < 0 {
			w.Other += o.events[j]
			w.OtherLast = max(w.OtherLast, o.last[j])
			continue
		}
		w.count(i, o.events[j], o.last[j])
	}
	w.Other += o.Other
	w.OtherLast = max(w.OtherLast, o.OtherLast)
}

func (w *Counts) index(label string) int {
	for i, l := range w.labels {
		if l == label {
			return i
		}
	}
	return -1
}

// Each calls f for every version counted, Other last, with its events and
// latest event time.
func (w *Counts) Each(f func(label string, events uint64, last time.Time)) {
	for i, l := range w.labels {
		if w.events[i] > 0 {
			f(l, w.events[i], time.Unix(0, w.last[i]).UTC())
		}
	}
	if w.Other > 0 {
		f(config.VersionOther, w.Other, time.Unix(0, w.OtherLast).UTC())
	}
}
