package anomaly

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
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
	}
	return nil
}

// Threshold is the score at and above which a window is flagged.
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
	statMetricRun          // largest v² of one metric summed over the last runWindow windows
	statStuck              // a metric repeating its last value longer than it ever did
	numStats
)

// runWindow is how many windows the run statistics add up. Moderate departures
// that persist (a metric drifting away from its peers, many metrics shifting a
// little) are invisible in any one window but plain over a few; a short window keeps
// the delay to an alert short. Each v² enters the sums capped at ClipSigma², so that
// one spike, already flagged on its own, does not echo through the next windows.
const runWindow = 3

func statName(i int) string {
	return [...]string{"components", "residual", "metric", "residual-run", "metric-run", "stuck", "constant"}[i]
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
}

// Point is the verdict on one window.
type Point struct {
	// Score is -log10 of the estimated probability of so extreme a window when all
	// is well: 3 means about one clean window in a thousand looks like this.
	Score   float64
	Anomaly bool
	// Statistic names what scored highest: components, residual, metric, stuck or
	// constant.
	Statistic string
	// Expected holds each metric's one-step-ahead forecast in its own units (NaN for
	// a metric the model does not cover).
	Expected []float64
	// Top lists the metrics most to blame, largest contribution first.
	Top []Cause
}

type metricStatus int

const (
	// statusActive, the zero value: the metric is modelled as usual.
	statusActive metricStatus = iota
	// statusConstant: the metric never changed in training; any change is flagged.
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

// model is everything one Fit learns.
type model struct {
	rows        int
	mean, scale []float64 // per metric
	status      []metricStatus
	active      []int // metric index of each active metric, in PCA column order
	k           int
	load        []float64 // len(active) × k, row-major
	explained   []float64
	comps       []forecaster
	compSigma   []float64
	// compSeen holds, per component, every value its forecaster has consumed since
	// the fit (the training scores, then each learned value), for retunes.
	compSeen   [][]float64
	scored     int          // windows scored since the fit
	retuneAt   int          // value of scored at which the next retune is due
	resid      []forecaster // per active metric; nil when the subspace explains it fully
	residSigma []float64
	tails      [statStuck]tail // the stuck statistic is scored analytically
	logRepeat  []float64       // per active metric: log10 of its chance to repeat a value
	last       []float64       // per active metric: last observed value
	run        []int           // per active metric: repeats of that value so far
	// The last runWindow values of Σ v² and of each metric's v², oldest first, for
	// the run statistics.
	qRing []float64
	vRing []float64 // runWindow × active metrics
	notes []string

	// Scratch for Score.
	chat, c, zhat, z, rhat, r, v, e, g, a, w []float64
}

// Fit learns the model from history, rows of metric values in the order New was
// given, NaN where a window had no value. It replaces any earlier fit.
func (d *Detector) Fit(history [][]float64) error {
	m, err := fitModel(d.cfg, d.names, history)
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
		for _, row := range history[start:] {
			narrow(d.history.next(), row)
		}
	}
	return nil
}

// narrow copies a row into the history's precision; a value past float32's
// range is kept as missing rather than as an infinity the fit would choke on.
func narrow(dst []float32, row []float64) {
	for i, x := range row {
		if math.Abs(x) > math.MaxFloat32 {
			x = math.NaN()
		}
		dst[i] = float32(x)
	}
}

// ring holds the latest rows of a history, up to a capacity, in chunks of
// rows allocated as the rows arrive: remembering a window allocates a chunk
// once in chunkRows windows, and the chunks are large enough to live apart
// from the small, short-lived memory of the daemon's windows.
type ring struct {
	chunks          [][]float32 // chunkRows rows of width values each
	width, capacity int
	first, rows     int // the oldest row's slot, and how many are held
}

const chunkRows = 64

func newRing(capacity, width int) *ring {
	return &ring{width: width, capacity: capacity}
}

