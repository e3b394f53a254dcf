package anomaly

import (
	"errors"
	"fmt"
	"math"
)

// HoltWinters is an additive Holt-Winters model (level, trend and season) in the
// error-correction form of R's stats::HoltWinters, fitted to one series and then
// advanced one observation at a time.
type HoltWinters struct {
	Alpha, Beta, Gamma float64
	Period             int

	level, trend float64
	// season is a ring: season[pos] is the seasonal term of the next observation.
	season []float64
	pos    int
	// sigma is the root mean square one-step error over the fitted history, the
	// scale of the prediction interval.
	sigma float64
}

// ErrShortHistory means a series is too short for a seasonal model.
var ErrShortHistory = errors.New("history shorter than two seasons")

// hwGrid is the coarse grid the optimiser starts from. It holds R's own starting
// point (0.3, 0.1, 0.1), so the grid stage can only improve on where R begins.
func hwGrid() [][]float64 {
	return [][]float64{
		{0.02, 0.1, 0.3, 0.6, 0.95},
		{0, 0.02, 0.1, 0.3},
		{0.02, 0.1, 0.3, 0.6, 0.95},
	}
}

// hwMaxEval bounds the work of one fit: the grid plus about a hundred simplex steps,
// enough to settle three parameters to 1e-7.
const hwMaxEval = 400

// FitHoltWinters fits an additive Holt-Winters model to x with the given period.
//
// Start values are R's: a classical decomposition (centred moving average) of the
// first two periods gives the seasonal figure, and a straight line through that
// moving average gives the start level (its intercept) and trend (its slope).
// α, β and γ minimise the sum of squared one-step errors over observations period+1
// to len(x), searched on [0,1]³ by a grid followed by a box-bounded simplex. NaN
// observations carry no error and leave level, trend and season to run on, so a
// window without data does not derail the fit. The returned model has consumed all
// of x and forecasts the observation after it.
func FitHoltWinters(x []float64, period int) (*HoltWinters, error) {
	return fitHoltWinters(x, period, hwFull, nil, nil)
}

// hwSearch says which parameters a fit searches over and how much work it may do.
type hwSearch int

const (
	// hwFull is the search FitHoltWinters does.
	hwFull hwSearch = iota
	// hwResidual is the cheaper search for PCA residual series, fitted once per
	// metric: a residual is a deviation from the retained subspace with mean zero by
	// construction, so it gets no trend (β = 0) and a smaller budget.
	hwResidual
)

func (s hwSearch) grid() [][]float64 {
	if s == hwResidual {
		return [][]float64{{0.02, 0.1, 0.3, 0.6}, {0}, {0.02, 0.1, 0.3, 0.6}}
	}
	return hwGrid()
}

func (s hwSearch) maxEval() int {
	if s == hwResidual {
		return 60
	}
	return hwMaxEval
}

// fitHoltWinters fits x and, when errs is not nil, writes the in-sample one-step
// error of each observation into errs (NaN where there is none: the first period and
// missing observations), and when levels is not nil the level part of each
// one-step forecast (NaN likewise).
func fitHoltWinters(x []float64, period int, search hwSearch, errs, levels []float64) (*HoltWinters, error) {
	return estimateHoltWinters(x, period, errs, levels, func(sse func([]float64) float64) []float64 {
		p, _ := minimizeBox(sse, search.grid(), search.maxEval())
		return p
	})
}

// hwRetuneMaxEval bounds the work of one retune: a warm start is already in the
// right basin, so two small simplexes settle it.
const hwRetuneMaxEval = 100

// retuneHoltWinters re-estimates α, β and γ of m on x, the whole series m has seen:
// the history it was fitted on followed by every observation it consumed since.
// The start values come from the same first two periods, so the error surface only
// shifts by what the new observations add and the search starts from m's
// parameters, in the basin the full search chose. The returned model has consumed
// all of x.
func retuneHoltWinters(m *HoltWinters, x []float64) (*HoltWinters, error) {
	return estimateHoltWinters(x, m.Period, nil, nil, func(sse func([]float64) float64) []float64 {
		p0 := []float64{m.Alpha, m.Beta, m.Gamma}
		p, _ := refineBox(sse, p0, sse(p0), []int{0, 1, 2}, []float64{0.02, 0.005}, hwRetuneMaxEval)
		return p
	})
}

