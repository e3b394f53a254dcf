package anomaly

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// forecaster predicts the next value of one series and learns from each new one.
type forecaster interface {
	Forecast() float64
	// Update consumes the next observation (NaN for none) and returns its error.
	Update(y float64) float64
	// Sigma is the scale of a one-step error.
	Sigma() float64
	// Level is the part of the next forecast that is not seasonal.
	Level() float64
}

// fitForecaster fits Holt-Winters when the history holds two full seasons and the
// robust non-seasonal fallback otherwise. errs receives the in-sample one-step
// errors and levels, when not nil, the level part of each one-step forecast.
// A series that starts late (a metric first seen after the history began, such
// as label-based quality before the first labels) holds two seasons only from
// its first observation, which is where Holt-Winters starts.
func fitForecaster(x []float64, period int, search hwSearch, errs, levels []float64) (forecaster, error) {
	lead := 0
	for lead < len(x) && math.IsNaN(x[lead]) {
		lead++
	}
	if len(x)-lead >= 2*period {
		return fitHoltWinters(x, period, search, errs, levels)
	}
	return fitRobustLevel(x, errs, levels)
}

// robustLevel forecasts the median of the last robustWindow observations with
// 1.4826·MAD of its one-step errors as its scale. It stands in for
// Holt-Winters on histories shorter than two seasons, where a seasonal figure
// cannot be estimated, and is robust because such short histories are
// exactly where one outlier would otherwise dominate a mean and a variance.
// A short window follows what a short history cannot yet tell from a change:
// the first day of the traffic's daily cycle.
type robustLevel struct {
	window []float64 // last len(window) observations, oldest first
	sorted []float64
	median float64
	sigma  float64
}

// robustWindow is how many recent observations the robust level's median
// reads.
const robustWindow = 12

func fitRobustLevel(x []float64, errs, levels []float64) (*robustLevel, error) {
	var obs []float64
	for _, v := range x {
		if v == v {
			obs = append(obs, v)
		}
	}
	if len(obs) == 0 {
		return nil, errors.New("fit robust level: no observations")
	}
	w := min(len(obs), robustWindow)
	// One-step errors: each observation against the median of the window
	// before it, the first window's against its own median.
	r := &robustLevel{window: slices.Clone(obs[:w]), sorted: make([]float64, 0, w)}
	r.refresh()
	var oneStep []float64
	seen := 0
	for i, v := range x {
		f := r.median
		if errs != nil {
			errs[i] = v - f
		}
		if levels != nil {
			levels[i] = f
		}
		if v != v {
			continue
		}
		oneStep = append(oneStep, v-f)
		if seen++; seen > w {
			r.push(v)
		}
	}
	slices.Sort(oneStep)
	mid := medianSorted(oneStep)
	for i, e := range oneStep {
		oneStep[i] = math.Abs(e - mid)
	}
	slices.Sort(oneStep)
	r.sigma = 1.4826 * medianSorted(oneStep)
	return r, nil
}

// push slides the window on by one observation.
func (r *robustLevel) push(y float64) {
	copy(r.window, r.window[1:])
	r.window[len(r.window)-1] = y
	r.refresh()
}

func (r *robustLevel) refresh() {
	r.sorted = append(r.sorted[:0], r.window...)
	slices.Sort(r.sorted)
	r.median = medianSorted(r.sorted)
}

func medianSorted(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (r *robustLevel) Forecast() float64 { return r.median }
func (r *robustLevel) Level() float64    { return r.median }
func (r *robustLevel) Sigma() float64    { return r.sigma }

func (r *robustLevel) Update(y float64) float64 {
	e := y - r.median
	if y == y {
		r.push(y)
	}
	return e
}

// forecasterDescription names the model behind f for summaries.
func forecasterDescription(f forecaster) string {
	switch m := f.(type) {
	case *HoltWinters:
		return fmt.Sprintf("holt-winters α=%.3f β=%.3f γ=%.3f", m.Alpha, m.Beta, m.Gamma)
	case *robustLevel:
		return "robust median/MAD (history shorter than two seasons)"
	}
	return "unknown"
}