func (r *ring) slot(k int) []float32 {
	o := (k % chunkRows) * r.width
	return r.chunks[k/chunkRows][o : o+r.width]
}

// next returns the slot of a new latest row, the oldest one's when full.
func (r *ring) next() []float32 {
	k := (r.first + r.rows) % r.capacity
	if r.rows == r.capacity {
		r.first = (r.first + 1) % r.capacity
	} else {
		r.rows++
	}
	for k/chunkRows >= len(r.chunks) {
		r.chunks = append(r.chunks, make([]float32, chunkRows*r.width))
	}
	return r.slot(k)
}

// widened returns the rows, oldest first, in double precision for a fit.
func (r *ring) widened() [][]float64 {
	out := make([][]float64, r.rows)
	for i := range out {
		out[i] = make([]float64, r.width)
		for j, x := range r.slot((r.first + i) % r.capacity) {
			out[i][j] = float64(x)
		}
	}
	return out
}

func fitModel(cfg Config, names []string, history [][]float64) (*model, error) {
	n, nm := len(history), len(names)
	if n < 3 {
		return nil, fmt.Errorf("fit detector: %d rows: need at least 3", n)
	}
	for i, row := range history {
		if len(row) != nm {
			return nil, fmt.Errorf("fit detector: row %d has %d values, want %d", i, len(row), nm)
		}
	}
	md := &model{rows: n, mean: make([]float64, nm), scale: make([]float64, nm), status: make([]metricStatus, nm)}
	if n < 2*cfg.Period {
		md.notes = append(md.notes, fmt.Sprintf("history of %d rows is shorter than two seasons of %d: forecasting with a robust median/MAD level, without seasonality or trend", n, cfg.Period))
	}
	var constant, unmodelled []string
	for j := range nm {
		sum, cnt := 0.0, 0
		for _, row := range history {
			if v := row[j]; !math.IsNaN(v) {
				if math.IsInf(v, 0) {
					return nil, fmt.Errorf("fit detector: metric %s is infinite in training", names[j])
				}
				sum += v
				cnt++
			}
		}
		if 2*cnt < n {
			md.status[j] = statusUnmodelled
			md.mean[j], md.scale[j] = math.NaN(), math.NaN()
			unmodelled = append(unmodelled, fmt.Sprintf("%s (%d of %d rows)", names[j], cnt, n))
			continue
		}
		mean := sum / float64(cnt)
		ss := 0.0
		for _, row := range history {
			if v := row[j]; !math.IsNaN(v) {
				ss += (v - mean) * (v - mean)
			}
		}
		sd := math.Sqrt(ss / float64(max(cnt-1, 1)))
		md.mean[j], md.scale[j] = mean, sd
		// Relative to the metric's magnitude, so that rounding noise in a large
		// constant does not pass for variation.
		if sd <= 1e-12*max(1, math.Abs(mean)) {
			md.status[j] = statusConstant
			constant = append(constant, names[j])
			continue
		}
		md.active = append(md.active, j)
	}
	if len(constant) > 0 {
		md.notes = append(md.notes, fmt.Sprintf("constant in training, flagged on any change: %v", constant))
	}
	if len(unmodelled) > 0 {
		md.notes = append(md.notes, fmt.Sprintf("missing in more than half of the training rows, not scored until a refit: %v", unmodelled))
	}
	na := len(md.active)
	// Standardised matrix; a missing value is imputed as the metric's mean, which
	// shrinks its covariances a little instead of dropping the whole row.
	z := mat.NewDense(n, max(na, 1), nil)
	missing := make([]bool, n*na)
	for a, j := range md.active {
		for t, row := range history {
			if v := row[j]; math.IsNaN(v) {
				missing[t*na+a] = true
			} else {
				z.Set(t, a, (v-md.mean[j])/md.scale[j])
			}
		}
	}
	if na > 0 {
		pca, err := FitPCA(z, cfg.VarianceShare, cfg.MaxComponents)
		if err != nil {
			return nil, fmt.Errorf("fit detector: %w", err)
		}
		md.k = len(pca.Explained)
		md.explained = pca.Explained
		md.load = make([]float64, na*md.k)
		for a := range na {
			for i := range md.k {
				md.load[a*md.k+i] = pca.Loadings.At(a, i)
			}
		}
		if err := md.fitForecasters(cfg, z, pca.Loadings, missing); err != nil {
			return nil, err
		}
	}
	md.fitRepeats(history)
	md.retuneAt = retuneSpacing(cfg.Period, n)
	k := md.k
	md.chat, md.c = make([]float64, k), make([]float64, k)
	md.zhat, md.z, md.rhat, md.r = make([]float64, na), make([]float64, na), make([]float64, na), make([]float64, na)
	md.v, md.e, md.g, md.a, md.w = make([]float64, na), make([]float64, na), make([]float64, na), make([]float64, nm), make([]float64, na)
	if md.qRing == nil {
		md.qRing, md.vRing = make([]float64, runWindow), make([]float64, runWindow*na)
	}
	return md, nil
}

