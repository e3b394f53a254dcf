package analyze

import (
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/versions"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// versionResults adds the window's shadow pairs, version availability, each
// version's profile and a canary's verdicts, for a model whose contract asks
// for them. None feeds the detector: they are as many series as the contract
// allows, and shadows and canaries are judged against the contract's
// thresholds, not against their own past.
func versionResults(r *results, m *model.Model, w *window.Window, tracker *versions.Tracker) error {
	if tracker == nil {
		return nil
	}
	if s := m.Contract.Shadow; s != nil && w.Shadow != nil {
		r.out = append(r.out, w.Shadow.Results(r.model, r.start, r.end, s)...)
	}
	r.out = append(r.out, tracker.Results(r.model, r.start, r.end, w.Events, w.Versions)...)
	if w.ByVersion == nil {
		return nil
	}
	if err := w.ByVersion.Fold(tracker.Follows); err != nil {
		return err
	}
	versionProfiles(r, m, w.ByVersion)
	if m.Contract.Canary != nil {
		canaryResults(r, m, w.ByVersion, tracker.Busiest())
	}
	return nil
}
