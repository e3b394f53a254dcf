package anomaly

import "math"

// Allowances of the per-metric CUSUMs, in standardised error units. A level
// CUSUM gathers the part of each error beyond cusumAllowance, which it then
// takes for noise: shifts of 2σ and more build up within a few windows, a
// ramp as soon as it passes the allowance, and the noise of a clean metric
// drains away. A spread CUSUM gathers each squared error beyond
// spreadAllowance, between the 1 a clean metric's squares average and the 9
// of noise three times its usual size.
const (
	cusumAllowance  = 1.0
	spreadAllowance = 3.0
)

// cusums holds two-sided CUSUMs of every active metric's standardised errors
// and one-sided CUSUMs of their squares, with the length and sum of the run
// each is gathering, which say how long and how large a departure was.
type cusums struct {
	pos, neg, spread          []float64
	posLen, negLen, spreadLen []int
	posSum, negSum, spreadSum []float64
}

func newCUSUMs(na int) *cusums {
	return &cusums{
		pos: make([]float64, na), neg: make([]float64, na), spread: make([]float64, na),
		posLen: make([]int, na), negLen: make([]int, na), spreadLen: make([]int, na),
		posSum: make([]float64, na), negSum: make([]float64, na), spreadSum: make([]float64, na),
	}
}

// update adds metric a's standardised error v, clipped to ±clip so that one
// wild window does not fill a CUSUM alone.
func (c *cusums) update(a int, v, clip float64) {
	x := min(max(v, -clip), clip)
	c.pos[a], c.posLen[a], c.posSum[a] = gather(c.pos[a], c.posLen[a], c.posSum[a], x, x-cusumAllowance)
	c.neg[a], c.negLen[a], c.negSum[a] = gather(c.neg[a], c.negLen[a], c.negSum[a], -x, -x-cusumAllowance)
	c.spread[a], c.spreadLen[a], c.spreadSum[a] = gather(c.spread[a], c.spreadLen[a], c.spreadSum[a], x*x, x*x-spreadAllowance)
}

// gather advances one CUSUM s by step, restarting its run when it falls to 0.
func gather(s float64, n int, sum, x, step float64) (float64, int, float64) {
	s += step
	if s <= 0 {
		return 0, 0, 0
	}
	return s, n + 1, sum + x
}

// level is the larger of metric a's two level CUSUMs.
func (c *cusums) level(a int) float64 { return max(c.pos[a], c.neg[a]) }

// maxima are the largest level and spread CUSUMs over the metrics.
func (c *cusums) maxima() (level, spread float64) {
	for a := range c.pos {
		level = max(level, c.pos[a], c.neg[a])
		spread = max(spread, c.spread[a])
	}
	return level, spread
}

// shift is metric a's mean departure, in σ and signed, over the run of its
// larger level CUSUM, and the run's length.
func (c *cusums) shift(a int) (float64, int) {
	if c.pos[a] >= c.neg[a] {
		if c.posLen[a] == 0 {
			return 0, 0
		}
		return c.posSum[a] / float64(c.posLen[a]), c.posLen[a]
	}
	return -c.negSum[a] / float64(c.negLen[a]), c.negLen[a]
}

// spreadRatio is metric a's root mean square error over the run of its spread
// CUSUM, and the run's length: how many times its usual spread it has shown.
func (c *cusums) spreadRatio(a int) (float64, int) {
	if c.spreadLen[a] == 0 {
		return 0, 0
	}
	return math.Sqrt(c.spreadSum[a] / float64(c.spreadLen[a])), c.spreadLen[a]
}

// resetAbove restarts the CUSUMs of the metrics at or above the given levels,
// once they have raised an alarm: a run that has been reported starts afresh,
// so that it neither echoes after the incident nor flags it again at once.
func (c *cusums) resetAbove(level, spread float64) {
	for a := range c.pos {
		if max(c.pos[a], c.neg[a]) >= level {
			c.pos[a], c.posLen[a], c.posSum[a] = 0, 0, 0
			c.neg[a], c.negLen[a], c.negSum[a] = 0, 0, 0
		}
		if c.spread[a] >= spread {
			c.spread[a], c.spreadLen[a], c.spreadSum[a] = 0, 0, 0
		}
	}
}
