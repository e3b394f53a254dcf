package window

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// Offset is the offset of the last message of a partition that a stored window
// had counted when it was written.
type Offset struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// stateVersion versions state, which outlives the process.
const stateVersion = 1

// state is the model-level row's state: the window's own counters, the
// offset through which each partition's messages are counted in it, and
// whether it was complete when written. Messages read again after a restart
// at or below those offsets are skipped: the window holds them already.
type state struct {
	Version               int      `json:"v"`
	Events                uint64   `json:"events"`
	ProbabilityOutOfRange uint64   `json:"probability_out_of_range,omitempty"`
	BadLabels             uint64   `json:"bad_labels,omitempty"`
	Offsets               []Offset `json:"offsets"`
	// Complete is set when every partition had passed the window's end: a
	// window written otherwise (drained at a shutdown) is reopened at start.
	Complete bool `json:"complete,omitempty"`
	// Performance (labels.Performance's state) and the keyed comparisons
	// let a window reopened after a restart go on from the pairs and
	// requests it had.
	Performance   []byte   `json:"performance,omitempty"`
	KeyedCompared []uint64 `json:"keyed_compared,omitempty"`
	KeyedMismatch []uint64 `json:"keyed_mismatch,omitempty"`
}

// CountedOffsets reads the offsets a stored window counted from its
// model-level row's state (Rows' first, store.History.Counted's), without
// reading its profiles.
func CountedOffsets(row store.WindowProfile) ([]Offset, error) {
	var st struct {
		Version int      `json:"v"`
		Offsets []Offset `json:"offsets"`
	}
	if err := json.Unmarshal(row.State, &st); err != nil {
		return nil, fmt.Errorf("reading the state of window %s of model %s: %w", row.WindowStart.Format(time.RFC3339Nano), row.Model, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("window state version %d is not supported", st.Version)
	}
	return st.Offsets, nil
}

// Stored is a window read back from the store.
type Stored struct {
	*Window
	// Offsets are, per partition, the offset through which its messages are
	// counted in the window.
	Offsets []Offset
	// Complete says every partition had passed the window when it was written.
	Complete bool
}

// AppendRows appends the window's store rows to dst: one per feature, one
// for the prediction and one for latency, and the model-level row (feature
// "") that carries the event count, the offsets counted and completeness. The
// profiles' states are appended to states, which is returned; the rows hold
// slices of it, so the bytes appended must be left alone until the rows are
// written. A states array without room for the window's is not grown (that
// would copy the states of the windows before it) but replaced by a larger one:
// the caller recycles what it gets back once the rows are durable, and the
// windows before keep the array they were written in.
func (w *Window) AppendRows(dst []store.WindowProfile, states []byte, m *model.Model, offsets []Offset, complete bool, log *slog.Logger) ([]store.WindowProfile, []byte) {
	dst = slices.Grow(dst, len(w.Features.Features)+3)
	own := state{Version: stateVersion, Events: w.Events,
		ProbabilityOutOfRange: w.ProbabilityOutOfRange, BadLabels: w.BadLabels, Offsets: offsets, Complete: complete,
		KeyedCompared: w.KeyedCompared, KeyedMismatch: w.KeyedMismatch}
	if w.Performance != nil {
		own.Performance = w.Performance.MarshalState()
	}
	st, err := json.Marshal(own)
	if err != nil {
		log.Error("window state not stored", "model", m.Name(), "window_start", w.Start, "err", err)
	}
	first := len(dst)
	dst = append(dst, store.WindowProfile{Model: m.Name(), WindowStart: w.Start, WindowEnd: w.End, Partition: -1,
		Rows: w.Events, Min: math.NaN(), Max: math.NaN(), Mean: math.NaN(), StdDev: math.NaN(), State: st})
	// A window read from one share has its states already: its rows take the
	// share's bytes, which they keep until they are written.
	read := w.readValid
	// Sized by the last window's (windows are recycled).
	if need := max(w.stateBytes+w.stateBytes/8, 256*(len(w.Features.Features)+2)); !read && cap(states)-len(states) < need {
		states = make([]byte, 0, max(need, 2*cap(states)))
	}
	start := len(states)
	add := func(f *profile.Feature) {
		r := w.row(m, f)
		if !read {
			// While the profile is at hand, not in a second pass.
			begin := len(states)
			states = f.AppendState(states)
			r.State = states[begin:len(states):len(states)]
		}
		dst = append(dst, r)
	}
	for _, f := range w.Features.Features {
		add(f)
	}
	add(w.Prediction)
	add(w.Latency)
	if read {
		for k, st := range w.read {
			dst[first+1+k].State = st
		}
		clear(w.read)
		w.read, w.readValid = w.read[:0], false
		return dst, states
	}
	w.stateBytes = len(states) - start
	return dst, states
}

func (w *Window) row(m *model.Model, f *profile.Feature) store.WindowProfile {
	r := store.WindowProfile{Model: m.Name(), Feature: f.Spec().Name, WindowStart: w.Start, WindowEnd: w.End, Partition: -1,
		Rows: f.Rows, Nulls: f.Nulls, NaN: f.NaN, PosInf: f.PosInf, NegInf: f.NegInf, Finite: f.Finite,
		Min: math.NaN(), Max: math.NaN(), Mean: math.NaN(), StdDev: math.NaN(), Distinct: f.Distinct.Estimate()}
	for _, n := range f.Violations {
		if n > 0 {
			r.Violations = f.ViolationCounts()
			break
		}
	}
	if f.Finite > 0 {
		r.Min, r.Max, r.Mean = f.Min, f.Max, f.Mean
		r.StdDev = f.StdDev()
	}
	return r
}

// Restore rebuilds one window from its stored rows; nil when the model-level
// row, which carries the offsets, is missing (a window written by an older
// version).
func Restore(m *model.Model, start time.Time, size time.Duration, rows []store.WindowProfile) (*Stored, error) {
	w, err := New(m, start, size)
	if err != nil {
		return nil, err
	}
	specs := m.Specs()
	index := make(map[string]int, len(specs))
	for i, s := range specs {
		index[s.Name] = i
	}
	var st *state
	for _, r := range rows {
		switch {
		case r.Feature == "":
			st = &state{}
			if err := json.Unmarshal(r.State, st); err != nil {
				return nil, fmt.Errorf("reading window state: %w", err)
			}
			if st.Version != stateVersion {
				return nil, fmt.Errorf("window state version %d is not supported", st.Version)
			}
		case r.Feature == check.PredictionFeature:
			if w.Prediction, err = profile.UnmarshalState(m.PredictionSpec(), r.State); err != nil {
				return nil, err
			}
		case r.Feature == model.LatencyFeature:
			if w.Latency, err = profile.UnmarshalState(m.LatencySpec(), r.State); err != nil {
				return nil, err
			}
		default:
			i, ok := index[r.Feature]
			if !ok {
				continue // a feature since removed from the contract
			}
			if w.Features.Features[i], err = profile.UnmarshalState(specs[i], r.State); err != nil {
				return nil, err
			}
		}
	}
	if st == nil {
		return nil, nil
	}
	w.Events, w.ProbabilityOutOfRange, w.BadLabels = st.Events, st.ProbabilityOutOfRange, st.BadLabels
	if st.Performance != nil {
		if w.Performance, err = labels.UnmarshalState(st.Performance); err != nil {
			return nil, err
		}
	}
	if len(st.KeyedCompared) != len(st.KeyedMismatch) || (st.KeyedCompared != nil && len(st.KeyedCompared) != len(specs)) {
		return nil, fmt.Errorf("reading window state: keyed counts for %d and %d features, the contract has %d", len(st.KeyedCompared), len(st.KeyedMismatch), len(specs))
	}
	w.KeyedCompared, w.KeyedMismatch = st.KeyedCompared, st.KeyedMismatch
	return &Stored{Window: w, Offsets: st.Offsets, Complete: st.Complete}, nil
}
