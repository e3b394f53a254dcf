package versions

import (
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
)

// Tracker follows a model's versions across its windows, in event time, and
// reports each window's availability results. It holds at most the named
// versions, maxOthers more and Other. It is not safe for concurrent use.
//
// What it knows lives in memory: after a restart it learns the versions
// again from the first window, which reports no version as new.
type Tracker struct {
	named      []string
	maxOthers  int
	maxSilence time.Duration
	// versions are the labels followed, in the order they were first seen
	// (the named ones first), so that results come in a stable order.
	versions []*version
	started  bool
	// period is the reference period; current and previous count each
	// label's events in the period in progress and the last one, whose
	// busiest version is a canary's reference by default.
	period            time.Duration
	periodStart       time.Time
	current, previous map[string]uint64
}

type version struct {
	label string
	named bool
	// sent says the version has sent since the tracker started; last is its
	// latest event (for a named version that has not sent, the start).
	sent bool
	last time.Time
	// fresh is how many more windows report the version new.
	fresh int
}

// newWindows is how many windows report a version new: two, so that the
// finding outlasts an alert's `for` of one window.
const newWindows = 2

// NewTracker returns the tracker of a model of contract c whose reference
// periods last period, or nil when the contract does not ask for the version
// checks.
func NewTracker(c *config.Contract, period time.Duration) *Tracker {
	if !c.TracksVersions() {
		return nil
	}
	t := &Tracker{named: c.NamedVersions(), maxOthers: maxOthers(c), maxSilence: config.DefaultVersionSilence,
		period: period, current: map[string]uint64{}}
	if c.Versions != nil && c.Versions.MaxSilence > 0 {
		t.maxSilence = c.Versions.MaxSilence
	}
	return t
}

func (t *Tracker) find(label string) *version {
	for _, v := range t.versions {
		if v.label == label {
			return v
		}
	}
	return nil
}

func (t *Tracker) others() int {
	n := 0
	for _, v := range t.versions {
		if !v.named && v.label != config.VersionOther {
			n++
		}
	}
	return n
}

// Busiest is the version that sent the most events in the last complete
// reference period, or "" before one has passed (since the tracker started).
func (t *Tracker) Busiest() string {
	best, most := "", uint64(0)
	for _, v := range t.versions {
		if n := t.previous[v.label]; n > most && v.label != config.VersionOther {
			best, most = v.label, n
		}
	}
	return best
}

// countPeriod adds a window's events by version to its reference period's.
func (t *Tracker) countPeriod(start time.Time, inWindow map[string]uint64) {
	if t.period > 0 {
		p := int64(t.period)
		if ps := time.Unix(0, start.UnixNano()/p*p).UTC(); !ps.Equal(t.periodStart) {
			if !t.periodStart.IsZero() {
				t.previous, t.current = t.current, make(map[string]uint64, len(t.current))
			}
			t.periodStart = ps
		}
	}
	for l, n := range inWindow {
		t.current[l] += n
	}
}

// Follows reports whether the version labelled label has a label of its own
// in the results: after Results, the window's versions folded into other
// are those it does not follow.
func (t *Tracker) Follows(label string) bool { return t.find(label) != nil }

// Results reports a closed window of the model: events is the model's events
// in it, c its counts by version (nil when no event carried a version). For
// each version followed: its events and share (the mix), and while the model
// sends, the event-time seconds since the version's last event, breached past
// versions.max_silence; and a new_version finding, in the two windows from the
// one in which a version is first seen since the tracker started. A version not named that has been silent past
// max_silence is reported once so, then forgotten, which frees its label.
func (t *Tracker) Results(model string, start, end time.Time, events uint64, c *Counts) []check.Result {
	if events == 0 {
		return nil // the model's own staleness speaks for it
	}
	if !t.started {
		for _, n := range t.named {
			t.versions = append(t.versions, &version{label: n, named: true, last: start})
		}
	}
	var out []check.Result
	add := func(label, metric string, v, threshold float64) {
		out = append(out, check.Result{Model: model, WindowStart: start, WindowEnd: end, Kind: check.Availability,
			Feature: check.VersionFeature(label), Metric: metric, Value: v, Threshold: threshold,
			Breached: check.Breaches(v, threshold, check.Above)})
	}
	inWindow := map[string]uint64{}
	if c != nil {
		c.Each(func(label string, n uint64, last time.Time) {
			v := t.find(label)
			if v == nil && label != config.VersionOther && t.others() >= t.maxOthers {
				label, v = config.VersionOther, t.find(config.VersionOther)
			}
			if v == nil {
				v = &version{label: label}
				t.versions = append(t.versions, v)
			}
			if !v.sent && t.started {
				v.fresh = newWindows
			}
			v.sent = true
			if last.After(v.last) {
				v.last = last
			}
			inWindow[label] += n
		})
	}
	t.countPeriod(start, inWindow)
	silence := t.maxSilence.Seconds()
	kept := t.versions[:0]
	for _, v := range t.versions {
		n := inWindow[v.label]
		if v.fresh > 0 {
			add(v.label, check.NewVersion, 1, 0)
			v.fresh--
		}
		add(v.label, check.Events, float64(n), check.NoThreshold())
		add(v.label, check.EventShare, float64(n)/float64(events), check.NoThreshold())
		quiet := end.Sub(v.last).Seconds()
		switch {
		case v.named:
			add(v.label, check.SecondsSinceEvent, quiet, silence)
		case quiet > silence:
			add(v.label, check.SecondsSinceEvent, quiet, silence)
			continue // retired, as rollouts retire versions
		default:
			add(v.label, check.SecondsSinceEvent, quiet, check.NoThreshold())
		}
		kept = append(kept, v)
	}
	clear(t.versions[len(kept):])
	t.versions = kept
	t.started = true
	return out
}

func maxOthers(c *config.Contract) int {
	if v := c.Versions; v != nil && v.MaxOthers != nil {
		return *v.MaxOthers
	}
	return config.DefaultMaxOtherVersions
}
