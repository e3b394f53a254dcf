package pipeline

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/drift"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/skew"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// topicPartition identifies where a message came from, for offset tracking.
type topicPartition struct {
	topic     string
	partition int
}

// window holds one model's profiles for one event-time window, and the lowest
// offset of each partition that fed it: those offsets may be committed only once
// the window is written.
type window struct {
	start, end time.Time
	features   *profile.Set
	prediction *profile.Feature
	latency    *profile.Feature
	events     uint64
	// probabilityOutOfRange counts finite probabilities outside [0, 1].
	probabilityOutOfRange uint64
	// performance scores the predictions whose labels joined in this window;
	// nil until the first pair. badLabels counts labels of the wrong type.
	performance *drift.Performance
	badLabels   uint64
	// keyedCompared and keyedMismatch count, per feature, the requests whose
	// served and offline values were compared and found different.
	keyedCompared, keyedMismatch []uint64
	minOffset                    map[topicPartition]int64
	held                         bool
	lastHeld                     topicPartition
	// counted is set on a window reopened after a restart: per partition, the
	// last offset its stored profiles already include.
	counted map[topicPartition]int64
}

func newWindow(m *Model, start time.Time, size time.Duration) (*window, error) {
	set, err := profile.NewSet(m.specs)
	if err != nil {
		return nil, err
	}
	pred, err := profile.NewFeature(m.predictionSpec())
	if err != nil {
		return nil, err
	}
	lat, err := profile.NewFeature(m.latencySpec())
	if err != nil {
		return nil, err
	}
	return &window{start: start, end: start.Add(size), features: set, prediction: pred, latency: lat,
		minOffset: make(map[topicPartition]int64)}, nil
}

// hold records that the message at offset feeds this window.
func (w *window) hold(tp topicPartition, offset int64) {
	// A partition's offsets only grow, so its first message in the window holds
	// the lowest; consecutive messages mostly come from one partition.
	if w.held && tp == w.lastHeld {
		return
	}
	if o, ok := w.minOffset[tp]; !ok || offset < o {
		w.minOffset[tp] = offset
	}
	w.held, w.lastHeld = true, tp
}

func (w *window) add(m *Model, ev *event.Event) {
	w.events++
	w.features.AddEvent(ev)
	p := ev.Prediction
	switch p.Kind {
	case event.KindAbsent:
		w.prediction.AddMissing()
	case event.KindNull:
		w.prediction.AddNull()
	case event.KindNumber:
		w.prediction.AddNumber(p.Num)
		if m.predictionKind() == config.Probability && (p.Num < 0 || p.Num > 1) && !math.IsInf(p.Num, 0) {
			w.probabilityOutOfRange++
		}
	case event.KindString:
		w.prediction.AddString(p.Str)
	case event.KindBool:
		w.prediction.AddBool(p.Bool)
	default:
		w.prediction.AddWrongType()
	}
	if ev.LatencyMs.Kind == event.KindNumber {
		w.latency.AddNumber(ev.LatencyMs.Num)
	}
}

func (w *window) addPair(m *Model, pair drift.Pair) {
	if w.performance == nil {
		perf, err := drift.NewPerformance(drift.PerformanceConfig{Kind: m.predictionKind()})
		if err != nil {
			return // a prediction kind the contract validated cannot fail here
		}
		w.performance = perf
	}
	// Both values were parsed for this kind, so Add cannot refuse them.
	_ = w.performance.Add(pair.Prediction, pair.Label)
}

func (w *window) addMatch(m *skew.Match) {
	if w.keyedCompared == nil {
		w.keyedCompared = make([]uint64, len(m.Compared))
		w.keyedMismatch = make([]uint64, len(m.Compared))
	}
	for i, c := range m.Compared {
		if c {
			w.keyedCompared[i]++
			if m.Mismatch[i] {
				w.keyedMismatch[i]++
			}
		}
	}
}

// summaries is what drift compares of earlier windows of a model: per feature
// and for the prediction, the counts the contract's statistic needs.
type summaries struct {
	features   []*profile.Summary
	prediction *profile.Summary
	empty      bool
	// through is the end of the latest window added. It is stored with the
	// summaries: windows a restart reopens that they already hold are not
	// added again when they close again.
	through time.Time
}

