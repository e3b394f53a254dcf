package analyze

import (
	"fmt"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// Restored is what the store holds of a model's checks before a restart.
type Restored struct {
	// Previous is the last window written that the restart does not reopen:
	// drift compares the next window closed with it. Nil when there is none.
	Previous *window.Window
	// References are the stored reference summaries of the latest periods.
	References []store.ReferenceSummary
	// History is the model's recent check results, for the anomaly detector.
	History []check.Result
}

// Restore gives a model's checks back what they held before a restart: drift's
// previous window and reference periods, and the detector's history, so that
// neither waits for new windows to gather it again.
func (a *Analyzer) Restore(model string, r Restored) error {
	st := a.models[model]
	if st == nil {
		return fmt.Errorf("restoring the checks of model %q, which is not configured", model)
	}
	if r.Previous != nil {
		if err := st.drift.RestorePrevious(r.Previous); err != nil {
			return fmt.Errorf("restoring the previous window of model %s: %w", model, err)
		}
	}
	if err := st.drift.RestoreReferences(r.References); err != nil {
		return err
	}
	if st.detector != nil && len(r.History) > 0 {
		if err := st.detector.warm(r.History); err != nil {
			return fmt.Errorf("model %s: %w", model, err)
		}
	}
	return nil
}

// HistoryWindows is how many windows of results the detector wants back after
// a restart; 0 when it does not run.
func (a *Analyzer) HistoryWindows() int {
	if a.opts.Anomaly == nil {
		return 0
	}
	return a.opts.Anomaly.HistoryWindows
}
