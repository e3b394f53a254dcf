// Package window holds what Sentinel knows of one model over one event-time
// window: the profile of every feature, of the prediction and of the serving
// latency, with the window's own counters. It is where the two sides of the
// pipeline meet: admission fills a window event by event, the checks read it
// once it is complete, and the store keeps it as rows that a restart reads back.
package window

import (
	"fmt"
	"math"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/shadow"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/versions"
)

// Window holds one model's profiles for one event-time window.
type Window struct {
	Start, End time.Time
	Features   *profile.Set
	Prediction *profile.Feature
	Latency    *profile.Feature
	Events     uint64
	// ProbabilityOutOfRange counts finite probabilities outside [0, 1].
	ProbabilityOutOfRange uint64
	// Performance scores the predictions whose labels joined in this window;
	// nil until the first pair. BadLabels counts labels of the wrong type.
	Performance *labels.Performance
	BadLabels   uint64
	// spare is the Performance of an earlier window, reset, which the first
	// pair of this one takes: its scores' memory is the size a window's
	// labels grew it to.
	spare *labels.Performance
	// KeyedCompared and KeyedMismatch count, per feature, the requests whose
	// served and offline values were compared and found different; nil until the
	// first comparison.
	KeyedCompared, KeyedMismatch []uint64
	// Shadow and Versions hold the shadow pairs and the version mix of models
	// whose contract asks for them; nil until the first event that does.
	Shadow   *shadow.Window
	Versions *versions.Counts
	// ByVersion profiles each version on its own, for a model whose contract
	// tracks versions; nil until the first event with a version.
	ByVersion *ByVersion
	// stateBytes is the size of the profiles' states when last stored, to
	// size the next ones' buffer.
	stateBytes int
	// partialBytes is the size of AppendPartial's last, for the same.
	partialBytes int
	// read holds the profiles' states (features, prediction, latency) as
	// ReadPartialInto read them, slices of the bytes it read, while
	// readValid says the profiles are still what they say: a window of one
	// share (a model on one partition) has its rows stored from them rather
	// than every state written a second time. Anything that changes a
	// profile clears readValid.
	read      [][]byte
	readValid bool
}

// New returns an empty window of m starting at start.
func New(m *model.Model, start time.Time, size time.Duration) (*Window, error) {
	return newWindow(m, m.Specs(), start, start.Add(size))
}

// newWindow returns an empty window of m from start to end profiling the
// features of specs (none for a version's window without features).
func newWindow(m *model.Model, specs []profile.Spec, start, end time.Time) (*Window, error) {
	set, err := profile.NewSet(specs)
	if err != nil {
		return nil, err
	}
	pred, err := profile.NewFeature(m.PredictionSpec())
	if err != nil {
		return nil, err
	}
	lat, err := profile.NewFeature(m.LatencySpec())
	if err != nil {
		return nil, err
	}
	return &Window{Start: start, End: end, Features: set, Prediction: pred, Latency: lat}, nil
}

// Reset empties w for the window of the same model starting at start,
// keeping the memory of its profiles (their sketches' buckets sized to each
// feature's range, distinct-count registers, category slots): a window
// recycled costs its events, not its features, and its Performance is kept
// for the next pairs. Shadow pairs or a version mix it held are let go, not
// emptied: a window merged from this one may hold them.
func (w *Window) Reset(start time.Time, size time.Duration) {
	w.Features.Reset()
	w.Prediction.Reset()
	w.Latency.Reset()
	w.resetCounts(start, size)
}

// resetCounts is Reset but for the profiles, for a reader that replaces
// them all.
func (w *Window) resetCounts(start time.Time, size time.Duration) {
	w.readValid = false
	w.Start, w.End = start, start.Add(size)
	w.Features.ResetCounts()
	w.Events, w.ProbabilityOutOfRange, w.BadLabels = 0, 0, 0
	if w.Performance != nil {
		w.Performance.Reset()
		w.spare, w.Performance = w.Performance, nil
	}
	w.KeyedCompared, w.KeyedMismatch = nil, nil
	w.Shadow, w.Versions, w.ByVersion = nil, nil, nil
}

