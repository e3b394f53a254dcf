package anomaly

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Config tunes a Detector. Zero fields take the defaults documented on each field.
type Config struct {
	// Period is the number of windows in one season (24 for hourly windows with a
	// daily cycle). Required, at least 2.
	Period int
	// VarianceShare is the share of the standardised metrics' variance the retained
	// principal components must explain. Default 0.9.
	VarianceShare float64
	// MaxComponents caps the retained components, bounding the cost of a fit on
	// metrics that share little structure. Default 0: no cap.
	MaxComponents int
	// FalseAlarmRate is the share of clean windows that may be flagged; the score
	// threshold is derived from it. Default 0.002.
	FalseAlarmRate float64
	// TopCauses is how many metrics a point names as most to blame. Default 3.
	TopCauses int
	// ClipSigma bounds how far one window may move the forecasting state, in one-step
	// error scales, so that a spike does not drag the forecast after it and a
	// lasting shift is learned gradually rather than at once. Default 4.
	ClipSigma float64
	// RefitEvery refits the whole model after this many scored windows, on the
	// last HistoryRows windows (flagged windows enter that history as their
	// expected values). Default 0: never; the caller refits with Fit. Between
	// refits, Score still re-estimates the component forecasters' parameters as
	// their history grows (see model.retune).
	RefitEvery int
	// HistoryRows is how many recent windows are kept for refits. Default 0: as many
	// as the last Fit was given.
	HistoryRows int
	// Window is the length of one window. It only phrases how long an incident
	// has lasted in a cause's Detail ("for 6h"); zero counts windows instead.
	Window time.Duration
}

const (
	defaultVarianceShare  = 0.9
	defaultFalseAlarmRate = 0.002
	defaultTopCauses      = 3
	defaultClipSigma      = 4
)

func (c Config) withDefaults() Config {
	if c.VarianceShare == 0 {
		c.VarianceShare = defaultVarianceShare
	}
	if c.FalseAlarmRate == 0 {
		c.FalseAlarmRate = defaultFalseAlarmRate
	}
	if c.TopCauses == 0 {
		c.TopCauses = defaultTopCauses
	}
	if c.ClipSigma == 0 {
		c.ClipSigma = defaultClipSigma
	}
	return c
}

// Validate reports the first field out of range, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Period < 2:
		return fmt.Errorf("anomaly config: period %d: must be at least 2", c.Period)
	case !(c.VarianceShare > 0 && c.VarianceShare <= 1):
		return fmt.Errorf("anomaly config: variance share %g: must be in (0, 1]", c.VarianceShare)
	case c.MaxComponents < 0:
		return fmt.Errorf("anomaly config: max components %d: must not be negative", c.MaxComponents)
	case !(c.FalseAlarmRate > 0 && c.FalseAlarmRate < 1):
		return fmt.Errorf("anomaly config: false alarm rate %g: must be in (0, 1)", c.FalseAlarmRate)
	case c.TopCauses < 0:
		return fmt.Errorf("anomaly config: top causes %d: must not be negative", c.TopCauses)
	case !(c.ClipSigma > 0):
		return fmt.Errorf("anomaly config: clip sigma %g: must be positive", c.ClipSigma)
	case c.RefitEvery < 0:
		return fmt.Errorf("anomaly config: refit every %d: must not be negative", c.RefitEvery)
	case c.HistoryRows < 0:
		return fmt.Errorf("anomaly config: history rows %d: must not be negative", c.HistoryRows)
	case c.Window < 0:
		return fmt.Errorf("anomaly config: window %s: must not be negative", c.Window)
	}
	return nil
}

// Threshold is the score at and above which a window is flagged before a fit
// has calibrated its own (Summary.Threshold), and the highest a fit sets: the
// false alarm rate split evenly between the statistics.
func (c Config) Threshold() float64 {
	return -math.Log10(c.withDefaults().FalseAlarmRate / float64(numStats))
}

// Statistics a window is scored on. Each is calibrated separately on the training
// history and the score is the largest, so the threshold splits the false alarm
// rate evenly between them.
const (
	statComponents  = iota // component forecast errors, Σ u²: shifts along the usual correlations
	statResidual           // residual forecast errors, Σ v²: broad moves outside them
	statMetric             // largest single residual error, max v²: one metric breaking away
	statResidualRun        // Σ v² summed over the last runWindow windows
	statLevel              // largest level scan of one metric's errors: short shifts, drifts, late daily patterns
	statSpread             // largest spread scan of one metric's absolute errors: noise growing at an unchanged level
	statStuck              // a metric repeating its last value longer than it ever did
	numStats
)

// runWindow is how many windows the residual-run statistic adds up. Many
// metrics shifting a little are invisible in any one window but plain over a
// few; a short window keeps the delay to an alert short. Each v² enters the sum
// capped at ClipSigma², so that one spike, already flagged on its own, does not
// echo through the next windows. (One metric's lasting departures are the level
// and spread scans'.)
const runWindow = 3

