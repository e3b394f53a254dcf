package anomaly

import "math"

// Incident mode: a metric blamed in a flagged window stops teaching its
// forecaster, and its slow reference, until it is back within calmZ σ of what
// the forecaster expects for calmRuns windows in a row, or until it has been
// held for holdPeriods seasons (a change that lasts that long is the new
// normal). An incident the forecasts learned would be followed, when it ends,
// by errors the other way for as long as they took to unlearn it.
const (
	calmZ       = 2
	calmRuns    = 2
	holdPeriods = 2
)

// holdAlpha is the smoothing of a forecaster's level from which its metric
// is never held: a forecaster that quick follows a wandering level (traffic
// from day to day) that a held one would lose, and unlearns an incident
// about as quickly as it learned it.
const holdAlpha = 0.3

// hold updates the metrics' incident mode after a window was judged.
func (md *model) hold(period int, flagged bool) {
	for a := range md.active {
		f := md.resid[a]
		if md.own[a] != nil {
			f = md.own[a]
		}
		if hw, ok := f.(*HoltWinters); f == nil || ok && hw.Alpha >= holdAlpha {
			continue
		}
		if _, ok := f.(*robustLevel); ok {
			// The median of the last robustWindow windows is as quick: it
			// learns a shift in half of them and unlearns it as fast. Held,
			// it froze at what it had learned before the first flag, and a
			// metric whose incident had ended was never calm against it:
			// after an hour's shift of one feature on a model's second day,
			// its mean was flagged for the next four hours.
			continue
		}
		blamed := md.v[a]*md.v[a] >= blameZ*blameZ || md.runs.level.value[a] >= blameZ*blameZ
		switch {
		case md.held[a] > 0:
			md.held[a]++
			if math.Abs(md.v[a]) <= calmZ {
				md.calm[a]++
			} else {
				md.calm[a] = 0
			}
			if md.calm[a] >= calmRuns || md.held[a] > holdPeriods*period {
				md.held[a], md.calm[a] = 0, 0
			}
		case flagged && blamed:
			md.held[a], md.calm[a] = 1, 0
		}
	}
}

// flaggedClip is how far, in error scales, a flagged window may move the
// forecasting state of the components and of the metrics not blamed for it
// (see hold).
const flaggedClip = 1

// blameZ is the evidence of a departure, in σ of one window's error or of
// the level scan, by which a metric is blamed for a flagged window.
const blameZ = 3

// learn advances every forecaster by one window. Each error is clipped to clip
// error scales first (a Huber-type robust update), which keeps a spike from
// dragging the forecasts after it.
func (md *model) learn(cfg Config, row []float64, flagged bool) {
	md.scored++
	clip := cfg.ClipSigma
	if flagged {
		clip = flaggedClip
	}
	for i, f := range md.comps {
		e := md.c[i] - md.chat[i]
		b := clip * md.sigC[i]
		y := md.chat[i] + min(max(e, -b), b)
		f.Update(y)
		// The clipped value, as learned, so that a retune does not learn a spike
		// the state was shielded from.
		md.compSeen[i] = append(md.compSeen[i], y)
	}
	for a, j := range md.active {
		f := md.resid[a]
		if o := md.own[a]; o != nil {
			f = o
		}
		if f == nil {
			continue
		}
		if math.IsNaN(row[j]) {
			f.Update(math.NaN())
			continue
		}
		clip := cfg.ClipSigma
		if md.held[a] > 0 {
			clip = 0
		} else if flagged {
			clip = flaggedClip
		}
		if f == md.own[a] {
			b := clip * md.sigE[a]
			f.Update(md.zhat[a] + min(max(md.e[a], -b), b))
			continue
		}
		e := md.r[a] - md.rhat[a]
		b := clip * md.sigR[a]
		f.Update(md.rhat[a] + min(max(e, -b), b))
	}
}
