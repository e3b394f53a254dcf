package drift

import (
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// History is one model's drift state: the previous window, the previous
// reference period and the period in progress, each allocated once.
type History struct {
	m      *model.Model
	period time.Duration
	log    *slog.Logger
	// prev summarises the previous window, ref the previous reference period,
	// and next accumulates the current one.
	prev, ref, next *Summaries
	// nextIndex numbers the period next accumulates, refIndex the one ref holds
	// (earlier than nextIndex-1 after a silence).
	nextIndex, refIndex int64
}

// NewHistory allocates the drift state of m for reference periods of the given
// length.
func NewHistory(m *model.Model, period time.Duration, log *slog.Logger) (*History, error) {
	h := &History{m: m, period: period, log: log}
	var err error
	if h.prev, err = NewSummaries(m); err != nil {
		return nil, err
	}
	if h.ref, err = NewSummaries(m); err != nil {
		return nil, err
	}
	if h.next, err = NewSummaries(m); err != nil {
		return nil, err
	}
	return h, nil
}

// Previous is the previous window's summary, nil before the first.
func (h *History) Previous() *Summaries { return h.prev.OrNil() }

// Reference is the previous reference period's summary, nil before one completed.
func (h *History) Reference() *Summaries { return h.ref.OrNil() }

// Begin prepares the comparison of w: a window of a new reference period is
// the first to compare with the period that just completed. It returns the
// completed period's rows, to be stored with the window so that a restart,
// even after a crash, compares with it at once.
func (h *History) Begin(w *window.Window) []store.ReferenceSummary {
	var completed []store.ReferenceSummary
	idx := w.Start.UnixNano() / int64(h.period)
	if !h.next.empty && idx != h.nextIndex {
		h.ref, h.next = h.next, h.ref
		h.next.Reset()
		h.refIndex = h.nextIndex
		completed = h.ref.Rows(h.m, h.periodStart(h.refIndex), h.log)
	}
	h.nextIndex = idx
	return completed
}

// End adds the checked window w: it becomes the previous window, and joins the
// period in progress unless that already held it (a window a restart reopened).
func (h *History) End(w *window.Window) error {
	h.prev.Reset()
	if err := h.prev.Add(w); err != nil {
		return fmt.Errorf("model %s: summarising the window: %w", h.m.Name(), err)
	}
	if w.End.After(h.next.through) {
		if err := h.next.Add(w); err != nil {
			return fmt.Errorf("model %s: adding the window to the reference: %w", h.m.Name(), err)
		}
	}
	return nil
}

// Rows serialises the periods held, for a drain: the completed reference and
// the period in progress.
func (h *History) Rows() []store.ReferenceSummary {
	var out []store.ReferenceSummary
	if !h.ref.empty {
		out = append(out, h.ref.Rows(h.m, h.periodStart(h.refIndex), h.log)...)
	}
	if !h.next.empty {
		out = append(out, h.next.Rows(h.m, h.periodStart(h.nextIndex), h.log)...)
	}
	return out
}

// periodStart is the start of the reference period of index idx.
func (h *History) periodStart(idx int64) time.Time {
	return time.Unix(0, idx*int64(h.period)).UTC()
}

// Resume adds a window written before a restart to the reference period in
// progress, after RestoreReferences: the period's stored summary holds only
// the windows written until the last drain or completed period, and a crash
// loses the rest. A window the stored summary holds already is not added again.
func (h *History) Resume(w *window.Window) error {
	h.Begin(w)
	if !w.End.After(h.next.through) {
		return nil
	}
	if err := h.next.Add(w); err != nil {
		return fmt.Errorf("model %s: adding a stored window to the reference: %w", h.m.Name(), err)
	}
	return nil
}

// PeriodStart is the start of the reference period that t is in.
func (h *History) PeriodStart(t time.Time) time.Time {
	return h.periodStart(t.UnixNano() / int64(h.period))
}

// RestorePrevious gives drift its previous window back after a restart.
func (h *History) RestorePrevious(w *window.Window) error {
	h.prev.Reset()
	return h.prev.Add(w)
}

// RestoreReferences gives drift its reference periods back after a restart:
// of the stored summaries in rows, the latest period becomes the one in
// progress, and the period before it, when stored, the completed reference. A
// feature whose stored summary was counted under another contract or baseline
// (other bins, another sketch) starts empty, as do all when the reference
// period was changed.
func (h *History) RestoreReferences(rows []store.ReferenceSummary) error {
	name := h.m.Name()
	period := int64(h.period)
	byPeriod := make(map[int64][]store.ReferenceSummary)
	var idx []int64
	for _, r := range rows {
		if r.Model != name {
			return fmt.Errorf("restoring the reference periods of model %s: row of model %s", name, r.Model)
		}
		start := r.PeriodStart.UnixNano()
		if start%period != 0 {
			h.log.Warn("reference summary of another reference period length ignored", "model", name,
				"period_start", r.PeriodStart, "reference_period", h.period)
			continue
		}
		if _, ok := byPeriod[start/period]; !ok {
			idx = append(idx, start/period)
		}
		byPeriod[start/period] = append(byPeriod[start/period], r)
	}
	if len(idx) == 0 {
		return nil
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	latest := idx[len(idx)-1]
	h.next.Reset()
	inProgress := h.next.restore(h.m, byPeriod[latest], h.log)
	h.nextIndex = latest
	h.ref.Reset()
	log := h.log.With("model", name, "period_start", h.periodStart(latest), "features", inProgress,
		"of", len(h.m.Specs())+1)
	if len(idx) > 1 {
		h.refIndex = idx[len(idx)-2]
		completed := h.ref.restore(h.m, byPeriod[h.refIndex], h.log)
		log = log.With("reference_start", h.periodStart(h.refIndex), "reference_features", completed)
	}
	log.Info("drift reference periods restored")
	return nil
}