// fitForecasters fits Holt-Winters to every component series and to every metric's
// residual series, and calibrates the statistics on the in-sample one-step errors.
func (md *model) fitForecasters(cfg Config, z *mat.Dense, load *mat.Dense, missing []bool) error {
	n, na := z.Dims()
	k := md.k
	var scores mat.Dense
	scores.Mul(z, load)
	var recon mat.Dense
	recon.Mul(&scores, load.T())
	var resid mat.Dense
	resid.Sub(z, &recon)

	u := mat.NewDense(n, max(k, 1), nil)
	series := make([]float64, n)
	errs := make([]float64, n)
	md.comps = make([]forecaster, k)
	md.compSigma = make([]float64, k)
	md.compSeen = make([][]float64, k)
	for i := range k {
		mat.Col(series, i, &scores)
		f, err := fitForecaster(series, cfg.Period, hwFull, errs)
		if err != nil {
			return fmt.Errorf("fit detector: component %d: %w", i+1, err)
		}
		md.comps[i] = f
		md.compSeen[i] = slices.Clone(series)
		md.compSigma[i] = max(f.Sigma(), 1e-9)
		for t, e := range errs {
			u.Set(t, i, e/md.compSigma[i])
		}
	}
	v := mat.NewDense(n, na, nil)
	md.resid = make([]forecaster, na)
	md.residSigma = make([]float64, na)
	for a := range na {
		mat.Col(series, a, &resid)
		ss := 0.0
		for t := range series {
			if missing[t*na+a] {
				series[t] = math.NaN()
			} else {
				ss += series[t] * series[t]
			}
		}
		// A residual this small is rounding: the subspace explains the metric fully
		// (always so for a single metric), and forecasting it would score noise.
		if ss <= 1e-12*float64(n) {
			md.residSigma[a] = 1
			continue
		}
		f, err := fitForecaster(series, cfg.Period, hwResidual, errs)
		if err != nil {
			return fmt.Errorf("fit detector: residual of metric %d: %w", md.active[a], err)
		}
		md.resid[a] = f
		md.residSigma[a] = max(f.Sigma(), 1e-9)
		for t, e := range errs {
			if e == e {
				v.Set(t, a, e/md.residSigma[a])
			}
		}
	}
	// Calibrate on rows where every component forecast had settled: after the first
	// season for Holt-Winters, which only starts forecasting there.
	start := 0
	if n >= 2*cfg.Period {
		start = cfg.Period
	}
	var stats [statStuck][]float64
	qRing, vRing := make([]float64, runWindow), make([]float64, runWindow*na)
	for t := start; t < n; t++ {
		sT := 0.0
		for i := range k {
			x := u.At(t, i)
			sT += x * x
		}
		sQ, sM, obs := 0.0, 0.0, 0
		for a := range na {
			if missing[t*na+a] {
				continue
			}
			x := v.At(t, a)
			sQ += x * x
			sM = max(sM, x*x)
			obs++
		}
		if obs > 0 {
			sQ *= float64(na) / float64(obs)
		}
		stats[statComponents] = append(stats[statComponents], sT)
		stats[statResidual] = append(stats[statResidual], sQ)
		stats[statMetric] = append(stats[statMetric], sM)
		copy(vRing, vRing[na:])
		capped, obsC := 0.0, 0
		for a := range na {
			x := 0.0
			if !missing[t*na+a] {
				x = min(v.At(t, a)*v.At(t, a), cfg.ClipSigma*cfg.ClipSigma)
				obsC++
			}
			vRing[(runWindow-1)*na+a] = x
			capped += x
		}
		copy(qRing, qRing[1:])
		qRing[runWindow-1] = capped * float64(na) / float64(max(obsC, 1))
		if t-start >= runWindow-1 {
			sR, sMR := runSums(qRing, vRing, na, nil)
			stats[statResidualRun] = append(stats[statResidualRun], sR)
			stats[statMetricRun] = append(stats[statMetricRun], sMR)
		}
	}
	md.qRing, md.vRing = qRing, vRing
	for s := range stats {
		md.tails[s] = fitTail(stats[s])
	}
	return nil
}

