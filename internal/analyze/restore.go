package analyze

import (
	"fmt"
	"time"

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
	// Period are the windows written in the reference period in progress, in
	// order, except those the restart reopens: the stored summary of the period
	// may lack them.
	Period []*window.Window
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
	for _, w := range r.Period {
		if err := st.drift.Resume(w); err != nil {
			return err
		}
	}
	if st.detector != nil && len(r.History) > 0 {
		if err := st.detector.warm(model, r.History); err != nil {
			return fmt.Errorf("model %s: %w", model, err)
		}
	}
	return nil
}

// PeriodStart is the start of the reference period that t is in.
func (a *Analyzer) PeriodStart(t time.Time) time.Time {
	period := int64(a.opts.ReferencePeriod)
	return time.Unix(0, t.UnixNano()/period*period).UTC()
}

// HistoryWindows is how many windows of results the detector wants back after
// a restart; 0 when it does not run.
func (a *Analyzer) HistoryWindows() int {
	if a.opts.Anomaly == nil {
		return 0
	}
	return a.opts.Anomaly.HistoryWindows
}
