package anomaly

import (
	"math"
	"slices"
)

// minimizeBox minimises f over the unit box [0,1]^d. The Holt-Winters error surface
// is often flat along one parameter and has local minima, so a coarse grid picks the
// basin first and a Nelder-Mead simplex, with every vertex projected back onto the
// box, refines it. Both stages are deterministic.
func minimizeBox(f func([]float64) float64, grid [][]float64, maxEval int) ([]float64, float64) {
	d := len(grid)
	best := make([]float64, d)
	bestVal := math.Inf(1)
	p := make([]float64, d)
	idx := make([]int, d)
	evals := 0
	for {
		for i := range d {
			p[i] = grid[i][idx[i]]
		}
		if v := f(p); v < bestVal {
			bestVal = v
			copy(best, p)
		}
		evals++
		i := 0
		for ; i < d; i++ {
			idx[i]++
			if idx[i] < len(grid[i]) {
				break
			}
			idx[i] = 0
		}
		if i == d {
			break
		}
	}
	// A dimension with a single grid value is held fixed.
	var free []int
	for i, g := range grid {
		if len(g) > 1 {
			free = append(free, i)
		}
	}
	// A simplex that lands on a face of the box can collapse onto it and stall;
	// restarting from the best point with a fresh, smaller simplex recovers the lost
	// dimension.
	return refineBox(f, best, bestVal, free, []float64{0.1, 0.02, 0.005}, maxEval-evals)
}

// refineBox improves on x0 (where f is f0) by Nelder-Mead over the dimensions in
// free, one simplex per step size, each restarted from the best point so far, with
// the budget split evenly between them.
func refineBox(f func([]float64) float64, x0 []float64, f0 float64, free []int, steps []float64, maxEval int) ([]float64, float64) {
	best := slices.Clone(x0)
	if len(free) == 0 {
		return best, f0
	}
	full := slices.Clone(best)
	sub := func(y []float64) float64 {
		for j, i := range free {
			full[i] = y[j]
		}
		return f(full)
	}
	x := make([]float64, len(free))
	for j, i := range free {
		x[j] = best[i]
	}
	v := f0
	for _, step := range steps {
		x, v = nelderMeadBox(sub, x, v, step, maxEval/len(steps))
	}
	for j, i := range free {
		best[i] = x[j]
	}
	return best, v
}

func clampUnit(x []float64) {
	for i, v := range x {
		x[i] = min(max(v, 0), 1)
	}
}

// nelderMeadBox is the textbook simplex method (reflection 1, expansion 2,
// contraction ½, shrink ½) with projection onto [0,1]^d, kept in one piece so
// that it reads as the textbook's steps in their order.
func nelderMeadBox(f func([]float64) float64, x0 []float64, f0, step float64, maxEval int) ([]float64, float64) {
	d := len(x0)
	type vertex struct {
		x []float64
		v float64
	}
	simplex := make([]vertex, d+1)
	simplex[0] = vertex{slices.Clone(x0), f0}
	for i := range d {
		x := slices.Clone(x0)
		if x[i]+step <= 1 {
			x[i] += step
		} else {
			x[i] -= step
		}
		simplex[i+1] = vertex{x, f(x)}
		maxEval--
	}
	centroid := make([]float64, d)
	trial := func(t float64) vertex {
		// Point on the line from the worst vertex through the centroid.
		x := make([]float64, d)
		w := simplex[d].x
		for i := range d {
			x[i] = centroid[i] + t*(centroid[i]-w[i])
		}
		clampUnit(x)
		maxEval--
		return vertex{x, f(x)}
	}
	for maxEval > 0 {
		slices.SortStableFunc(simplex, func(a, b vertex) int {
			switch {
			case a.v < b.v:
				return -1
			case a.v > b.v:
				return 1
			}
			return 0
		})
		spread := 0.0
		for _, s := range simplex[1:] {
			for i := range d {
				spread = max(spread, math.Abs(s.x[i]-simplex[0].x[i]))
			}
		}
		if spread < 1e-7 || simplex[d].v-simplex[0].v <= 1e-12*math.Abs(simplex[0].v) {
			break
		}
		clear(centroid)
		for _, s := range simplex[:d] {
			for i := range d {
				centroid[i] += s.x[i] / float64(d)
			}
		}
		r := trial(1)
		switch {
		case r.v < simplex[0].v:
			if e := trial(2); e.v < r.v {
				simplex[d] = e
			} else {
				simplex[d] = r
			}
		case r.v < simplex[d-1].v:
			simplex[d] = r
		default:
			if c := trial(-0.5); c.v < simplex[d].v {
				simplex[d] = c
				continue
			}
			for j := 1; j <= d; j++ {
				x := simplex[j].x
				for i := range d {
					x[i] = simplex[0].x[i] + 0.5*(x[i]-simplex[0].x[i])
				}
				simplex[j].v = f(x)
				maxEval--
			}
		}
	}
	best := simplex[0]
	for _, s := range simplex[1:] {
		if s.v < best.v {
			best = s
		}
	}
	return best.x, best.v
}
