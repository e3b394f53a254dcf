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
func fitForecaster(x []float64, period int, search hwSearch, errs, levels []float64) (forecaster, error) {
	if len(x) >= 2*period {
		return fitHoltWinters(x, period, search, errs, levels)
	}
	return fitRobustLevel(x, errs, levels)
}

// robustLevel forecasts the median of the recent window with 1.4826·MAD as its
// scale. It stands in for Holt-Winters on histories shorter than two seasons, where
// a seasonal figure cannot be estimated, and is robust because such short histories
// are exactly where one outlier would otherwise dominate a mean and a variance.
type robustLevel struct {
	window []float64 // last len(window) observations, oldest first
	sorted []float64
	median float64
	sigma  float64
}

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
	r := &robustLevel{window: obs, sorted: make([]float64, 0, len(obs))}
	r.refresh()
	if errs != nil {
		for i, v := range x {
			errs[i] = v - r.median
		}
	}
	if levels != nil {
		for i := range x {
			levels[i] = r.median
		}
	}
	return r, nil
}

func (r *robustLevel) refresh() {
	r.sorted = append(r.sorted[:0], r.window...)
	slices.Sort(r.sorted)
	r.median = medianSorted(r.sorted)
	for i, v := range r.sorted {
		r.sorted[i] = math.Abs(v - r.median)
	}
	slices.Sort(r.sorted)
	r.sigma = 1.4826 * medianSorted(r.sorted)
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
		copy(r.window, r.window[1:])
		r.window[len(r.window)-1] = y
		r.refresh()
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
