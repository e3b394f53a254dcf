package anomaly

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

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
