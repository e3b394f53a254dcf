package anomaly

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/mathext"
)

// model is everything one Fit learns.
type model struct {
	rows        int
	mean, scale []float64 // per metric, of the values without their sampling bias, on the model's scale
	// rate holds, for each rate metric, a lower bound on its rate in training
	// (NaN for the others): the chance of a zero its repeats are judged by.
	rate []float64
	// logged marks the counts, modelled on a log scale (log1p): traffic's daily
	// cycle is multiplicative, and its day-to-day wander moves the whole curve
	// by a share, which a log scale makes an additive level.
	logged    []bool
	status    []metricStatus
	active    []int // metric index of each active metric, in PCA column order
	k         int
	load      []float64 // len(active) × k, row-major
	explained []float64
	comps     []forecaster
	// compSigma and residSigma are the spreads of the one-step errors beyond
	// sampling: for a window with sampling information, its sampling variance
	// is added to their squares (see errorScales); without, they are the whole
	// spread.
	compSigma []float64
	// compSeen holds, per component, every value its forecaster has consumed since
	// the fit (the training scores, then each learned value), for retunes.
	compSeen   [][]float64
	scored     int          // windows scored since the fit
	retuneAt   int          // value of scored at which the next retune is due
	resid      []forecaster // per active metric; nil when the subspace explains it fully
	residSigma []float64
	// own holds, for the metrics the retained components explain less than
	// half of and whose own forecast is the sharper, a Holt-Winters model of
	// the metric itself, which replaces the subspace's forecast and the
	// residual's. A metric that shares the others' daily shape but not their
	// fluctuations (traffic, say) gets small loadings on their components;
	// its residual then carries their fluctuations, which its own forecast
	// does not. ownSigma is its error scale beyond sampling.
	own      []forecaster
	ownSigma []float64
	// free is, per active metric, 1 minus its leverage on the retained
	// components: the share of its own sampling variance its residual keeps.
	free  []float64
	tails [statStuck]tail      // the stuck statistic is scored analytically
	calib [statStuck][]float64 // each statistic's values in training, which its tail was fitted to
	null  [statStuck]tail      // each statistic's tail on errors that are what the model expects (see nullTails)
	// threshold is the score from which a window is flagged: Config.Threshold,
	// or lower once held-out windows have shown how the statistics move together
	// (see heldOutThreshold).
	threshold float64
	// calibrating marks a model scoring held-out rows (see heldOut): it
	// neither restarts its scans on alarms nor explains its verdicts.
	calibrating bool
	lastStats   [numStats + 1]float64 // the statistics of the last window scored
	logRepeat   []float64             // per active metric: log10 of its chance to repeat a value
	last        []float64             // per active metric: last observed value
	run         []int                 // per active metric: repeats of that value so far
	runLog      []float64             // per active metric: log10 of the chance of those repeats
	runs        *runStats             // the level and spread scans
	// The last runWindow values of Σ v² and of each metric's v², oldest first, for
	// the run statistics.
	qRing []float64
	vRing []float64 // runWindow × active metrics
	// constants counts the metrics constant in training, over which the count
	// tests of their changes are corrected for multiplicity.
	constants int
	notes     []string

	// Scratch for Score.
	chat, c, zhat, z, rhat, r, v, e, g, a, w []float64
	level                                    []float64 // per metric: expected population value
	wz, sigR, sigE                           []float64 // per active metric: sampling variance in standard units, residual and own error scales
	sigC                                     []float64 // per component: error scale
	via                                      []int     // per metric: the statistic that blames it most
	held, calm                               []int     // per active metric: windows in incident mode, and calm windows in a row (see hold)
	slowRef                                  []float64 // per active metric: its slow reference level (see slowShare)
	x                                        []float64 // per active metric: this window's departure from it, in σ
	d                                        []float64 // per active metric: this window's deseasonalised value
	wr                                       []float64 // per active metric: its residual's sampling variance
	mScratch                                 []float64 // k × k, for residualSampling
	viaShare                                 []float64 // per metric: that statistic's share
	blame                                    []float64 // per active metric: its capped share of the residual statistics (see attribute)
}

// fitModel learns a model from history and the sampling of its values (nil when
// none is known).
//
// The statistics' tails are calibrated on errors the model did not fit: a
// first model fitted without the last rows (see holdoutRows) scores them as
// it would live windows, and each statistic's tail on the whole history is
// stretched by how much further its upper decile reaches on those rows than on
// the rows that model was fitted to. Errors calibrated in sample understate
// those out of sample, and statistics that add errors up over windows (the
// scans above all) understate them most: out of sample, errors also persist.
func fitModel(cfg Config, names []string, history [][]float64, sampling [][]Sampling) (*model, error) {
	md, err := fitCore(cfg, names, history, sampling)
	if err != nil {
		return nil, err
	}
	h := holdoutRows(len(history), cfg.Period)
	if h == 0 {
		return md, nil
	}
	cut := len(history) - h
	var first, rest [][]Sampling
	if sampling != nil {
		first, rest = sampling[:cut], sampling[cut:]
	}
	m0, err := fitCore(cfg, names, history[:cut], first)
	if err != nil {
		// The shorter history may lack what the whole one has (a metric seen
		// in too few of its rows, say): the in-sample calibration stands.
		return md, nil
	}
	held := m0.heldOut(cfg, names, history[cut:], rest)
	for s := range held {
		r := quantile(held[s], 0.9) / quantile(m0.calib[s], 0.9)
		if r > 1 && !math.IsInf(r, 0) {
			md.tails[s] = md.tails[s].stretch(r)
		}
	}
	md.threshold = md.heldOutThreshold(cfg, held)
	md.notes = append(md.notes, fmt.Sprintf("scores calibrated on the last %d rows, as scored by a model fitted on the first %d; threshold %.2f", h, cut, md.threshold))
	return md, nil
}