// Add profiles an event of the window's model.
func (w *Window) Add(m *model.Model, ev *event.Event) {
	w.Features.AddEvent(ev)
	w.addOutput(m, ev)
}

// addOutput profiles the event's prediction and latency.
func (w *Window) addOutput(m *model.Model, ev *event.Event) {
	w.readValid = false // every event comes through here, a version's too
	w.Events++
	p := ev.Prediction
	switch p.Kind {
	case event.KindAbsent:
		w.Prediction.AddMissing()
	case event.KindNull:
		w.Prediction.AddNull()
	case event.KindNumber:
		w.Prediction.AddNumber(p.Num)
		if m.PredictionKind() == config.Probability && (p.Num < 0 || p.Num > 1) && !math.IsInf(p.Num, 0) {
			w.ProbabilityOutOfRange++
		}
	case event.KindString:
		w.Prediction.AddString(p.Str)
	case event.KindBool:
		w.Prediction.AddBool(p.Bool)
	default:
		w.Prediction.AddWrongType()
	}
	if ev.LatencyMs.Kind == event.KindNumber {
		w.Latency.AddNumber(ev.LatencyMs.Num)
	}
}

// AddPair scores a prediction joined with its label in this window.
func (w *Window) AddPair(m *model.Model, pair labels.Pair) {
	if w.Performance == nil && w.spare != nil {
		w.Performance, w.spare = w.spare, nil
	}
	if w.Performance == nil {
		perf, err := labels.NewPerformance(labels.PerformanceConfig{Kind: m.PredictionKind()})
		if err != nil {
			return // a prediction kind the contract validated cannot fail here
		}
		w.Performance = perf
	}
	// Both values were parsed for this kind, so Add cannot refuse them.
	_ = w.Performance.Add(pair.Prediction, pair.Label)
}

// AddMatch counts a comparison of served and offline values.
func (w *Window) AddMatch(m *skew.Match) {
	if w.KeyedCompared == nil {
		w.KeyedCompared = make([]uint64, len(m.Compared))
		w.KeyedMismatch = make([]uint64, len(m.Compared))
	}
	for i, c := range m.Compared {
		if c {
			w.KeyedCompared[i]++
			if m.Mismatch[i] {
				w.KeyedMismatch[i]++
			}
		}
	}
}

// Merge adds o, a window of the same model and start (another partition's
// share, or events that arrived after w was written), to w. o is done with
// once merged: w may take what it holds (its Performance) rather than copy it.
func (w *Window) Merge(o *Window) error {
	if !o.Start.Equal(w.Start) {
		return fmt.Errorf("merging the window of %s into that of %s", o.Start.Format(time.RFC3339), w.Start.Format(time.RFC3339))
	}
	w.readValid = false
	if err := w.Features.Merge(o.Features); err != nil {
		return err
	}
	if err := w.Prediction.Merge(o.Prediction); err != nil {
		return err
	}
	if err := w.Latency.Merge(o.Latency); err != nil {
		return err
	}
	w.Events += o.Events
	w.ProbabilityOutOfRange += o.ProbabilityOutOfRange
	w.BadLabels += o.BadLabels
	if o.Performance != nil {
		if w.Performance == nil {
			// Taken, so that only one window holds it when either is reset.
			w.Performance, o.Performance = o.Performance, nil
		} else if err := w.Performance.Merge(o.Performance); err != nil {
			return err
		}
	}
	if err := w.mergeVersions(o); err != nil {
		return err
	}
	if o.KeyedCompared != nil {
		if w.KeyedCompared == nil {
			w.KeyedCompared = make([]uint64, len(o.KeyedCompared))
			w.KeyedMismatch = make([]uint64, len(o.KeyedMismatch))
		}
		for i := range o.KeyedCompared {
			w.KeyedCompared[i] += o.KeyedCompared[i]
			w.KeyedMismatch[i] += o.KeyedMismatch[i]
		}
	}
	return nil
}