// estimateHoltWinters computes the start values of x, lets search pick the
// parameters that minimise the sum of squared one-step errors after the first
// period, and runs the model over x with them.
func estimateHoltWinters(x []float64, period int, errs, levels []float64, search func(sse func([]float64) float64) []float64) (*HoltWinters, error) {
	if period < 2 {
		return nil, fmt.Errorf("fit holt-winters: period %d: must be at least 2", period)
	}
	// A series that starts late (a feature added after the history began) is fitted
	// from its first observation.
	lead := 0
	for lead < len(x) && math.IsNaN(x[lead]) {
		lead++
	}
	if errs != nil {
		for i := range lead {
			errs[i] = math.NaN()
		}
		errs = errs[lead:]
	}
	if levels != nil {
		for i := range lead {
			levels[i] = math.NaN()
		}
		levels = levels[lead:]
	}
	x = x[lead:]
	if len(x) < 2*period {
		return nil, fmt.Errorf("fit holt-winters: %d observations, period %d: %w", len(x), period, ErrShortHistory)
	}
	l0, b0, s0, err := hwStart(x[:2*period], period)
	if err != nil {
		return nil, fmt.Errorf("fit holt-winters: %w", err)
	}
	smoothSeason(s0)
	season := make([]float64, period)
	sse := func(p []float64) float64 {
		copy(season, s0)
		m := HoltWinters{Alpha: p[0], Beta: p[1], Gamma: p[2], Period: period, level: l0, trend: b0, season: season}
		s, _ := m.run(x[period:], nil, nil)
		return s
	}
	p := search(sse)
	m := &HoltWinters{Alpha: p[0], Beta: p[1], Gamma: p[2], Period: period, level: l0, trend: b0, season: slicesClone(s0)}
	var tail, levelTail []float64
	if errs != nil {
		for i := range period {
			errs[i] = math.NaN()
		}
		tail = errs[period:]
	}
	if levels != nil {
		for i := range period {
			levels[i] = math.NaN()
		}
		levelTail = levels[period:]
	}
	s, n := m.run(x[period:], tail, levelTail)
	if n == 0 {
		return nil, fmt.Errorf("fit holt-winters: no observations after the first period")
	}
	m.sigma = math.Sqrt(s / float64(n))
	return m, nil
}

func slicesClone(s []float64) []float64 { return append([]float64(nil), s...) }

// run advances the model over x, returning the sum of squared one-step errors and
// the number of observations that contributed; errs, when not nil, receives each
// one-step error, and levels the level part (level and trend) of each forecast.
func (m *HoltWinters) run(x []float64, errs, levels []float64) (float64, int) {
	sse, n := 0.0, 0
	a, b, g := m.Alpha, m.Beta, m.Gamma
	l, t, pos := m.level, m.trend, m.pos
	for i, y := range x {
		s := m.season[pos]
		if levels != nil {
			levels[i] = l + t
		}
		if y == y { // not NaN
			e := y - (l + t + s)
			if errs != nil {
				errs[i] = e
			}
			sse += e * e
			n++
			nl := a*(y-s) + (1-a)*(l+t)
			t = b*(nl-l) + (1-b)*t
			l = nl
			m.season[pos] = g*(y-l) + (1-g)*s
		} else {
			if errs != nil {
				errs[i] = math.NaN()
			}
			l += t
		}
		if pos++; pos == len(m.season) {
			pos = 0
		}
	}
	m.level, m.trend, m.pos = l, t, pos
	return sse, n
}

// Forecast is the one-step-ahead forecast of the next observation.
func (m *HoltWinters) Forecast() float64 { return m.level + m.trend + m.season[m.pos] }

// Sigma is the standard deviation of the one-step error on the fitted history.
func (m *HoltWinters) Sigma() float64 { return m.sigma }

// Level is the level part (level and trend) of the next one-step forecast,
// which Forecast adds the season's term to.
func (m *HoltWinters) Level() float64 { return m.level + m.trend }

// Interval is the one-step prediction interval at the given coverage (e.g. 0.95),
// assuming normal errors with the fitted history's variance, as R's
// predict.HoltWinters does for one step.
func (m *HoltWinters) Interval(coverage float64) (lo, hi float64) {
	f := m.Forecast()
	w := normalQuantile(0.5+coverage/2) * m.sigma
	return f - w, f + w
}

// Update consumes the next observation (NaN when the window has no data) and
// returns its one-step error.
func (m *HoltWinters) Update(y float64) float64 {
	e := y - m.Forecast()
	m.run([]float64{y}, nil, nil)
	return e
}

// seasonPhases is how many phases of a season the start figure's circular
// moving average spans at least (see smoothSeason): 480, so that a day of
// 1-minute windows is smoothed over 7 of them and one of 5-minute windows not
// at all. Over 3 of 288 phases (15 minutes), the components' figures of a
// model of 100 events a window followed the night's quiet windows less
// closely, and the prediction's AUC and latency, whose sampling is unknown,
// flagged 3 of its 288 windows on healthy traffic (trafficbench).
const seasonPhases = 480

