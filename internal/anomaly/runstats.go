package anomaly

import "math"

// scanWindows is how many recent windows the level scan looks back over: a
// day of hourly windows, long enough for a slow drift to add up.
const scanWindows = 24

// spreadAllowance is the allowance of the spread CUSUMs, in squared
// standardised errors: between the 1 a clean metric's squares average and the
// 9 of noise three times its usual size.
const spreadAllowance = 3.0

// runStats holds, per active metric, what the statistics of lasting change
// read: a ring of its last scanWindows standardised errors for the level scan,
// and a CUSUM of their squares for the spread.
//
// The level scan is the likelihood ratio of a shift in the mean of a metric's
// errors over its last L windows, maximised over L from 2 to scanWindows:
// D_L² over its variance, D_L being the errors' mean. Unlike a CUSUM it spends
// nothing of a short shift on an allowance, so that a shift of 3σ over four
// windows is as plain as it can be, and a drift adds up over as many windows
// as it has lasted. D_L's variance is measured on clean training windows: 1/L
// for independent errors, more for a metric whose errors persist (a traffic
// count's day-to-day wander, say), so that such a metric neither passes for a
// shifted one nor sets the threshold every other metric is held to.
type runStats struct {
	na    int
	errs  []float64 // scanWindows × na, a ring by row
	next  int       // the ring row the next window goes to
	valid []int     // per metric: windows gathered since its last reset
	// norm holds, per metric and L (row-major, scanWindows per metric), the
	// variance of D_L on clean windows; 1/L until a fit measures it.
	norm []float64

	level    []float64 // per metric: the scan's value this window
	levelLen []int     // and the L that gave it
	levelDev []float64 // and D_L there, in σ

	spread, spreadSum []float64
	spreadLen         []int
}

func newRunStats(na int) *runStats {
	r := &runStats{
		na: na, errs: make([]float64, scanWindows*na), valid: make([]int, na), norm: make([]float64, scanWindows*na),
		level: make([]float64, na), levelLen: make([]int, na), levelDev: make([]float64, na),
		spread: make([]float64, na), spreadSum: make([]float64, na), spreadLen: make([]int, na),
	}
	for a := range na {
		for l := 1; l <= scanWindows; l++ {
			r.norm[a*scanWindows+l-1] = 1 / float64(l)
		}
	}
	return r
}

// add takes one window's standardised errors (0 where a metric has none),
// each clipped to ±clip so that one wild window does not fill a run alone,
// and returns the largest level scan and spread CUSUM over the metrics.
func (r *runStats) add(v []float64, clip float64) (level, spread float64) {
	row := r.errs[r.next*r.na : (r.next+1)*r.na]
	for a, x := range v {
		x = min(max(x, -clip), clip)
		row[a] = x
		r.valid[a] = min(r.valid[a]+1, scanWindows)
		if s := r.spread[a] + x*x - spreadAllowance; s <= 0 {
			r.spread[a], r.spreadLen[a], r.spreadSum[a] = 0, 0, 0
		} else {
			r.spread[a], r.spreadLen[a], r.spreadSum[a] = s, r.spreadLen[a]+1, r.spreadSum[a]+x*x
		}
		spread = max(spread, r.spread[a])
	}
	for a := range r.na {
		best, bestLen, bestDev := 0.0, 0, 0.0
		norm := r.norm[a*scanWindows : (a+1)*scanWindows]
		r.scan(a, func(l int, d float64) {
			if q := d * d / norm[l-1]; q > best {
				best, bestLen, bestDev = q, l, d
			}
		})
		r.level[a], r.levelLen[a], r.levelDev[a] = best, bestLen, bestDev
		level = max(level, best)
	}
	r.next = (r.next + 1) % scanWindows
	return level, spread
}

// scan calls f with D_L for metric a and every L from 2 to what it has
// gathered, the latest window being the one just added.
func (r *runStats) scan(a int, f func(l int, d float64)) {
	sum := 0.0
	for l := 1; l <= r.valid[a]; l++ {
		sum += r.errs[((r.next-l+1+scanWindows)%scanWindows)*r.na+a]
		if l >= 2 {
			f(l, sum/float64(l))
		}
	}
}

// shift is metric a's mean departure, in σ and signed, over the windows its
// level scan found, and how many they are.
func (r *runStats) shift(a int) (float64, int) { return r.levelDev[a], r.levelLen[a] }

// spreadRatio is metric a's root mean square error over the run of its spread
// CUSUM, and the run's length: how many times its usual spread it has shown.
func (r *runStats) spreadRatio(a int) (float64, int) {
	if r.spreadLen[a] == 0 {
		return 0, 0
	}
	return math.Sqrt(r.spreadSum[a] / float64(r.spreadLen[a])), r.spreadLen[a]
}

// resetAbove forgets the runs of the metrics at or above the given levels once
// they have raised an alarm: a run that has been reported starts afresh, so
// that it neither echoes after the incident nor flags it again at once.
func (r *runStats) resetAbove(level, spread float64) {
	for a := range r.na {
		if r.level[a] >= level {
			r.valid[a] = 0
			r.level[a], r.levelLen[a], r.levelDev[a] = 0, 0, 0
		}
		if r.spread[a] >= spread {
			r.spread[a], r.spreadLen[a], r.spreadSum[a] = 0, 0, 0
		}
	}
}

// normalise measures each metric's variance of D_L on clean windows: rows
// calls its argument once per window with every metric's standardised error.
// It reads them twice: for the mean square of D_L, then for the mean square
// winsorised at 16 times that, so that a few wild windows do not set it. With
// fewer than 30 windows, or a variance implausibly below independent errors'
// 1/L, that 1/L stands.
func (r *runStats) normalise(rows func(func([]float64)), clip float64) {
	size := r.na * scanWindows
	sum, capped := make([]float64, size), make([]float64, size)
	count := make([]int, size)
	for pass := range 2 {
		rs := newRunStats(r.na)
		rows(func(v []float64) {
			rs.add(v, clip)
			for a := range r.na {
				rs.scan(a, func(l int, d float64) {
					i := a*scanWindows + l - 1
					if pass == 0 {
						sum[i] += d * d
						count[i]++
						return
					}
					capped[i] += min(d*d, 16*sum[i]/float64(count[i]))
				})
			}
		})
	}
	for i, n := range count {
		if n >= 30 {
			l := i%scanWindows + 1
			r.norm[i] = max(capped[i]/float64(n), 0.5/float64(l))
		}
	}
}
