package window

import (
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/shadow"
	"github.com/sentinel-ml/sentinel/internal/versions"
)

// ShadowPairs returns the window's shadow pairs, made on first use.
func (w *Window) ShadowPairs(m *model.Model) *shadow.Window {
	if w.Shadow == nil {
		w.Shadow = shadow.NewWindow(m.PredictionKind())
	}
	return w.Shadow
}

// VersionCounts returns the window's version mix, made on first use.
func (w *Window) VersionCounts(m *model.Model) *versions.Counts {
	if w.Versions == nil {
		w.Versions = versions.NewCounts(m.Contract)
	}
	return w.Versions
}

// mergeVersions merges o's shadow pairs and version mix into w's. Like the
// label pairs, neither is stored with the window's rows: a window updated
// after a restart reports neither again.
func (w *Window) mergeVersions(o *Window) error {
	if o.Versions != nil {
		if w.Versions == nil {
			w.Versions = o.Versions
		} else {
			w.Versions.Merge(o.Versions)
		}
	}
	if o.Shadow == nil {
		return nil
	}
	if w.Shadow == nil {
		w.Shadow = o.Shadow
		return nil
	}
	return w.Shadow.Merge(o.Shadow)
}
