package analyze

import (
	"math"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// results collects one window's check results.
type results struct {
	model      string
	start, end time.Time
	minSamples float64
	// out is the batch's results: this window's begin at first.
	out   []check.Result
	first int
	// skipped counts the checks skipped in this window.
	skipped int
}

// reserve makes room for n more results: a window's run to dozens per
// feature, and growing to them by doubling copied them several times.
func (r *results) reserve(n int) {
	r.out = slices.Grow(r.out, n)
}

// window is this window's results.
func (r *results) window() []check.Result { return r.out[r.first:] }

// add records a metric; breached compares with the threshold unless it is NaN:
// above it, or below it for p-values. Undefined values are left out.
func (r *results) add(kind check.Kind, feature, metric string, value, threshold float64, d check.Direction) {
	if math.IsNaN(value) {
		return
	}
	r.out = append(r.out, check.Result{
		Model: r.model, WindowStart: r.start, WindowEnd: r.end,
		Kind: kind, Feature: feature, Metric: metric, Value: value, Threshold: threshold,
		Breached: check.Breaches(value, threshold, d),
	})
}

// skip records that a distribution check did not run for want of samples:
// samples is the smaller side's count, the threshold the fewest it needs.
func (r *results) skip(kind check.Kind, feature, metric string, samples float64) {
	r.out = append(r.out, check.Result{
		Model: r.model, WindowStart: r.start, WindowEnd: r.end,
		Kind: kind, Feature: feature, Metric: metric, Value: samples, Threshold: r.minSamples,
		Skipped: check.SkipTooFewSamples,
	})
	r.skipped++
}

// direction is how a drift method's statistic breaches.
func direction(below bool) check.Direction {
	if below {
		return check.Below
	}
	return check.Above
}
