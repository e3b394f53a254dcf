package anomaly

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
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
