package cbpe

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Method says how a model's probabilities are calibrated before estimating.
type Method string

const (
	// Isotonic maps each probability through the isotonic regression learnt
	// on the labelled reference rows.
	Isotonic Method = "isotonic"
	// Uncalibrated uses the probabilities as the model gives them: on the
	// reference rows, calibrating did not make them closer to the labels.
	Uncalibrated Method = "none"
)

// Least labelled data a calibration is learnt from: below these, an isotonic
// fit is a staircase of a few rows per step and its estimates say more about
// the sample than about the model.
const (
	MinRows      = 100
	MinClassRows = 10
)

// Cross-validation of the decision to calibrate, as NannyML's
// needs_calibration: ten folds, expected calibration error over ten bins of
// equal count, and no calibration for a model that ranks the reference rows
// all but perfectly (AUC above 0.999), which isotonic regression would only
// flatten.
const (
	folds          = 10
	eceBins        = 10
	perfectRanking = 0.999
)

// Calibration maps a model's probabilities to calibrated ones. Its JSON is
// what the baseline file keeps.
type Calibration struct {
	Method Method `json:"method"`
	// Rows and Positives count the labelled rows it was learnt from.
	Rows      uint64 `json:"rows"`
	Positives uint64 `json:"positives"`
	// ECE and ECECalibrated are the cross-validated expected calibration
	// errors of the model's probabilities and of the calibrated ones, which
	// decided Method.
	ECE           float64 `json:"ece"`
	ECECalibrated float64 `json:"ece_calibrated"`
	// X and Y are the isotonic map (Isotonic only): a probability at or
	// below X[0] maps to Y[0], at or above the last X to the last Y, and
	// linearly between neighbouring thresholds in between, as scikit-learn's
	// IsotonicRegression(out_of_bounds="clip") predicts.
	X []float64 `json:"x,omitempty"`
	Y []float64 `json:"y,omitempty"`
}

// Learn fits the calibration of a model from its probabilities on labelled
// rows, in the rows' order (the folds of the cross-validation take every
// tenth row, so the order decides them, and the result is reproducible). It
// refuses fewer than MinRows rows or MinClassRows of either class, and
// probabilities outside [0, 1].
func Learn(prob []float64, positive []bool) (*Calibration, error) {
	if len(prob) != len(positive) {
		return nil, fmt.Errorf("%d probabilities for %d labels", len(prob), len(positive))
	}
	rows := make([]row, len(prob))
	var pos int
	for i, p := range prob {
		if !finiteIn01(p) {
			return nil, fmt.Errorf("row %d: probability %v is not in [0, 1]", i, p)
		}
		rows[i] = row{p, positive[i]}
		if positive[i] {
			pos++
		}
	}
	if len(rows) < MinRows || pos < MinClassRows || len(rows)-pos < MinClassRows {
		return nil, fmt.Errorf("%d labelled rows, %d positive and %d negative: calibrating needs at least %d rows and %d of each class",
			len(rows), pos, len(rows)-pos, MinRows, MinClassRows)
	}
	c := &Calibration{Method: Uncalibrated, Rows: uint64(len(rows)), Positives: uint64(pos)}
	sorted := slices.Clone(rows)
	slices.SortStableFunc(sorted, compareRows)
	auc := rankAUC(sorted)
	c.ECE, c.ECECalibrated = crossValidate(rows)
	if auc > perfectRanking || !(c.ECECalibrated < c.ECE) {
		return c, nil
	}
	c.Method = Isotonic
	c.X, c.Y = isotonic(points(sorted, nil))
	return c, nil
}