func statName(i int) string {
	return [...]string{"components", "residual", "metric", "residual-run", "level", "variance", "stuck", "constant"}[i]
}

// statConstant marks a metric that never moved in training moving now.
const statConstant = numStats

// Cause is one metric's part in a window's score.
type Cause struct {
	Metric   string
	Index    int
	Actual   float64
	Expected float64
	// Contribution is the metric's share of the window's evidence, in [0, 1].
	Contribution float64
	// Statistic names the statistic through which the metric is most to blame,
	// as Point.Statistic does.
	Statistic string
	// Sigma is how far the metric is from what was expected, in standard
	// deviations of its expected spread (sampling included), signed: this
	// window's departure, or for level the mean departure over the windows it
	// names. For stuck, the windows it has shown one value; for variance, the
	// ratio of its recent spread to the expected one; ±Inf for a metric
	// constant in training without sampling information.
	Sigma float64
	// Detail says in words what the statistic saw, e.g. "level 3.8σ above
	// expected for 6h (level shift)".
	Detail string
}

// Point is the verdict on one window.
type Point struct {
	// Score is -log10 of the estimated probability of so extreme a window when all
	// is well: 3 means about one clean window in a thousand looks like this.
	Score   float64
	Anomaly bool
	// Statistic names what scored highest: components, residual, metric,
	// residual-run, level, variance, stuck or constant.
	Statistic string
	// Expected holds each metric's one-step-ahead forecast in its own units (NaN for
	// a metric the model does not cover); for a distance statistic with sampling
	// information, its population value plus the bias of this window's sample.
	Expected []float64
	// Top lists the metrics most to blame, largest contribution first.
	Top []Cause
}

type metricStatus int

const (
	// statusActive, the zero value: the metric is modelled as usual.
	statusActive metricStatus = iota
	// statusConstant: the metric never changed in training; a change is judged
	// against its sampling spread when that is known, and flagged otherwise.
	statusConstant
	// statusUnmodelled: too little data in training (a feature added later);
	// ignored until a refit sees enough of it.
	statusUnmodelled
)

// Summary describes a fitted model.
type Summary struct {
	Metrics                []string
	TrainingRows           int
	Components             int
	ExplainedVarianceRatio []float64
	// Forecasters describes the model behind each component.
	Forecasters []string
	Threshold   float64
	// Notes explain departures from the full model: short histories, constant or
	// unmodelled metrics.
	Notes []string
}

// Detector scores metric vectors of one model, window by window.
type Detector struct {
	cfg   Config
	names []string
	m     *model

	// Recent windows for scheduled refits, in single precision: history_windows
	// rows of every metric are most of a daemon's memory for a wide model, and
	// window metrics carry nowhere near seven digits.
	history  *ring
	sinceFit int
}

// New returns an unfitted detector for the named metrics, in the order rows give
// them.
func New(cfg Config, metrics []string) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(metrics) == 0 {
		return nil, errors.New("new detector: no metrics")
	}
	return &Detector{cfg: cfg.withDefaults(), names: slices.Clone(metrics)}, nil
}

// Fit learns the model from history, rows of metric values in the order New was
// given, NaN where a window had no value. It replaces any earlier fit. Nothing
// is known of how the values were sampled: see FitSampled.
func (d *Detector) Fit(history [][]float64) error { return d.FitSampled(history, nil) }

// FitSampled is Fit with each value's sampling context: sampling[t][j] says how
// history[t][j] was measured. sampling may be nil (nothing known, as Fit), and
// so may any of its rows; a zero Sampling is unknown. A detector fitted with
// sampling contexts should be given them when scoring too (ScoreSampled): the
// spread it learns beyond sampling can be far below a metric's whole spread.
func (d *Detector) FitSampled(history [][]float64, sampling [][]Sampling) error {
	if sampling != nil && len(sampling) != len(history) {
		return fmt.Errorf("fit detector: %d rows of sampling for %d rows of values", len(sampling), len(history))
	}
	for t, s := range sampling {
		if s != nil && len(s) != len(d.names) {
			return fmt.Errorf("fit detector: sampling row %d has %d entries, want %d", t, len(s), len(d.names))
		}
	}
	m, err := fitModel(d.cfg, d.names, history, sampling)
	if err != nil {
		return err
	}
	d.m = m
	d.sinceFit = 0
	keep := d.cfg.HistoryRows
	if keep == 0 {
		keep = len(history)
	}
	if d.cfg.RefitEvery > 0 {
		start := max(0, len(history)-keep)
		d.history = newRing(keep, len(d.names))
		for t, row := range history[start:] {
			var s []Sampling
			if sampling != nil {
				s = sampling[start+t]
			}
			d.history.add(row, s)
		}
	}
	return nil
}