// runSums returns Σ over the window of Σ v², and the largest per-metric sum of v²
// over the window; w, when not nil, receives each metric's sum.
func runSums(qRing, vRing []float64, na int, w []float64) (float64, float64) {
	sR, sMR := 0.0, 0.0
	for _, q := range qRing {
		sR += q
	}
	for a := range na {
		x := 0.0
		for i := range runWindow {
			x += vRing[i*na+a]
		}
		sMR = max(sMR, x)
		if w != nil {
			w[a] = x
		}
	}
	return sR, sMR
}

// fitRepeats learns how often each active metric repeats its previous value exactly,
// with a Laplace estimate so that a metric that never repeated is not certain never
// to.
func (md *model) fitRepeats(history [][]float64) {
	na := len(md.active)
	md.logRepeat = make([]float64, na)
	md.last = make([]float64, na)
	md.run = make([]int, na)
	for a, j := range md.active {
		repeats, pairs := 0, 0
		last, run := math.NaN(), 0
		for _, row := range history {
			x := row[j]
			if math.IsNaN(x) {
				continue
			}
			if !math.IsNaN(last) {
				pairs++
				if x == last {
					repeats++
					run++
				} else {
					run = 0
				}
			}
			last = x
		}
		md.logRepeat[a] = math.Log10(float64(repeats+1) / float64(pairs+2))
		md.last[a], md.run[a] = last, run
	}
}