// crossValidate returns the expected calibration error of the probabilities
// and of their isotonic calibration learnt on the other folds, each row
// predicted once. The test rows are gathered fold after fold, as NannyML
// concatenates its splits, which decides the order of equal values when the
// bins are cut.
func crossValidate(rows []row) (raw, calibrated float64) {
	n := len(rows)
	sorted := make([]row, n)
	// Sorting carries each row's fold: a fold's training rows are then the
	// sorted rows of the other folds, sorted already.
	fold := make([]int, n)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return compareRows(rows[a], rows[b]) })
	for j, i := range idx {
		sorted[j] = rows[i]
		fold[j] = i % folds
	}
	testRaw := make([]float64, 0, n)
	testCal := make([]float64, 0, n)
	testPos := make([]bool, 0, n)
	train := make([]row, 0, n)
	var pts []point
	for f := range folds {
		train = train[:0]
		for j, r := range sorted {
			if fold[j] != f {
				train = append(train, r)
			}
		}
		pts = points(train, pts)
		xs, ys := isotonic(pts)
		for i := f; i < n; i += folds {
			testRaw = append(testRaw, rows[i].x)
			testCal = append(testCal, interp(xs, ys, rows[i].x))
			testPos = append(testPos, rows[i].positive)
		}
	}
	return ece(testRaw, testPos), ece(testCal, testPos)
}

// ece is the expected calibration error over bins of equal count of the
// values in ascending order (ties in the order given): the weighted mean gap
// between each bin's mean probability and its share of positives. The bins
// are cut as NannyML's _get_bin_index_edges cuts them.
func ece(p []float64, positive []bool) float64 {
	n := len(p)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case p[a] < p[b]:
			return -1
		case p[a] > p[b]:
			return 1
		}
		return 0
	})
	var total float64
	edges := binEdges(n, eceBins)
	for b := 1; b < len(edges); b++ {
		lo, hi := edges[b-1], edges[b]
		var sumP, sumY float64
		for _, i := range order[lo:hi] {
			sumP += p[i]
			if positive[i] {
				sumY++
			}
		}
		m := float64(hi - lo)
		total += m / float64(n) * math.Abs(sumP/m-sumY/m)
	}
	return total
}

// binEdges cuts n sorted values into bins of n/bins values, the remainder
// going to the last, as NannyML does (which gives one bin more when the
// remainder is a whole width).
func binEdges(n, bins int) []int {
	if n <= 2*bins {
		bins = n / 2
	}
	width := n / bins
	var edges []int
	for e := 0; e <= n; e += width {
		edges = append(edges, e)
	}
	edges[len(edges)-1] = n
	return edges
}

// rankAUC is the ROC AUC of rows sorted by value, ties counted ½.
func rankAUC(sorted []row) float64 {
	var pairs, negBelow, pos float64
	for i := 0; i < len(sorted); {
		var p, q float64
		j := i
		for ; j < len(sorted) && sorted[j].x == sorted[i].x; j++ {
			if sorted[j].positive {
				p++
			} else {
				q++
			}
		}
		pairs += p * (negBelow + q/2)
		negBelow += q
		pos += p
		i = j
	}
	return pairs / (pos * negBelow)
}

// Apply returns the calibrated probability of p.
func (c *Calibration) Apply(p float64) float64 {
	if c.Method == Isotonic {
		return interp(c.X, c.Y, p)
	}
	return min(max(p, 0), 1)
}

// Validate reports what makes a calibration read from a file unusable.
func (c *Calibration) Validate() error {
	var errs []error
	switch c.Method {
	case Isotonic:
		if len(c.X) == 0 || len(c.X) != len(c.Y) {
			errs = append(errs, fmt.Errorf("an isotonic calibration needs as many y as x, at least one: got %d x and %d y", len(c.X), len(c.Y)))
		}
	case Uncalibrated:
		if len(c.X) > 0 || len(c.Y) > 0 {
			errs = append(errs, errors.New("method none takes no x or y"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown method %q (want isotonic or none)", c.Method))
	}
	if c.Positives > c.Rows {
		errs = append(errs, fmt.Errorf("%d positives among %d rows", c.Positives, c.Rows))
	}
	for i := range c.X {
		if !finiteIn01(c.X[i]) || (i < len(c.Y) && !finiteIn01(c.Y[i])) {
			errs = append(errs, fmt.Errorf("point %d is outside [0, 1]", i))
			break
		}
		if i > 0 && !(c.X[i] > c.X[i-1]) {
			errs = append(errs, fmt.Errorf("x is not increasing at point %d", i))
			break
		}
		if i > 0 && i < len(c.Y) && c.Y[i] < c.Y[i-1] {
			errs = append(errs, fmt.Errorf("y decreases at point %d", i))
			break
		}
	}
	return errors.Join(errs...)
}