// thresholdFrom is the score from which the threshold is extrapolated (see
// heldOutThreshold): a window in 30 reaches it on any one calibrated
// statistic.
const thresholdFrom = 1.5

// heldOutThreshold sets the threshold from how often held-out windows reach
// thresholdFrom on any statistic, r: a window's score being the largest of
// its statistics', windows reach a score s about r·10^(thresholdFrom − s) of
// the time, and the threshold is the s at which that is the false alarm rate.
// Splitting the rate evenly between the statistics, as Config.Threshold does,
// takes them for independent, where they respond together to most of what
// they see; the split stays the ceiling, and one statistic's share the floor.
func (md *model) heldOutThreshold(cfg Config, held [statStuck][]float64) float64 {
	cfg = cfg.withDefaults()
	ceiling, floor := cfg.Threshold(), -math.Log10(cfg.FalseAlarmRate)
	rows, reached := len(held[0]), 0
	for t := range rows {
		for s := range held {
			if min(md.tails[s].score(held[s][t]), md.null[s].score(held[s][t])) >= thresholdFrom {
				reached++
				break
			}
		}
	}
	// A short held-out stretch tells little: heldOutPrior windows reaching
	// the score at the split's rate, numStats·10^−thresholdFrom, weigh in.
	prior := float64(numStats) * math.Pow(10, -thresholdFrom)
	r := (float64(reached) + heldOutPrior*prior) / float64(rows+heldOutPrior)
	return min(max(thresholdFrom+math.Log10(r/cfg.FalseAlarmRate), floor), ceiling)
}

// heldOutPrior is how many windows of prior weight the split's rate has
// against held-out windows in heldOutThreshold.
const heldOutPrior = 30

// holdoutRows is how many of the last of n rows calibrate the scores out of
// sample: a quarter, at least a season, leaving two seasons for Holt-Winters
// when the whole history has them; none when that leaves fewer than 12.
func holdoutRows(n, period int) int {
	var h int
	if n >= 2*period {
		h = min(max(period, n/4), n-2*period)
	} else {
		h = n / 4
	}
	if h < 12 {
		return 0
	}
	return h
}

// heldOut scores rows as live windows, without raising or reporting alarms,
// and returns every calibrated statistic's values on them.
func (md *model) heldOut(cfg Config, names []string, rows [][]float64, sampling [][]Sampling) [statStuck][]float64 {
	var out [statStuck][]float64
	md.calibrating = true
	for t, row := range rows {
		var s []Sampling
		if sampling != nil {
			s = sampling[t]
		}
		md.score(cfg, names, row, s)
		for i := range out {
			out[i] = append(out[i], md.lastStats[i])
		}
	}
	return out
}

