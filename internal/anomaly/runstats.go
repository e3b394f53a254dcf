package anomaly

import "math"

// scanWindows is how many recent windows the scans look back over: a day of
// hourly windows, long enough for a slow drift to add up.
const scanWindows = 24

// invLen holds 1/L, for the scans' means.
var invLen = func() (t [scanWindows + 1]float64) {
	for l := 1; l <= scanWindows; l++ {
		t[l] = 1 / float64(l)
	}
	return t
}()

// scan finds, for every active metric, the run of recent windows over which a
// series of its departures has moved furthest from their usual centre: the
// likelihood ratio of a shift over the last L windows, maximised over L from
// minLen to scanWindows, D_L² over its variance, D_L being the series' mean
// over those windows less its centre. Unlike a CUSUM it spends nothing of a
// short shift on an allowance, so that a shift of 3σ over four windows is as
// plain as it can be, and a drift adds up over as many windows as it has
// lasted.
//
// D_L's variance is measured on clean training windows (see normalise): about
// 1/L for a metric whose values are noise about a steady level, more for one
// whose level wanders (a traffic count from day to day, say), so that such a
// metric neither passes for a shifted one nor sets the threshold every other
// metric is held to.
type scan struct {
	na, minLen int
	oneSided   bool      // only rises above the centre count
	ring       []float64 // na × scanWindows, by metric
	last       int       // the ring row of the latest window
	valid      []int     // per metric: windows gathered since its last reset
	centre     []float64 // per metric: the series' mean on clean windows
	// inv holds, per metric and L (row-major, scanWindows per metric), the
	// inverse of D_L's variance on clean windows; L until a fit measures it.
	inv []float64

	value  []float64 // per metric: the scan's value this window
	length []int     // and the L that gave it
	dev    []float64 // and D_L there
}

func newScan(na, minLen int, oneSided bool) *scan {
	s := &scan{
		na: na, minLen: minLen, oneSided: oneSided,
		ring: make([]float64, scanWindows*na), valid: make([]int, na), centre: make([]float64, na),
		inv:   make([]float64, scanWindows*na),
		value: make([]float64, na), length: make([]int, na), dev: make([]float64, na),
	}
	for a := range na {
		for l := 1; l <= scanWindows; l++ {
			s.inv[a*scanWindows+l-1] = float64(l)
		}
	}
	return s
}

// push writes one window of every metric's series (0 where a metric has no
// value; the caller clips) into the ring.
func (s *scan) push(x []float64) {
	s.last = (s.last + 1) % scanWindows
	for a, v := range x {
		s.ring[a*scanWindows+s.last] = v
		s.valid[a] = min(s.valid[a]+1, scanWindows)
	}
}

// add pushes one window and returns the largest scan over the metrics.
func (s *scan) add(x []float64) float64 {
	s.push(x)
	best := 0.0
	for a := range s.na {
		v, n, d := 0.0, 0, 0.0
		inv := s.inv[a*scanWindows : (a+1)*scanWindows]
		ring := s.ring[a*scanWindows : (a+1)*scanWindows]
		c := s.centre[a]
		sum, l := 0.0, 0
		// The ring from the latest window back, in its two pieces.
		for _, piece := range [2][2]int{{s.last, -1}, {scanWindows - 1, s.last}} {
			for i := piece[0]; i > piece[1] && l < s.valid[a]; i-- {
				sum += ring[i]
				l++
				if l < s.minLen {
					continue
				}
				dl := sum*invLen[l] - c
				if s.oneSided && dl <= 0 {
					continue
				}
				if q := dl * dl * inv[l-1]; q > v {
					v, n, d = q, l, dl
				}
			}
		}
		s.value[a], s.length[a], s.dev[a] = v, n, d
		best = max(best, v)
	}
	return best
}

// walk calls f with metric a's mean over its last l windows for every l from
// minLen to what it has gathered, the latest window being the one just
// pushed.
func (s *scan) walk(a int, f func(l int, mean float64)) {
	sum, l := 0.0, 0
	ring := s.ring[a*scanWindows : (a+1)*scanWindows]
	for i := s.last; i >= 0 && l < s.valid[a]; i-- {
		sum += ring[i]
		if l++; l >= s.minLen {
			f(l, sum*invLen[l])
		}
	}
	for i := scanWindows - 1; i > s.last && l < s.valid[a]; i-- {
		sum += ring[i]
		if l++; l >= s.minLen {
			f(l, sum*invLen[l])
		}
	}
}

// resetAbove forgets the runs of the metrics at or above value once they have
// raised an alarm: a run that has been reported starts afresh, so that it
// neither echoes after the incident nor flags it again at once.
func (s *scan) resetAbove(value float64) {
	for a := range s.na {
		if s.value[a] >= value {
			s.valid[a] = 0
			s.value[a], s.length[a], s.dev[a] = 0, 0, 0
		}
	}
}

// resetWhere forgets the runs of the metrics whose latest value is at least z
// away from zero, once a window has been flagged: a metric that far out in a
// reported window has been reported with it, and its run would otherwise
// carry that window into the next ones' scans as a level shift.
func (s *scan) resetWhere(x []float64, z float64) {
	for a, v := range x {
		if v >= z || v <= -z {
			s.valid[a] = 0
			s.value[a], s.length[a], s.dev[a] = 0, 0, 0
		}
	}
}

