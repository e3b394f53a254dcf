// Package cbpe estimates a probability model's quality before its labels
// arrive: confidence-based performance estimation (CBPE), as NannyML
// publishes it. If a model's probabilities are calibrated, a prediction of
// p̂ is right with probability p̂ when it says positive and 1−p̂ when it says
// negative, so a window's expected accuracy and its expected ROC curve follow
// from the predictions alone. Most models' probabilities are not calibrated,
// so they are first mapped through an isotonic regression learnt on labelled
// reference data (the baseline's), when cross-validation shows that the map
// improves them.
//
// The package has three parts: learning the calibration (Learn: isotonic
// regression by pool-adjacent-violators, exactly as scikit-learn's
// IsotonicRegression fits and predicts, and NannyML's test of whether
// calibrating helps), estimating from a window's predictions given as sorted
// (value, count) atoms (Calibration.Estimate, O(k) in the atoms, so a
// window's quantile sketch serves as well as its raw values), and the tests
// of whether realised quality fell significantly short of the estimate
// (AccuracyShortfall, AUCShortfall): inputs that look the same while their
// meaning changed (concept drift).
package cbpe

import (
	"math"
	"sort"
)

// uniqueEps is how close two predictions must be to count as one value when
// fitting: scikit-learn merges x values less than float64's resolution (1e-15)
// above the first of a run, and so does Learn, to the same thresholds.
const uniqueEps = 1e-15

// point is one distinct prediction of the labelled data: its value, its rows
// and the mean of their labels.
type point struct {
	x, w, y float64
}

// isotonic fits a non-decreasing map to the points (sorted by x, distinct)
// and returns scikit-learn's X_thresholds_ and y_thresholds_: the points that
// bound each constant run of the fit, between which predictions are
// interpolated linearly. It pools adjacent violators as scikit-learn's
// _inplace_contiguous_isotonic_regression does, backtracking so that the pass
// is O(n).
func isotonic(pts []point) (xs, ys []float64) {
	n := len(pts)
	if n == 0 {
		return nil, nil
	}
	y := make([]float64, n)
	w := make([]float64, n)
	// target[i] is the last index of the block starting at i, and
	// target[j] the first of the block ending at j.
	target := make([]int, n)
	for i, p := range pts {
		y[i], w[i], target[i] = p.y, p.w, i
	}
	for i := 0; i < n; {
		k := target[i] + 1
		if k == n {
			break
		}
		if y[i] < y[k] {
			i = k
			continue
		}
		sumWY, sumW := w[i]*y[i], w[i]
		for {
			prev := y[k]
			sumWY += w[k] * y[k]
			sumW += w[k]
			k = target[k] + 1
			if k == n || prev < y[k] {
				y[i], w[i] = sumWY/sumW, sumW
				target[i], target[k-1] = k-1, i
				if i > 0 {
					i = target[i-1]
				}
				break
			}
		}
	}
	for i := 0; i < n; {
		k := target[i] + 1
		for j := i + 1; j < k; j++ {
			y[j] = y[i]
		}
		i = k
	}
	// Keep the first and last point and every point whose fitted value
	// differs from a neighbour's: the ends of each run.
	for i := range n {
		if i == 0 || i == n-1 || y[i] != y[i-1] || y[i] != y[i+1] {
			xs = append(xs, pts[i].x)
			ys = append(ys, y[i])
		}
	}
	return xs, ys
}

// row is one labelled prediction.
type row struct {
	x        float64
	positive bool
}

// points merges rows sorted by (x, label) into distinct values, as
// scikit-learn's _make_unique does.
func points(rows []row, dst []point) []point {
	dst = dst[:0]
	for i := 0; i < len(rows); {
		first := rows[i].x
		var w, pos float64
		for ; i < len(rows) && rows[i].x-first < uniqueEps; i++ {
			w++
			if rows[i].positive {
				pos++
			}
		}
		dst = append(dst, point{x: first, w: w, y: pos / w})
	}
	return dst
}

// compareRows orders rows by value, negatives first among equal values, as
// scikit-learn's lexsort((y, X)).
func compareRows(a, b row) int {
	switch {
	case a.x < b.x:
		return -1
	case a.x > b.x:
		return 1
	case a.positive == b.positive:
		return 0
	case b.positive:
		return -1
	}
	return 1
}

// interp is the isotonic map at x: clipped to the fitted range, then linear
// between thresholds, as scikit-learn's predict (scipy's interp1d) computes it.
func interp(xs, ys []float64, x float64) float64 {
	switch {
	case len(xs) == 1:
		return ys[0]
	case x <= xs[0]:
		return ys[0]
	case x >= xs[len(xs)-1]:
		return ys[len(ys)-1]
	}
	// The first threshold ≥ x; x > xs[0], so j ≥ 1.
	j := sort.SearchFloat64s(xs, x)
	return segment(xs, ys, j, x)
}

// segment interpolates on the segment ending at threshold j, as interp1d
// does, to the last bit: slope times the distance from the segment's start.
func segment(xs, ys []float64, j int, x float64) float64 {
	lo, hi := xs[j-1], xs[j]
	slope := (ys[j] - ys[j-1]) / (hi - lo)
	return slope*(x-lo) + ys[j-1]
}

// cursor applies an isotonic map to ascending values in one pass over its
// thresholds, for a window's sorted atoms.
type cursor struct {
	xs, ys []float64
	j      int
}

func (c *cursor) at(x float64) float64 {
	xs := c.xs
	switch {
	case len(xs) == 1:
		return c.ys[0]
	case x <= xs[0]:
		return c.ys[0]
	case x >= xs[len(xs)-1]:
		return c.ys[len(c.ys)-1]
	}
	if c.j == 0 {
		c.j = 1
	}
	for xs[c.j] < x {
		c.j++
	}
	return segment(xs, c.ys, c.j, x)
}

func finiteIn01(x float64) bool { return x >= 0 && x <= 1 && !math.IsNaN(x) }