// smoothSeason shrinks a long season's start figure towards its circular
// moving average over 2⌊period/seasonPhases⌋+1 phases, by the share of the
// figure's variance that is noise; shorter seasons (R's monthly and hourly
// ones among them) keep theirs. The start figure is one detrended value per
// phase, from the middle of the first two seasons: taken whole, each phase's
// term carries the whole noise of one window, every forecast after it that
// noise again, and in training the fit forecasts part of the very windows the
// figure was read from. With a day of 1-minute windows, the one-step errors
// of healthy traffic on the day after a fit on two days had 1.7 to 1.9 times
// the variance of their sampling, which the fit, seeing only its own windows,
// put at nothing beyond it (trafficbench). A daily pattern changes little
// over a few minutes, so half the mean square of the figure's differences
// between neighbouring phases is its noise; a figure that is mostly pattern
// (the traffic count's daily curve, whose day-to-day wander the fit's
// parameters are tuned to) stays mostly as it was.
func smoothSeason(fig []float64) {
	period := len(fig)
	half := period / seasonPhases
	if half == 0 {
		return
	}
	src := slicesClone(fig)
	mean, diff := 0.0, 0.0
	for i, v := range src {
		mean += v
		d := v - src[(i+1)%period]
		diff += d * d
	}
	mean /= float64(period)
	total := 0.0
	for _, v := range src {
		total += (v - mean) * (v - mean)
	}
	if total == 0 {
		return
	}
	noise := min(diff/2/total, 1)
	w := float64(2*half + 1)
	for i := range fig {
		sum := 0.0
		for d := -half; d <= half; d++ {
			sum += src[(i+d+period)%period]
		}
		fig[i] = noise*sum/w + (1-noise)*src[i]
	}
}

// hwStart computes R's start values from the first two periods: NaNs are filled by
// linear interpolation first, because a moving average cannot skip them.
func hwStart(w []float64, f int) (l0, b0 float64, fig []float64, err error) {
	x, err := interpolate(w)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("start values from the first two periods: %w", err)
	}
	// Centred moving average over one period; an even period uses half weights at
	// both ends so that the window stays centred.
	var lo, hi int
	weights := make([]float64, 0, f+1)
	if f%2 == 0 {
		lo, hi = f/2, len(x)-f/2
		weights = append(weights, 0.5)
		for range f - 1 {
			weights = append(weights, 1)
		}
		weights = append(weights, 0.5)
	} else {
		lo, hi = (f-1)/2, len(x)-(f-1)/2
		for range f {
			weights = append(weights, 1)
		}
	}
	trend := make([]float64, len(x))
	for i := range trend {
		trend[i] = math.NaN()
	}
	for i := lo; i < hi; i++ {
		s := 0.0
		for j, wt := range weights {
			s += wt * x[i-lo+j]
		}
		trend[i] = s / float64(f)
	}
	// Least-squares line through the moving average against 1, 2, …
	var sx, sy, sxx, sxy, n float64
	for i := lo; i < hi; i++ {
		t := float64(i - lo + 1)
		sx += t
		sy += trend[i]
		sxx += t * t
		sxy += t * trend[i]
		n++
	}
	b0 = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	l0 = (sy - b0*sx) / n
	fig = make([]float64, f)
	cnt := make([]float64, f)
	for i, v := range trend {
		if v == v {
			fig[i%f] += x[i] - v
			cnt[i%f]++
		}
	}
	mean := 0.0
	for i := range fig {
		fig[i] /= cnt[i]
		mean += fig[i] / float64(f)
	}
	for i := range fig {
		fig[i] -= mean
	}
	return l0, b0, fig, nil
}

// interpolate returns a copy of x with NaNs replaced by linear interpolation between
// their neighbours, or the nearest value at either end.
func interpolate(x []float64) ([]float64, error) {
	out := slicesClone(x)
	prev := -1
	for i, v := range out {
		if v != v {
			continue
		}
		switch {
		case prev < 0:
			for j := range i {
				out[j] = v
			}
		case i-prev > 1:
			for j := prev + 1; j < i; j++ {
				out[j] = out[prev] + (v-out[prev])*float64(j-prev)/float64(i-prev)
			}
		}
		prev = i
	}
	if prev < 0 {
		return nil, errors.New("no observations")
	}
	for j := prev + 1; j < len(out); j++ {
		out[j] = out[prev]
	}
	return out, nil
}