// normalise measures each metric's centre (when fitCentre) and variance of
// D_L on clean windows: rows calls its argument once per window with every
// metric's value of the series, and every stride-th window's means are
// counted (neighbouring windows' means share most of their values). With
// fewer than 30 of them, or a variance implausibly below independent errors'
// 1/L, that 1/L stands.
func (s *scan) normalise(rows func(func([]float64)), fitCentre bool, stride int) {
	size := s.na * scanWindows
	// Per metric and L: Σ m and Σ m², m the mean over L windows; per metric,
	// Σ x for the centre.
	sum, sq := make([]float64, size), make([]float64, size)
	count := make([]int, size)
	total, rowsSeen := make([]float64, s.na), 0
	t := newScan(s.na, s.minLen, false)
	rows(func(x []float64) {
		t.push(x)
		for a, v := range x {
			total[a] += v
		}
		rowsSeen++
		if rowsSeen%stride != 0 {
			return
		}
		for a := range s.na {
			o := a * scanWindows
			t.walk(a, func(l int, m float64) {
				sum[o+l-1] += m
				sq[o+l-1] += m * m
				count[o+l-1]++
			})
		}
	})
	if fitCentre && rowsSeen > 0 {
		for a := range s.na {
			s.centre[a] = total[a] / float64(rowsSeen)
		}
	}
	for i, n := range count {
		if n < 30 {
			continue
		}
		c, l := s.centre[i/scanWindows], i%scanWindows+1
		// E[(m − c)²] from the sums.
		v := sq[i]/float64(n) - 2*c*sum[i]/float64(n) + c*c
		s.inv[i] = 1 / max(v, 0.5/float64(l)*s.floor())
	}
}

// floor scales the lowest variance normalise accepts: 1 for the level scan's
// departures in σ, the variance of |z| for a normal z (1 − 2/π) for the
// spread scan's absolute errors.
func (s *scan) floor() float64 {
	if s.oneSided {
		return 1 - 2/math.Pi
	}
	return 1
}

// runStats holds the two scans every active metric is watched by.
//
// The level scan reads each window's departure, in σ, from the metric's slow
// reference level (see slowShare): a shift or a drift away from where the
// metric has been.
//
// The spread scan reads each window's absolute standardised error: noise
// growing at an unchanged level raises its mean over the windows it lasts.
// Absolute errors rather than squares, so that one wild window, already
// flagged on its own, does not pass for a run of them; only rises count, from
// 3 windows on, which a single spike cannot make.
type runStats struct {
	level, spread *scan
	dev, abs      []float64 // scratch: this window's clipped series
}

func newRunStats(na int) *runStats {
	return &runStats{level: newScan(na, 2, false), spread: newScan(na, 3, true), dev: make([]float64, na), abs: make([]float64, na)}
}

// add takes one window of every metric (0 where a metric has no value): dev,
// its departure from its slow reference level, and v, its standardised
// one-step error, each clipped to ±clip so that one wild window does not fill
// a run alone. It returns the largest level and spread scans.
func (r *runStats) add(dev, v []float64, clip float64) (level, spread float64) {
	r.clip(dev, v, clip)
	return r.level.add(r.dev), r.spread.add(r.abs)
}

// push takes one window as add does, without scanning it.
func (r *runStats) push(dev, v []float64, clip float64) {
	r.clip(dev, v, clip)
	r.level.push(r.dev)
	r.spread.push(r.abs)
}

func (r *runStats) clip(dev, v []float64, clip float64) {
	for a := range dev {
		r.dev[a] = min(max(dev[a], -clip), clip)
		r.abs[a] = min(max(v[a], -clip), clip)
		if r.abs[a] < 0 {
			r.abs[a] = -r.abs[a]
		}
	}
}

// normalise fits both scans on clean windows: rows calls its argument once
// per window with every metric's departure from its slow reference and
// standardised error, and every stride-th window is measured.
func (r *runStats) normalise(rows func(func(dev, v []float64)), clip float64, stride int) {
	r.level.normalise(func(yield func([]float64)) {
		rows(func(dev, v []float64) {
			r.clip(dev, v, clip)
			yield(r.dev)
		})
	}, false, stride)
	r.spread.normalise(func(yield func([]float64)) {
		rows(func(dev, v []float64) {
			r.clip(dev, v, clip)
			yield(r.abs)
		})
	}, true, stride)
}

// spreadRatio is metric a's mean absolute error over the windows its spread
// scan found, over its usual one, and how many windows they are: how many
// times its usual spread it has shown.
func (r *runStats) spreadRatio(a int) (float64, int) {
	s := r.spread
	if s.length[a] == 0 || s.centre[a] <= 0 {
		return 0, 0
	}
	return (s.centre[a] + s.dev[a]) / s.centre[a], s.length[a]
}

// slowShare is the weight one window has in a metric's slow reference level:
// two seasons of memory, or, for a model fitted on fewer than two seasons
// (which forecasts without seasonality), a quarter of its history: a
// reference that outlasted what the model knows of the daily cycle would read
// that cycle as a drift. With the whole history as its memory, a model fitted
// on five hours of 5-minute windows read the traffic count's daily cycle as a
// level shift in 13 windows of the next day (TestQuietOnHealthyWindows) once
// the count's residual was no longer charged other metrics' sampling noise
// (see fitPCA).
//
// A metric's forecaster follows a slow drift and leaves each one-step error
// small, so one-step errors hide it. Each metric also keeps a slow reference:
// an exponentially weighted mean of its deseasonalised values (the level part
// of its forecast plus its clipped error), which learns nothing from flagged
// windows or from a metric in incident mode. The level scan reads each
// window's departure from that reference, in σ: against it a drift shows
// whole, where the forecaster would have followed most of it.
func slowShare(period, rows int) float64 {
	if rows < 2*period {
		return 1 / float64(max(rows/4, 2))
	}
	return 1 / float64(2*period)
}