// Summary describes the fitted model; it is empty before Fit.
func (d *Detector) Summary() Summary {
	s := Summary{Metrics: slices.Clone(d.names), Threshold: d.cfg.Threshold()}
	if d.m == nil {
		return s
	}
	s.Threshold = d.m.threshold
	s.TrainingRows = d.m.rows
	s.Components = d.m.k
	s.ExplainedVarianceRatio = slices.Clone(d.m.explained)
	for _, f := range d.m.comps {
		s.Forecasters = append(s.Forecasters, forecasterDescription(f))
	}
	s.Notes = slices.Clone(d.m.notes)
	return s
}

// ErrNotFitted is returned by Score before Fit.
var ErrNotFitted = errors.New("detector is not fitted")

// Score judges the next window and then learns from it. row holds one value per
// metric, NaN where the window has none. Nothing is known of how the values
// were sampled: see ScoreSampled.
func (d *Detector) Score(row []float64) (Point, error) { return d.ScoreSampled(row, nil) }

// ScoreSampled is Score with each value's sampling context (nil: nothing known,
// as Score; a zero Sampling is unknown). The spread the detector expects of a
// metric in this window is then at least what the window's sample alone gives
// it, the bias a small sample gives distance statistics is removed, and a
// metric constant in training is judged by a count test rather than flagged on
// any change.
func (d *Detector) ScoreSampled(row []float64, sampling []Sampling) (Point, error) {
	if d.m == nil {
		return Point{}, ErrNotFitted
	}
	if len(row) != len(d.names) {
		return Point{}, fmt.Errorf("score: row has %d values, want %d", len(row), len(d.names))
	}
	if sampling != nil && len(sampling) != len(d.names) {
		return Point{}, fmt.Errorf("score: sampling has %d entries, want %d", len(sampling), len(d.names))
	}
	p := d.m.score(d.cfg, d.names, row, sampling)
	if d.cfg.RefitEvery > 0 {
		if err := d.remember(row, sampling, p); err != nil {
			return p, err
		}
	}
	// A scheduled refit above starts the count afresh, so a schedule at least as
	// frequent as the retunes never retunes.
	if d.m.scored == d.m.retuneAt {
		if err := d.m.retune(d.cfg.Period); err != nil {
			return p, err
		}
	}
	return p, nil
}

// retuneShare sets how far the series must grow before the next retune: by a
// season, or by this fraction of its length, whichever is more. New parameters only
// differ from the last when the sample has grown by a fair share of itself, and
// spacing retunes in proportion to the series bounds their amortised cost per
// window by a constant, where a fixed spacing would let a model that is never
// refitted grow dearer to run with its age.
const retuneShare = 8

// retuneSpacing is how many windows the next retune waits for after a fit or retune
// over seen windows.
func retuneSpacing(period, seen int) int { return max(period, seen/retuneShare) }

// retune re-estimates the smoothing parameters of the Holt-Winters component
// forecasters on everything they have seen since the fit, and replays that series
// so that their state is what the new parameters give.
//
// Parameters fitted once on the training rows are an estimate from a sample that
// every scored window enlarges: a short history leaves them loose, and the process
// may change after it. Retuning lets the forecasts keep up at the cost of a few
// series, where a refit redoes PCA and one fit per metric. The PCA basis, the
// residual forecasters and the calibration (the error scales and score tails) stay
// as fitted, so scores keep the meaning the fit gave them.
func (md *model) retune(period int) error {
	md.retuneAt = md.scored + retuneSpacing(period, md.rows+md.scored)
	for i, f := range md.comps {
		hw, ok := f.(*HoltWinters)
		if !ok {
			continue
		}
		m, err := retuneHoltWinters(hw, md.compSeen[i])
		if err != nil {
			return fmt.Errorf("retune component %d: %w", i+1, err)
		}
		md.comps[i] = m
	}
	return nil
}

// remember keeps the window for the next scheduled refit and refits when due.
// A flagged window is kept as its expected values, so that an incident does not
// teach the next model that it is normal.
func (d *Detector) remember(row []float64, sampling []Sampling, p Point) error {
	keep := row
	if p.Anomaly {
		keep = make([]float64, len(row))
		for j, e := range p.Expected {
			keep[j] = row[j]
			if !math.IsNaN(e) {
				keep[j] = e
			}
		}
	}
	d.history.add(keep, sampling)
	d.sinceFit++
	if d.sinceFit < d.cfg.RefitEvery {
		return nil
	}
	rows, samp := d.history.widened()
	m, err := fitModel(d.cfg, d.names, rows, samp)
	if err != nil {
		return fmt.Errorf("scheduled refit: %w", err)
	}
	d.m = m
	d.sinceFit = 0
	return nil
}
