// Package drift keeps what a model's drift checks compare a window with: the
// previous window and the previous reference period, summarised per feature
// and for the prediction, and stored so that a restart compares at once.
package drift

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/profile"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// Summaries is what drift compares of earlier windows of a model: per feature
// and for the prediction, the counts the contract's statistic needs.
type Summaries struct {
	features   []*profile.Summary
	prediction *profile.Summary
	empty      bool
	// through is the end of the latest window added. It is stored with the
	// summaries: windows a restart reopens that they already hold are not
	// added again when they close again.
	through time.Time
}

// NewSummaries allocates a model's summaries once; Reset empties them for reuse.
func NewSummaries(m *model.Model) (*Summaries, error) {
	specs := m.Specs()
	s := &Summaries{features: make([]*profile.Summary, len(specs)), empty: true}
	for i, spec := range specs {
		var err error
		if s.features[i], err = profile.NewSummary(spec, comparesShape(m.Contract.Features[i].Drift.Method)); err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name(), err)
		}
	}
	var err error
	if s.prediction, err = profile.NewSummary(m.PredictionSpec(), comparesShape(m.PredictionDrift().Method)); err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name(), err)
	}
	return s, nil
}

// comparesShape reports whether a drift statistic compares whole distributions
// (their sketches) rather than bin or category counts.
func comparesShape(m config.DriftMethod) bool {
	return m == config.KSPValue || m == config.WassersteinNormed
}

// Reset empties the summaries.
func (s *Summaries) Reset() {
	for _, f := range s.features {
		f.Reset()
	}
	s.prediction.Reset()
	s.empty = true
	s.through = time.Time{}
}

// Add summarises a window into s.
func (s *Summaries) Add(w *window.Window) error {
	for i, f := range s.features {
		if err := f.Add(w.Features.Features[i]); err != nil {
			return err
		}
	}
	s.empty = false
	if w.End.After(s.through) {
		s.through = w.End
	}
	return s.prediction.Add(w.Prediction)
}

// Feature is the summary of the i-th feature of the contract.
func (s *Summaries) Feature(i int) *profile.Summary { return s.features[i] }

// Prediction is the summary of the prediction.
func (s *Summaries) Prediction() *profile.Summary { return s.prediction }

// Empty reports whether s holds no window.
func (s *Summaries) Empty() bool { return s.empty }

// OrNil returns s, or nil while it holds no window.
func (s *Summaries) OrNil() *Summaries {
	if s.empty {
		return nil
	}
	return s
}

// Rows serialises the summaries as the store keeps them, for the reference
// period starting at start. A summary that cannot be serialised is a bug, not
// an input problem: it is logged and left out, and a restart finds that
// feature's reference empty.
func (s *Summaries) Rows(m *model.Model, start time.Time, log *slog.Logger) []store.ReferenceSummary {
	out := make([]store.ReferenceSummary, 0, len(s.features)+2)
	add := func(feature string, sum *profile.Summary) {
		state, err := sum.MarshalState()
		if err != nil {
			log.Error("reference summary not stored", "model", m.Name(), "feature", feature, "period_start", start, "err", err)
			return
		}
		out = append(out, store.ReferenceSummary{Model: m.Name(), Feature: feature, PeriodStart: start, State: state})
	}
	specs := m.Specs()
	for i, f := range s.features {
		add(specs[i].Name, f)
	}
	add(check.PredictionFeature, s.prediction)
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
func (s *Summaries) restore(m *model.Model, rows []store.ReferenceSummary, log *slog.Logger) (restored int) {
	specs := m.Specs()
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
		if r.Feature != check.PredictionFeature {
			i := slices.IndexFunc(specs, func(spec profile.Spec) bool { return spec.Name == r.Feature })
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