func newSummaries(m *Model) (*summaries, error) {
	s := &summaries{features: make([]*profile.Summary, len(m.specs)), empty: true}
	for i, spec := range m.specs {
		var err error
		if s.features[i], err = profile.NewSummary(spec, comparesShape(m.Contract.Features[i].Drift.Method)); err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name(), err)
		}
	}
	var err error
	if s.prediction, err = profile.NewSummary(m.predictionSpec(), comparesShape(m.predictionDrift().Method)); err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	return s, nil
}

// comparesShape reports whether a drift statistic compares whole distributions
// (their sketches) rather than bin or category counts.
func comparesShape(m config.DriftMethod) bool {
	return m == config.KSPValue || m == config.WassersteinNormed
}

func (s *summaries) reset() {
	for _, f := range s.features {
		f.Reset()
	}
	s.prediction.Reset()
	s.empty = true
	s.through = time.Time{}
}

func (s *summaries) add(w *window) error {
	for i, f := range s.features {
		if err := f.Add(w.features.Features[i]); err != nil {
			return err
		}
	}
	s.empty = false
	if w.end.After(s.through) {
		s.through = w.end
	}
	return s.prediction.Add(w.prediction)
}

// rows serialises the summaries as the store keeps them, for the reference
// period starting at start. A summary that cannot be serialised is a bug, not
// an input problem: it is logged and left out, and a restart finds that
// feature's reference empty.
func (s *summaries) rows(m *Model, start time.Time, log *slog.Logger) []store.ReferenceSummary {
	out := make([]store.ReferenceSummary, 0, len(s.features)+1)
	add := func(feature string, sum *profile.Summary) {
		state, err := sum.MarshalState()
		if err != nil {
			log.Error("reference summary not stored", "model", m.Name(), "feature", feature, "period_start", start, "err", err)
			return
		}
		out = append(out, store.ReferenceSummary{Model: m.Name(), Feature: feature, PeriodStart: start, State: state})
	}
	for i, f := range s.features {
		add(m.specs[i].Name, f)
	}
	add("prediction", s.prediction)
	// The model-level row, as in window profiles, says which windows are in.
	state, err := json.Marshal(summariesState{Version: summariesStateVersion, Through: s.through})
	if err != nil {
		log.Error("reference summary not stored", "model", m.Name(), "period_start", start, "err", err)
		return out
	}
	return append(out, store.ReferenceSummary{Model: m.Name(), PeriodStart: start, State: state})
}

// summariesStateVersion versions summariesState, which outlives the process.
const summariesStateVersion = 1

// summariesState is the model-level row of stored summaries.
type summariesState struct {
	Version int       `json:"v"`
	Through time.Time `json:"through"`
}

// restore adds stored summaries of one period and returns how many of the
// model's features and prediction it restored. A state of another spec (the
// contract or baseline changed since) leaves that feature empty.
func (s *summaries) restore(m *Model, rows []store.ReferenceSummary, log *slog.Logger) (restored int) {
	for _, r := range rows {
		if r.Feature == "" {
			var st summariesState
			if err := json.Unmarshal(r.State, &st); err != nil || st.Version != summariesStateVersion {
				log.Warn("stored reference period not read", "model", m.Name(), "period_start", r.PeriodStart, "err", err, "version", st.Version)
				continue
			}
			s.through = st.Through
			continue
		}
		sum := s.prediction
		if r.Feature != "prediction" {
			i := slices.IndexFunc(m.specs, func(spec profile.Spec) bool { return spec.Name == r.Feature })
			if i < 0 {
				continue // a feature since removed from the contract
			}
			sum = s.features[i]
		}
		if err := sum.AddState(r.State); err != nil {
			log.Warn("stored reference summary not restored", "model", m.Name(), "feature", r.Feature,
				"period_start", r.PeriodStart, "err", err)
			continue
		}
		s.empty = false
		restored++
	}
	return restored
}

// orNil returns s, or nil while it holds no window.
func (s *summaries) orNil() *summaries {
	if s.empty {
		return nil
	}
	return s
}
