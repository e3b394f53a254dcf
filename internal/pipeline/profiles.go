package pipeline

import (
	"encoding/json"
	"log/slog"
	"math"

	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// profiles turns a window into store rows: one per feature, one for the
// prediction and one for latency, and the model-level row (feature "") that
// carries the event count.
func profiles(m *Model, w *window, offsets []partitionOffset, log *slog.Logger) []store.WindowProfile {
	out := make([]store.WindowProfile, 0, len(w.features.Features)+3)
	state, err := json.Marshal(windowState{Version: windowStateVersion, Events: w.events,
		ProbabilityOutOfRange: w.probabilityOutOfRange, BadLabels: w.badLabels, Offsets: offsets})
	if err != nil {
		log.Error("window state not stored", "model", m.Name(), "window_start", w.start, "err", err)
	}
	out = append(out, store.WindowProfile{Model: m.Name(), WindowStart: w.start, WindowEnd: w.end, Partition: -1,
		Rows: w.events, Min: math.NaN(), Max: math.NaN(), Mean: math.NaN(), StdDev: math.NaN(), State: state})
	for _, f := range append(append([]*profile.Feature(nil), w.features.Features...), w.prediction, w.latency) {
		out = append(out, row(m, w, f, log))
	}
	return out
}

// windowStateVersion versions windowState, which outlives the process.
const windowStateVersion = 1

// windowState is the model-level row's state: the window's own counters, and
// the offset of the last message processed in each partition when it was
// written. A window reopened after a restart skips the messages at or below
// those offsets, which it has counted already.
type windowState struct {
	Version               int               `json:"v"`
	Events                uint64            `json:"events"`
	ProbabilityOutOfRange uint64            `json:"probability_out_of_range,omitempty"`
	BadLabels             uint64            `json:"bad_labels,omitempty"`
	Offsets               []partitionOffset `json:"offsets"`
}

type partitionOffset struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

func row(m *Model, w *window, f *profile.Feature, log *slog.Logger) store.WindowProfile {
	r := store.WindowProfile{Model: m.Name(), Feature: f.Spec().Name, WindowStart: w.start, WindowEnd: w.end, Partition: -1,
		Rows: f.Rows, Nulls: f.Nulls, NaN: f.NaN, PosInf: f.PosInf, NegInf: f.NegInf, Finite: f.Finite,
		Min: math.NaN(), Max: math.NaN(), Mean: math.NaN(), StdDev: math.NaN(),
		Violations: f.ViolationCounts(), Distinct: f.Distinct.Estimate()}
	if f.Finite > 0 {
		r.Min, r.Max, r.Mean = f.Min, f.Max, f.Mean
		r.StdDev = f.StdDev()
	}
	// A profile that cannot be serialised is a bug, not an input problem: the row
	// still carries the summary, and the log says what is missing.
	state, err := f.MarshalState()
	if err != nil {
		log.Error("profile state not stored", "model", m.Name(), "feature", r.Feature, "window_start", w.start, "err", err)
	}
	r.State = state
	return r
}