// quantile is the q-quantile of the finite values of x (0 when there are none).
func quantile(x []float64, q float64) float64 {
	v := make([]float64, 0, len(x))
	for _, e := range x {
		if e == e {
			v = append(v, e)
		}
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[min(int(q*float64(len(v))), len(v)-1)]
}

// fitCore fits a model to history without held-out calibration.
func fitCore(cfg Config, names []string, history [][]float64, sampling [][]Sampling) (*model, error) {
	n, nm := len(history), len(names)
	if n < 3 {
		return nil, fmt.Errorf("fit detector: %d rows: need at least 3", n)
	}
	for i, row := range history {
		if len(row) != nm {
			return nil, fmt.Errorf("fit detector: row %d has %d values, want %d", i, len(row), nm)
		}
	}
	for j := range nm {
		for _, row := range history {
			if math.IsInf(row[j], 0) {
				return nil, fmt.Errorf("fit detector: metric %s is infinite in training", names[j])
			}
		}
	}
	samp := newTrainingSampling(history, sampling, nm)
	values := history
	md := &model{rows: n, mean: make([]float64, nm), scale: make([]float64, nm), status: make([]metricStatus, nm)}
	md.logged = make([]bool, nm)
	if samp != nil {
		values = samp.values
		md.logged = samp.logged
		md.rate = samp.rate
	}
	if n < 2*cfg.Period {
		md.notes = append(md.notes, fmt.Sprintf("history of %d rows is shorter than two seasons of %d: forecasting with a robust median/MAD level, without seasonality or trend", n, cfg.Period))
	}
	var constant, counted, unmodelled []string
	for j := range nm {
		sum, cnt := 0.0, 0
		for _, row := range values {
			if v := row[j]; !math.IsNaN(v) {
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
		for _, row := range values {
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
			md.constants++
			if samp != nil && samp.known[j] {
				counted = append(counted, names[j])
			} else {
				constant = append(constant, names[j])
			}
			continue
		}
		md.active = append(md.active, j)
	}
	if len(constant) > 0 {
		md.notes = append(md.notes, fmt.Sprintf("constant in training, flagged on any change: %v", constant))
	}
	if len(counted) > 0 {
		md.notes = append(md.notes, fmt.Sprintf("constant in training, a change judged against the window's sampling spread: %v", counted))
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
		for t, row := range values {
			if v := row[j]; math.IsNaN(v) {
				missing[t*na+a] = true
			} else {
				z.Set(t, a, (v-md.mean[j])/md.scale[j])
			}
		}
	}
	md.free = make([]float64, na)
	if na > 0 {
		var noise []float64
		if samp != nil {
			noise = make([]float64, na)
			for a, j := range md.active {
				sum, cnt := 0.0, 0
				for t := range n {
					if !missing[t*na+a] {
						sum += samp.svar[t][j]
						cnt++
					}
				}
				if cnt > 0 {
					noise[a] = sum / float64(cnt) / (md.scale[j] * md.scale[j])
				}
			}
		}
		pca, err := fitPCA(z, cfg.VarianceShare, cfg.MaxComponents, noise)
		if err != nil {
			return nil, fmt.Errorf("fit detector: %w", err)
		}
		md.k = len(pca.Explained)
		md.explained = pca.Explained
		md.load = make([]float64, na*md.k)
		for a := range na {
			h := 0.0
			for i := range md.k {
				l := pca.Loadings.At(a, i)
				md.load[a*md.k+i] = l
				h += l * l
			}
			md.free[a] = max(1-h, 0)
		}
		var tr *trainingScales
		if samp != nil {
			tr = samp.scales(md)
		}
		if err := md.fitForecasters(cfg, z, pca.Loadings, missing, tr); err != nil {
			return nil, err
		}
	}
	// Repeats are of the values as measured: a stuck source repeats those.
	md.fitRepeats(history, samp)
	md.retuneAt = retuneSpacing(cfg.Period, n)
	md.threshold = cfg.Threshold()
	k := md.k
	md.chat, md.c, md.sigC = make([]float64, k), make([]float64, k), make([]float64, k)
	md.zhat, md.z, md.rhat, md.r = make([]float64, na), make([]float64, na), make([]float64, na), make([]float64, na)
	md.v, md.e, md.g, md.a, md.w = make([]float64, na), make([]float64, na), make([]float64, na), make([]float64, nm), make([]float64, na)
	md.level, md.wz, md.sigR, md.sigE = make([]float64, nm), make([]float64, na), make([]float64, na), make([]float64, na)
	md.via, md.viaShare, md.blame = make([]int, nm), make([]float64, nm), make([]float64, na)
	md.wr, md.mScratch = make([]float64, na), make([]float64, k*k)
	md.held, md.calm = make([]int, na), make([]int, na)
	md.x, md.d = make([]float64, na), make([]float64, na)
	if md.slowRef == nil {
		md.slowRef = make([]float64, na)
	}
	if md.qRing == nil {
		md.qRing, md.vRing = make([]float64, runWindow), make([]float64, runWindow*na)
		md.runs = newRunStats(na)
	}
	return md, nil
}

// trainingSampling is the sampling of a training history, turned into what a
// fit needs: the values without the bias of distance statistics, and each
// value's sampling variance.
type trainingSampling struct {
	raw      [][]float64
	sampling [][]Sampling
	values   [][]float64 // raw less the bias
	svar     [][]float64 // sampling variance, in the metric's units; 0 where unknown
	level    []float64   // per metric: its population value in training, for the bias and variance
	known    []bool      // per metric: some value's sampling is known
	logged   []bool      // per metric: a count, modelled on a log scale
	rate     []float64   // per metric: a rate metric's lower bound on its rate in training (see lowRate), NaN for others
}

// newTrainingSampling returns nil when no value's sampling is known.
func newTrainingSampling(history [][]float64, sampling [][]Sampling, nm int) *trainingSampling {
	if sampling == nil {
		return nil
	}
	ts := &trainingSampling{raw: history, sampling: sampling, level: make([]float64, nm), known: make([]bool, nm), logged: make([]bool, nm), rate: make([]float64, nm)}
	any := false
	var obs []float64
	for j := range nm {
		// The population value: the mean for rates, whose median is often
		// zero; otherwise the median of the values without their bias at
		// zero distance, refined once for KS, whose bias shrinks as the true
		// distance grows.
		obs = obs[:0]
		kind, sum := SamplingUnknown, 0.0
		for t, row := range history {
			if s := sampling[t]; s != nil && s[j].known() && !math.IsNaN(row[j]) {
				kind = s[j].Kind
				obs = append(obs, row[j]-s[j].bias(0))
				sum += row[j]
			}
		}
		if len(obs) == 0 {
			continue
		}
		ts.known[j], any = true, true
		ts.logged[j] = kind == SamplingCount
		ts.rate[j] = math.NaN()
		if kind == SamplingRate {
			ts.level[j] = sum / float64(len(obs))
			ts.rate[j] = lowRate(history, sampling, j)
			continue
		}
		slices.Sort(obs)
		ts.level[j] = max(medianSorted(obs), 0)
		if kind == SamplingKS {
			obs = obs[:0]
			for t, row := range history {
				if s := sampling[t]; s != nil && s[j].known() && !math.IsNaN(row[j]) {
					obs = append(obs, row[j]-s[j].bias(ts.level[j]))
				}
			}
			slices.Sort(obs)
			ts.level[j] = max(medianSorted(obs), 0)
		}
	}
	if !any {
		return nil
	}
	ts.values = make([][]float64, len(history))
	ts.svar = make([][]float64, len(history))
	for t, row := range history {
		ts.values[t] = make([]float64, nm)
		ts.svar[t] = make([]float64, nm)
		for j, x := range row {
			var s Sampling
			if sampling[t] != nil {
				s = sampling[t][j]
			}
			if !s.known() || math.IsNaN(x) {
				ts.values[t][j] = toModel(ts.logged[j], x)
				continue
			}
			level := ts.level[j]
			if s.Kind == SamplingCount {
				// Counts follow the traffic's cycle: each is its own best guess.
				level = max(x, 0)
			}
			ts.values[t][j] = toModel(ts.logged[j], x-s.bias(level))
			ts.svar[t][j] = s.variance(level) * modelSlope(ts.logged[j], level)
		}
	}
	return ts
}

// toModel puts a value on the model's scale: log1p for the logged counts.
func toModel(logged bool, x float64) float64 {
	if logged {
		return math.Log1p(max(x, 0))
	}
	return x
}

// fromModel is toModel's inverse.
func fromModel(logged bool, y float64) float64 {
	if logged {
		return math.Expm1(y)
	}
	return y
}

// modelSlope is the square of toModel's derivative at x, which turns a
// variance into the model's scale.
func modelSlope(logged bool, x float64) float64 {
	if logged {
		return 1 / ((1 + max(x, 0)) * (1 + max(x, 0)))
	}
	return 1
}

// lowRate is a lower 95% bound on rate metric j's rate over the training
// windows: the events it counted, as a Poisson count, over the items. The
// chance of a run of zeros is judged at it (see model.repeatChance), so that
// a short history that happened to catch a few rare events does not make
// their later absence look like a stuck source.
func lowRate(history [][]float64, sampling [][]Sampling, j int) float64 {
	events, items := 0.0, 0.0
	for t, row := range history {
		if s := sampling[t]; s != nil && s[j].known() && !math.IsNaN(row[j]) {
			events += math.Round(row[j] * s[j].N)
			items += s[j].N
		}
	}
	if events == 0 || items == 0 {
		return 0
	}
	return mathext.GammaIncRegInv(events, 0.05) / items
}

// trainingScales is what the forecasters' calibration reads of the sampling:
// each active metric's sampling variance in standard units, and its tail
// score.
type trainingScales struct {
	w    *mat.Dense // rows × active metrics
	tail func(t, a int, level float64) (float64, bool)
	z    func(t, a int) float64 // the standardised value
}

func (ts *trainingSampling) scales(md *model) *trainingScales {
	na := len(md.active)
	w := mat.NewDense(len(ts.values), max(na, 1), nil)
	for t := range ts.values {
		for a, j := range md.active {
			w.Set(t, a, ts.svar[t][j]/(md.scale[j]*md.scale[j]))
		}
	}
	return &trainingScales{w: w, tail: func(t, a int, level float64) (float64, bool) {
		j := md.active[a]
		if ts.sampling[t] == nil {
			return 0, false
		}
		s := ts.sampling[t][j]
		if !s.known() {
			return 0, false
		}
		return s.tailZ(ts.raw[t][j], fromModel(ts.logged[j], level))
	}, z: func(t, a int) float64 {
		j := md.active[a]
		return (ts.values[t][j] - md.mean[j]) / md.scale[j]
	}}
}

// processVariance is the variance of a channel's one-step errors beyond
// sampling: the s ≥ 0 for which the errors, each divided by √(s + w_t), have a
// mean square of one. Each square enters capped at capSq, so that the spread
// of the many is not set by a wild few. Zero when sampling alone explains the
// errors.
func processVariance(errs, w []float64, capSq float64) float64 {
	ms := func(s float64) float64 {
		sum, n := 0.0, 0
		for t, e := range errs {
			if e != e {
				continue
			}
			d := s + w[t]
			q := capSq
			if d > 0 {
				q = min(e*e/d, capSq)
			} else if e == 0 {
				q = 0
			}
			sum += q
			n++
		}
		if n == 0 {
			return 0
		}
		return sum / float64(n)
	}
	if ms(0) <= 1 {
		return 0
	}
	lo, hi := 0.0, 0.0
	for _, e := range errs {
		if e == e {
			hi = max(hi, e*e)
		}
	}
	for range 60 {
		mid := (lo + hi) / 2
		if ms(mid) > 1 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// fitForecasters fits Holt-Winters to every component series and to every metric's
// residual series, and calibrates the statistics on the in-sample one-step errors.
// tr carries the training values' sampling, nil when none is known. The work
// goes in stages over one fitState: the components' forecasters, the
// residuals', the metrics better forecast on their own, the standardised
// errors, the departures from a slow level, and the calibration.
func (md *model) fitForecasters(cfg Config, z *mat.Dense, load *mat.Dense, missing []bool, tr *trainingScales) error {
	f := newFitState(md, cfg, z, load, missing, tr)
	if err := f.components(); err != nil {
		return err
	}
	if err := f.residuals(); err != nil {
		return err
	}
	if err := f.ownForecasts(); err != nil {
		return err
	}
	f.standardise()
	f.departures()
	f.calibrate()
	return nil
}

// fitState is what the stages of fitForecasters hand each other: the
// projection, the one-step errors (NaN where there is none) and their
// sampling variances, row by row.
type fitState struct {
	md      *model
	cfg     Config
	n, na   int
	k       int
	z       *mat.Dense
	missing []bool
	tr      *trainingScales
	scores  mat.Dense
	resid   mat.Dense
	// ec, er and et are the components', residuals' and own forecasts' raw
	// one-step errors; lv the level part of each metric's forecast, on the
	// scale of the channel it is judged on.
	ec, er, et, lv *mat.Dense
	// wc and wr are the sampling variances of each component's errors
	// (Σ_a L² w_a) and of each metric's residual, per row; nil without tr.
	wc, wr *mat.Dense
	// u and v are the standardised errors per component and per metric (0
	// where there is none); x each metric's departure from its slow level.
	u, v, x *mat.Dense
	// Scratch columns.
	series, errs, levels, wcol []float64
}

func newFitState(md *model, cfg Config, z, load *mat.Dense, missing []bool, tr *trainingScales) *fitState {
	n, na := z.Dims()
	k := md.k
	f := &fitState{md: md, cfg: cfg, n: n, na: na, k: k, z: z, missing: missing, tr: tr,
		ec: mat.NewDense(n, max(k, 1), nil), er: mat.NewDense(n, na, nil), et: mat.NewDense(n, na, nil),
		lv:     mat.NewDense(n, na, nil),
		series: make([]float64, n), errs: make([]float64, n), levels: make([]float64, n), wcol: make([]float64, n)}
	f.scores.Mul(z, load)
	var recon mat.Dense
	recon.Mul(&f.scores, load.T())
	f.resid.Sub(z, &recon)
	if tr != nil && k > 0 {
		sq := mat.NewDense(na, k, nil)
		sq.Apply(func(_, _ int, l float64) float64 { return l * l }, load)
		f.wc = mat.NewDense(n, k, nil)
		f.wc.Mul(tr.w, sq)
	}
	if tr != nil {
		f.wr = mat.NewDense(n, na, nil)
		m := make([]float64, k*k)
		row := make([]float64, na)
		for t := range n {
			mat.Row(row, t, tr.w)
			md.residualSampling(row, m, f.wr.RawRowView(t))
		}
	}
	return f
}

// sigma is a forecaster's error scale: with the training sampling known, the
// process's own variance once the sampling's share (column w) is taken out.
func (f *fitState) sigma(fc forecaster, w *mat.Dense, col int) float64 {
	if w == nil {
		return fc.Sigma()
	}
	mat.Col(f.wcol, col, w)
	return math.Sqrt(processVariance(f.errs, f.wcol, capSq(f.cfg)))
}

func (f *fitState) components() error {
	md := f.md
	md.comps = make([]forecaster, f.k)
	md.compSigma = make([]float64, f.k)
	md.compSeen = make([][]float64, f.k)
	for i := range f.k {
		mat.Col(f.series, i, &f.scores)
		fc, err := fitForecaster(f.series, f.cfg.Period, hwFull, f.errs, nil)
		if err != nil {
			return fmt.Errorf("fit detector: component %d: %w", i+1, err)
		}
		md.comps[i] = fc
		md.compSeen[i] = slices.Clone(f.series)
		f.ec.SetCol(i, f.errs)
		md.compSigma[i] = max(f.sigma(fc, f.wc, i), 1e-9)
	}
	return nil
}

func (f *fitState) residuals() error {
	md, n, na := f.md, f.n, f.na
	md.resid = make([]forecaster, na)
	md.residSigma = make([]float64, na)
	for a := range na {
		mat.Col(f.series, a, &f.resid)
		ss := 0.0
		for t := range f.series {
			if f.missing[t*na+a] {
				f.series[t] = math.NaN()
			} else {
				ss += f.series[t] * f.series[t]
			}
		}
		// A residual this small is rounding: the subspace explains the metric fully
		// (always so for a single metric), and forecasting it would score noise.
		if ss <= 1e-12*float64(n) {
			md.residSigma[a] = 1
			for t := range n {
				f.er.Set(t, a, math.NaN())
			}
			continue
		}
		fc, err := fitForecaster(f.series, f.cfg.Period, hwResidual, f.errs, f.levels)
		if err != nil {
			return fmt.Errorf("fit detector: residual of metric %d: %w", md.active[a], err)
		}
		md.resid[a] = fc
		f.er.SetCol(a, f.errs)
		f.lv.SetCol(a, f.levels)
		md.residSigma[a] = max(f.sigma(fc, f.wr, a), 1e-9)
	}
	return nil
}

// ownForecasts fits, for each metric that may be better forecast on its own
// than through the components (see model.own), its own forecaster. Fitting
// one is worth trying only when its residual's errors are not well below what
// the crudest forecast of it, the same window a season before, would make: a
// metric whose value the other metrics tell much of is left alone, which
// keeps the cost of a fit on wide, strongly shared metrics where it was. A
// count (the traffic's events) is forecast on its own once the history holds
// the two seasons Holt-Winters needs: its daily cycle and wander are the
// traffic's, and where nothing else follows them it makes a component of its
// own whose forecast carries every other metric's noise; judged through it, a
// drop of traffic to 40% scored 2σ. With less history its own forecast would
// be the robust level, which lags the daily cycle.
func (f *fitState) ownForecasts() error {
	md, cfg, n, na, tr := f.md, f.cfg, f.n, f.na, f.tr
	md.own = make([]forecaster, na)
	md.ownSigma = make([]float64, na)
	for a := range na {
		if md.resid[a] == nil {
			continue
		}
		mat.Col(f.series, a, f.z)
		for t := range f.series {
			if f.missing[t*na+a] {
				f.series[t] = math.NaN()
			}
		}
		ss, cnt := 0.0, 0
		for t := cfg.Period; t < n; t++ {
			if d := f.series[t] - f.series[t-cfg.Period]; d == d {
				ss += d * d
				cnt++
			}
		}
		// Over a season's lag the noise of both windows adds up: halve it.
		count := md.logged[md.active[a]] && n >= 2*cfg.Period
		if !count && (cnt == 0 || md.residSigma[a]*md.residSigma[a] < 0.25*ss/float64(2*cnt)) {
			continue
		}
		fc, err := fitForecaster(f.series, cfg.Period, hwResidual, f.errs, f.levels)
		if err != nil {
			return fmt.Errorf("fit detector: metric %d: %w", md.active[a], err)
		}
		sigma, w, wres := fc.Sigma(), 0.0, 0.0
		if tr != nil {
			sigma = f.sigma(fc, tr.w, a)
			w = meanFinite(f.wcol)
			mat.Col(f.wcol, a, f.wr)
			wres = meanFinite(f.wcol)
		}
		if !count && sigma*sigma+w >= md.residSigma[a]*md.residSigma[a]+wres {
			continue
		}
		md.own[a], md.ownSigma[a] = fc, max(sigma, 1e-9)
		f.et.SetCol(a, f.errs)
		f.lv.SetCol(a, f.levels)
	}
	return nil
}

// channel is the one-step error a metric is judged by in row t (its own
// forecast's when it has one, else its residual's) and that error's variance,
// sampling included; ok is false when the metric has no forecast.
func (f *fitState) channel(t, a int) (e, s2 float64, ok bool) {
	md, tr := f.md, f.tr
	switch {
	case md.own[a] != nil:
		e, s2 = f.et.At(t, a), md.ownSigma[a]*md.ownSigma[a]
		if tr != nil {
			s2 += tr.w.At(t, a)
		}
	case md.resid[a] != nil:
		e, s2 = f.er.At(t, a), md.residSigma[a]*md.residSigma[a]
		if tr != nil {
			s2 += f.wr.At(t, a)
		}
	default:
		return 0, 0, false
	}
	return e, s2, true
}

func (f *fitState) standardise() {
	md, n, na, k, tr := f.md, f.n, f.na, f.k, f.tr
	f.u = mat.NewDense(n, max(k, 1), nil)
	f.v = mat.NewDense(n, na, nil)
	sigC := make([]float64, k)
	for t := range n {
		for i := range k {
			s2 := md.compSigma[i] * md.compSigma[i]
			if f.wc != nil {
				s2 += f.wc.At(t, i)
			}
			sigC[i] = math.Sqrt(s2)
			if e := f.ec.At(t, i); e == e {
				f.u.Set(t, i, e/sigC[i])
			}
		}
		for a := range na {
			// A metric with no residual error in the row has none to judge,
			// even when its own forecast has one.
			if e := f.er.At(t, a); e != e {
				continue
			}
			e, s2, ok := f.channel(t, a)
			if !ok || e != e {
				continue
			}
			x := e / math.Sqrt(s2)
			if tr != nil && math.Abs(x) > 1 {
				x *= md.tameFactor(t, a, md.wholeError(t, a, e, f.z, &f.scores, &f.resid, f.ec, f.er), sigC, s2, tr)
			}
			f.v.Set(t, a, x)
		}
	}
}

// departures sets each metric's departure from its slow reference level, for
// the level scan (see slowShare).
func (f *fitState) departures() {
	md, cfg, n, na := f.md, f.cfg, f.n, f.na
	f.x = mat.NewDense(n, na, nil)
	md.slowRef = make([]float64, na)
	share := slowShare(cfg.Period, n)
	for a := range na {
		ref := math.NaN()
		for t := range n {
			if f.missing[t*na+a] {
				continue
			}
			e, s2, ok := f.channel(t, a)
			if !ok {
				continue
			}
			l := f.lv.At(t, a)
			if e != e || l != l {
				continue
			}
			sigma := math.Sqrt(s2)
			d := l + min(max(e, -cfg.ClipSigma*sigma), cfg.ClipSigma*sigma)
			if ref != ref {
				ref = l
			}
			f.x.Set(t, a, (d-ref)/sigma)
			ref += share * (d - ref)
		}
		if ref == ref {
			md.slowRef[a] = ref
		}
	}
}

// calibrate collects every statistic over the rows where every component
// forecast had settled (after the first season for Holt-Winters, which only
// starts forecasting there), and fits the tails the scores are judged by.
func (f *fitState) calibrate() {
	md, cfg, n, na, k := f.md, f.cfg, f.n, f.na, f.k
	start := 0
	if n >= 2*cfg.Period {
		start = cfg.Period
	}
	var stats [statStuck][]float64
	qRing, vRing := make([]float64, runWindow), make([]float64, runWindow*na)
	vrow, xrow := make([]float64, na), make([]float64, na)
	runs := newRunStats(na)
	scanStride := max(1, (n-start)/1000)
	runs.normalise(func(yield func(dev, v []float64)) {
		for t := start; t < n; t++ {
			mat.Row(xrow, t, f.x)
			mat.Row(vrow, t, f.v)
			yield(xrow, vrow)
		}
	}, cfg.ClipSigma, scanStride)
	for t := start; t < n; t++ {
		sT := 0.0
		for i := range k {
			x := f.u.At(t, i)
			sT += x * x
		}
		sQ, sM, obs := 0.0, 0.0, 0
		for a := range na {
			if f.missing[t*na+a] {
				continue
			}
			x := f.v.At(t, a)
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
			if !f.missing[t*na+a] {
				x = min(f.v.At(t, a)*f.v.At(t, a), capSq(cfg))
				obsC++
			}
			vRing[(runWindow-1)*na+a] = x
			capped += x
		}
		copy(qRing, qRing[1:])
		qRing[runWindow-1] = capped * float64(na) / float64(max(obsC, 1))
		if t-start >= runWindow-1 {
			stats[statResidualRun] = append(stats[statResidualRun], runSums(qRing, vRing, na, nil))
		}
		mat.Row(vrow, t, f.v)
		mat.Row(xrow, t, f.x)
		// Scans cost a run of windows per metric; a thousand windows scanned
		// calibrate them as well as all, so long histories are sampled.
		if (t-start)%scanStride == 0 {
			lvs, sp := runs.add(xrow, vrow, cfg.ClipSigma)
			stats[statLevel] = append(stats[statLevel], lvs)
			stats[statSpread] = append(stats[statSpread], sp)
		} else {
			runs.push(xrow, vrow, cfg.ClipSigma)
		}
	}
	md.qRing, md.vRing, md.runs = qRing, vRing, runs
	for s := range stats {
		md.tails[s] = fitTail(stats[s])
	}
	md.calib = stats
	md.null = nullTails(cfg, k, na, runs, slowShare(cfg.Period, n))
}

// capSq is the cap on one squared standardised error in the sums that
// calibrate and score: ClipSigma².
func capSq(cfg Config) float64 { return cfg.ClipSigma * cfg.ClipSigma }

// tameFactor is the factor by which a training error of a skewed statistic
// shrinks when the statistic's own tail is less extreme than a normal one (see
// tame): the metric's whole error e (standard units), over its whole spread,
// against its tail score under sampling. chanVar is the variance of the
// channel the metric is judged on (its residual's or its own).
func (md *model) tameFactor(t, a int, e float64, sigC []float64, chanVar float64, tr *trainingScales) float64 {
	if e != e {
		return 1
	}
	k := md.k
	tot := chanVar
	if md.own[a] == nil {
		for i := range k {
			l := md.load[a*k+i]
			tot += l * l * sigC[i] * sigC[i]
		}
	}
	j := md.active[a]
	// The population value the model expected: the value less its error.
	zhat := 0.0
	if x := tr.z(t, a); x == x {
		zhat = x - e
	}
	zt, ok := tr.tail(t, a, md.mean[j]+md.scale[j]*zhat)
	if !ok {
		return 1
	}
	zn := e / math.Sqrt(tot)
	if zn == 0 {
		return 1
	}
	return math.Abs(tame(zn, zt)) / math.Abs(zn)
}

// residualSampling writes into out the sampling variance of each active
// metric's residual, given each metric's sampling variance w in standard
// units: the residual is (I − P)z with P = LLᵀ the projection on the retained
// components, so that its variance is w_a(1 − 2P_aa) + Σ_b P_ab² w_b, and
// Σ_b P_ab² w_b = L_a M L_aᵀ with M = Σ_b w_b L_bᵀL_b, k × k. Noise in the
// other metrics reaches a residual through the components it shares with them.
// m is k×k scratch.
func (md *model) residualSampling(w, m, out []float64) {
	k := md.k
	clear(m)
	for b, wb := range w {
		if wb == 0 {
			continue
		}
		l := md.load[b*k : (b+1)*k]
		for i, li := range l {
			for i2, li2 := range l[:i+1] {
				m[i*k+i2] += wb * li * li2
			}
		}
	}
	for i := range k {
		for i2 := range i {
			m[i2*k+i] = m[i*k+i2]
		}
	}
	for a := range w {
		l := md.load[a*k : (a+1)*k]
		q := 0.0
		for i, li := range l {
			s := 0.0
			for i2, li2 := range l {
				s += m[i*k+i2] * li2
			}
			q += li * s
		}
		h := 1 - md.free[a]
		out[a] = max(w[a]*(1-2*h)+q, 0)
	}
}

// nullRows is how many windows of simulated errors calibrate the null tails.
const nullRows = 1000

// nullTails is each statistic's tail when every error is what the model
// expects of it: independent and standard normal, for k components and na
// metrics, the level scan's departures taken from a slow reference of the
// given share as the model's are, the scans read with runs' fitted centres
// and variances. A score
// is never more than that tail gives (see model.score): a short history's
// in-sample errors are smaller than any later ones (with ten windows and
// forty metrics, the components fit them almost exactly), and a calibration
// on them alone would flag every window after. On a long history the
// in-sample tails are the heavier and stand.
func nullTails(cfg Config, k, na int, runs *runStats, share float64) [statStuck]tail {
	rng := rand.New(rand.NewPCG(uint64(k), uint64(na)))
	sim := newRunStats(na)
	for _, p := range [][2]*scan{{sim.level, runs.level}, {sim.spread, runs.spread}} {
		copy(p[0].centre, p[1].centre)
		copy(p[0].inv, p[1].inv)
	}
	var stats [statStuck][]float64
	v, x, ref := make([]float64, na), make([]float64, na), make([]float64, na)
	qRing := make([]float64, runWindow)
	for t := range nullRows {
		sT := 0.0
		for range k {
			u := rng.NormFloat64()
			sT += u * u
		}
		sQ, sM, capped := 0.0, 0.0, 0.0
		for a := range v {
			v[a] = rng.NormFloat64()
			sQ += v[a] * v[a]
			sM = max(sM, v[a]*v[a])
			capped += min(v[a]*v[a], capSq(cfg))
			x[a] = v[a] - ref[a]
			ref[a] += share * x[a]
		}
		copy(qRing, qRing[1:])
		qRing[runWindow-1] = capped
		stats[statComponents] = append(stats[statComponents], sT)
		stats[statResidual] = append(stats[statResidual], sQ)
		stats[statMetric] = append(stats[statMetric], sM)
		if t >= runWindow-1 {
			sR := 0.0
			for _, q := range qRing {
				sR += q
			}
			stats[statResidualRun] = append(stats[statResidualRun], sR)
		}
		lv, sp := sim.add(x, v, cfg.ClipSigma)
		if t >= scanWindows {
			stats[statLevel] = append(stats[statLevel], lv)
			stats[statSpread] = append(stats[statSpread], sp)
		}
	}
	var tails [statStuck]tail
	for s := range stats {
		tails[s] = fitTail(stats[s])
	}
	return tails
}

// wholeError is active metric a's whole one-step error in training row t, in
// standard units: e itself for a metric forecast on its own, else its value
// less the components' forecasts mapped back and its residual's forecast.
func (md *model) wholeError(t, a int, e float64, z, scores, resid, ec, er *mat.Dense) float64 {
	if md.own[a] != nil {
		return e
	}
	k := md.k
	zhat := resid.At(t, a) - er.At(t, a)
	for i := range k {
		zhat += md.load[a*k+i] * (scores.At(t, i) - ec.At(t, i))
	}
	return z.At(t, a) - zhat
}

// rms is the root mean square of the finite values of x.
func rms(x []float64) float64 {
	s, n := 0.0, 0
	for _, v := range x {
		if v == v {
			s += v * v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(s / float64(n))
}

// meanFinite is the mean of the finite values of x.
func meanFinite(x []float64) float64 {
	s, n := 0.0, 0
	for _, v := range x {
		if v == v {
			s += v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

// runSums returns Σ over the window of Σ v²; w, when not nil, receives each
// metric's sum of v² over the window.
func runSums(qRing, vRing []float64, na int, w []float64) float64 {
	sR := 0.0
	for _, q := range qRing {
		sR += q
	}
	if w != nil {
		for a := range na {
			x := 0.0
			for i := range runWindow {
				x += vRing[i*na+a]
			}
			w[a] = x
		}
	}
	return sR
}

// fitRepeats learns how often each active metric repeats its previous value exactly,
// with a Laplace estimate so that a metric that never repeated is not certain never
// to, and carries the run each metric ends its history on into scoring. A rate
// whose sampling is known has that run charged as scoring charges it, at its
// sample's chance of repeating (see repeatChance), rather than at the share of
// repeats over the whole history: the out-of-range ratio of a Cauchy-like
// feature at 10,000 events a minute repeated its 0 in 19 windows in 20 over a
// day, but does so with a chance of about 0.98 in the quiet night's windows,
// and a run of zeros from the evening to the fit, charged at the day's share,
// flagged the night's windows as stuck for hours (trafficbench).
func (md *model) fitRepeats(history [][]float64, samp *trainingSampling) {
	na := len(md.active)
	md.logRepeat = make([]float64, na)
	md.last = make([]float64, na)
	md.run = make([]int, na)
	md.runLog = make([]float64, na)
	for a, j := range md.active {
		repeats, pairs := 0, 0
		last, run, runFrom := math.NaN(), 0, 0
		for t, row := range history {
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
					run, runFrom = 0, t
				}
			}
			last = x
		}
		md.logRepeat[a] = math.Log10(float64(repeats+1) / float64(pairs+2))
		md.last[a], md.run[a] = last, run
		if run == 0 {
			continue
		}
		rate := samp != nil && !math.IsNaN(samp.rate[j])
		if !rate {
			md.runLog[a] = float64(run) * md.logRepeat[a]
			continue
		}
		// The run's windows after its first, each at its own sample size.
		seen := false
		for t := runFrom; t < len(history); t++ {
			x := history[t][j]
			if math.IsNaN(x) {
				continue
			}
			if !seen {
				seen = true
				continue
			}
			if s := samp.sampling[t]; s != nil && s[j].known() && s[j].Kind == SamplingRate {
				md.runLog[a] += rateRepeatChance(x, samp.rate[j], s[j].N)
			} else {
				md.runLog[a] += md.logRepeat[a]
			}
		}
	}
}