// Summary describes the fitted model; it is empty before Fit.
func (d *Detector) Summary() Summary {
	s := Summary{Metrics: slices.Clone(d.names), Threshold: d.cfg.Threshold()}
	if d.m == nil {
		return s
	}
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
// metric, NaN where the window has none.
func (d *Detector) Score(row []float64) (Point, error) {
	if d.m == nil {
		return Point{}, ErrNotFitted
	}
	if len(row) != len(d.names) {
		return Point{}, fmt.Errorf("score: row has %d values, want %d", len(row), len(d.names))
	}
	p := d.m.score(d.cfg, d.names, row)
	if d.cfg.RefitEvery > 0 {
		if err := d.remember(row, p); err != nil {
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
func (d *Detector) remember(row []float64, p Point) error {
	keep := d.history.next()
	narrow(keep, row)
	if p.Anomaly {
		for j, e := range p.Expected {
			if !math.IsNaN(e) && math.Abs(e) <= math.MaxFloat32 {
				keep[j] = float32(e)
			}
		}
	}
	d.sinceFit++
	if d.sinceFit < d.cfg.RefitEvery {
		return nil
	}
	m, err := fitModel(d.cfg, d.names, d.history.widened())
	if err != nil {
		return fmt.Errorf("scheduled refit: %w", err)
	}
	d.m = m
	d.sinceFit = 0
	return nil
}

func (md *model) score(cfg Config, names []string, row []float64) Point {
	k, na := md.k, len(md.active)
	p := Point{Expected: make([]float64, len(row))}
	for i, f := range md.comps {
		md.chat[i] = f.Forecast()
	}
	for j, s := range md.status {
		switch s {
		case statusConstant:
			p.Expected[j] = md.mean[j]
		case statusUnmodelled:
			p.Expected[j] = math.NaN()
		}
	}
	obs := 0
	for a, j := range md.active {
		rh := 0.0
		if f := md.resid[a]; f != nil {
			rh = f.Forecast()
		}
		zh := rh
		l := md.load[a*k : (a+1)*k]
		for i, w := range l {
			zh += w * md.chat[i]
		}
		md.rhat[a], md.zhat[a] = rh, zh
		p.Expected[j] = md.mean[j] + md.scale[j]*zh
		if x := row[j]; math.IsNaN(x) {
			// A missing value is taken to be as expected: it adds no evidence and does
			// not pull the components.
			md.z[a] = zh
		} else {
			md.z[a] = (x - md.mean[j]) / md.scale[j]
			obs++
		}
	}
	clear(md.c)
	for a := range na {
		za := md.z[a]
		l := md.load[a*k : (a+1)*k]
		for i, w := range l {
			md.c[i] += w * za
		}
	}
	var s [numStats + 1]float64
	for i := range k {
		u := (md.c[i] - md.chat[i]) / md.compSigma[i]
		s[statComponents] += u * u
	}
	// g projects the standardised component errors back onto the metrics, so that
	// Σ e·g splits the component statistic between them.
	sumQ, bestStuck, stuckAt := 0.0, 0.0, -1
	for a, j := range md.active {
		l := md.load[a*k : (a+1)*k]
		rec, g := 0.0, 0.0
		for i, w := range l {
			rec += w * md.c[i]
			g += w * (md.c[i] - md.chat[i]) / (md.compSigma[i] * md.compSigma[i])
		}
		md.r[a] = md.z[a] - rec
		md.g[a] = g
		md.e[a] = md.z[a] - md.zhat[a]
		md.v[a] = 0
		x := row[j]
		if math.IsNaN(x) {
			continue
		}
		if md.resid[a] != nil {
			v := (md.r[a] - md.rhat[a]) / md.residSigma[a]
			md.v[a] = v
			sumQ += v * v
			s[statMetric] = max(s[statMetric], v*v)
		}
		if x == md.last[a] {
			md.run[a]++
		} else {
			md.run[a] = 0
		}
		md.last[a] = x
		if md.run[a] > 0 {
			// Chance that some metric repeats this often by luck, with a Bonferroni
			// factor for the number of metrics watched.
			if st := -(math.Log10(float64(na)) + float64(md.run[a])*md.logRepeat[a]); st > bestStuck {
				bestStuck, stuckAt = st, j
			}
		}
	}
	if obs > 0 {
		s[statResidual] = sumQ * float64(na) / float64(obs)
	}
	copy(md.vRing, md.vRing[na:])
	capped := 0.0
	for a := range na {
		x := min(md.v[a]*md.v[a], cfg.ClipSigma*cfg.ClipSigma)
		md.vRing[(runWindow-1)*na+a] = x
		capped += x
	}
	copy(md.qRing, md.qRing[1:])
	md.qRing[runWindow-1] = capped * float64(na) / float64(max(obs, 1))
	s[statResidualRun], s[statMetricRun] = runSums(md.qRing, md.vRing, na, md.w)
	var sc [numStats + 1]float64
	for i := range statStuck {
		sc[i] = md.tails[i].score(s[i])
	}
	sc[statStuck] = min(bestStuck, maxScore)
	threshold := cfg.Threshold()
	var brokenConstants []int
	for j, st := range md.status {
		if st == statusConstant && !math.IsNaN(row[j]) && row[j] != md.mean[j] {
			brokenConstants = append(brokenConstants, j)
			// A metric that never moved in training moving at all deserves a look even
			// when the history is too short for its probability to clear the threshold.
			sc[statConstant] = threshold + 1
		}
	}
	best := 0
	for i := range sc {
		if sc[i] > sc[best] {
			best = i
		}
	}
	p.Score, p.Statistic = sc[best], statName(best)
	p.Anomaly = p.Score >= threshold
	p.Top = md.attribute(cfg, names, row, p.Expected, sc, s, stuckAt, brokenConstants)
	md.learn(cfg, row)
	return p
}

// attribute splits the window's evidence between metrics: each statistic's score is
// shared out in proportion to each metric's part in that statistic.
func (md *model) attribute(cfg Config, names []string, row, expected []float64, sc, s [numStats + 1]float64, stuckAt int, brokenConstants []int) []Cause {
	clear(md.a)
	sumEG := 0.0
	for a := range md.active {
		sumEG += max(md.e[a]*md.g[a], 0)
	}
	resScore := max(sc[statResidual], sc[statMetric])
	runScore := max(sc[statResidualRun], sc[statMetricRun])
	sumV, sumW := 0.0, 0.0
	for a := range md.active {
		sumV += md.v[a] * md.v[a]
		sumW += md.w[a]
	}
	for a, j := range md.active {
		if sumEG > 0 {
			md.a[j] += sc[statComponents] * max(md.e[a]*md.g[a], 0) / sumEG
		}
		if sumV > 0 {
			md.a[j] += resScore * md.v[a] * md.v[a] / sumV
		}
		if sumW > 0 {
			md.a[j] += runScore * md.w[a] / sumW
		}
	}
	if stuckAt >= 0 {
		md.a[stuckAt] += sc[statStuck]
	}
	for _, j := range brokenConstants {
		md.a[j] += sc[statConstant]
	}
	total := 0.0
	for _, x := range md.a {
		total += x
	}
	if total <= 0 || cfg.TopCauses == 0 {
		return nil
	}
	causes := make([]Cause, 0, cfg.TopCauses)
	for j, x := range md.a {
		if x <= 0 {
			continue
		}
		c := Cause{Metric: names[j], Index: j, Actual: row[j], Expected: expected[j], Contribution: x / total}
		i, _ := slices.BinarySearchFunc(causes, c, func(a, b Cause) int {
			switch {
			case a.Contribution > b.Contribution:
				return -1
			case a.Contribution < b.Contribution:
				return 1
			}
			return 0
		})
		if i < cfg.TopCauses {
			if len(causes) == cfg.TopCauses {
				causes = causes[:len(causes)-1]
			}
			causes = slices.Insert(causes, i, c)
		}
	}
	return causes
}

// learn advances every forecaster by one window. Each error is clipped to ClipSigma
// of its scale first (a Huber-type robust update), which keeps a spike from
// dragging the forecasts after it.
func (md *model) learn(cfg Config, row []float64) {
	md.scored++
	for i, f := range md.comps {
		e := md.c[i] - md.chat[i]
		b := cfg.ClipSigma * md.compSigma[i]
		y := md.chat[i] + min(max(e, -b), b)
		f.Update(y)
		// The clipped value, as learned, so that a retune does not learn a spike
		// the state was shielded from.
		md.compSeen[i] = append(md.compSeen[i], y)
	}
	for a, j := range md.active {
		f := md.resid[a]
		if f == nil {
			continue
		}
		if math.IsNaN(row[j]) {
			f.Update(math.NaN())
			continue
		}
		e := md.r[a] - md.rhat[a]
		b := cfg.ClipSigma * md.residSigma[a]
		f.Update(md.rhat[a] + min(max(e, -b), b))
	}
}
