package analyze

import (
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/versions"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// versionResults adds the window's shadow pairs and version availability, for
// a model whose contract asks for them. Neither feeds the detector: the
// version mix is as many series as the contract allows, and a shadow is
// judged against the contract's thresholds, not against its own past.
func versionResults(r *results, m *model.Model, w *window.Window, tracker *versions.Tracker) {
	if tracker == nil {
		return
	}
	if s := m.Contract.Shadow; s != nil && w.Shadow != nil {
		r.out = append(r.out, w.Shadow.Results(r.model, r.start, r.end, s)...)
	}
	r.out = append(r.out, tracker.Results(r.model, r.start, r.end, w.Events, w.Versions)...)
}
