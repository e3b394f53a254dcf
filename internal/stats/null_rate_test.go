package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// The false-finding and power tests simulate a healthy stream the way the daemon
// sees it: a baseline profiled once (decile bins, a sketch), then windows of n
// values, each compared with the baseline (skew) and with the previous window
// (drift), by each method at its default threshold raised to the null quantile.

// falseAlpha is the alpha the tests hold the checks to: the recommended default.
const falseAlpha = 0.001

// feature draws a feature's values; numeric features draw float64s, categorical
// ones category indexes.
type feature struct {
	name    string
	numeric bool
	draw    func(r *rand.Rand) float64
	shares  []float64 // categorical: the category shares
}

func numericFeature(name string, draw func(r *rand.Rand) float64) feature {
	return feature{name: name, numeric: true, draw: draw}
}

func categoricalFeature(name string, shares []float64) feature {
	cum := make([]float64, len(shares))
	var s float64
	for i, p := range shares {
		s += p
		cum[i] = s
	}
	return feature{name: name, shares: shares, draw: func(r *rand.Rand) float64 {
		u := r.Float64() * s
		i, _ := slices.BinarySearch(cum, u)
		return float64(min(i, len(cum)-1))
	}}
}

func zipfShares(k int, s float64) []float64 {
	p := make([]float64, k)
	for i := range p {
		p[i] = 1 / math.Pow(float64(i+1), s)
	}
	return p
}

// healthyFeatures are the shapes a model's inputs and outputs take: symmetric,
// heavy-tailed, bounded, a count that is mostly zero, a probability, and
// categories with a long tail, a binary flag and a few rare values.
func healthyFeatures() []feature {
	return []feature{
		numericFeature("normal", func(r *rand.Rand) float64 { return r.NormFloat64() }),
		numericFeature("lognormal", func(r *rand.Rand) float64 { return math.Exp(r.NormFloat64()) }),
		numericFeature("uniform", func(r *rand.Rand) float64 { return r.Float64() }),
		numericFeature("discrete_heavy", func(r *rand.Rand) float64 {
			if r.Float64() < 0.6 {
				return 0
			}
			return float64(poisson(r, 3) + 1)
		}),
		numericFeature("probability", func(r *rand.Rand) float64 { return beta25(r) }),
		categoricalFeature("zipf20", zipfShares(20, 1.5)),
		categoricalFeature("binary", []float64{0.9, 0.1}),
		categoricalFeature("rare", []float64{0.97, 0.01, 0.01, 0.005, 0.005}),
	}
}

func poisson(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// beta25 draws Beta(2, 5), a model's probability for a rare class: the second
// smallest of six uniforms.
func beta25(r *rand.Rand) float64 {
	a, b := math.Inf(1), math.Inf(1)
	for range 6 {
		u := r.Float64()
		switch {
		case u < a:
			a, b = u, a
		case u < b:
			b = u
		}
	}
	return b
}

// profiler reduces samples to Distributions as the daemon's profiles do: counts in
// the baseline's merged decile bins, a sketch of 0.5% relative accuracy, the
// sample standard deviation; or category counts.
type profiler struct {
	edges []float64
}

func newProfiler(baseline []float64) profiler {
	s := slices.Clone(baseline)
	slices.Sort(s)
	edges := make([]float64, 9)
	for i := range edges {
		// numpy's linear interpolation
		h := float64(len(s)-1) * float64(i+1) / 10
		lo := int(h)
		edges[i] = s[lo]
		if lo+1 < len(s) {
			edges[i] += (h - float64(lo)) * (s[lo+1] - s[lo])
		}
	}
	return profiler{edges: MergeEdges(edges)}
}

func (p profiler) numeric(xs []float64) Distribution {
	d := Distribution{N: float64(len(xs)), Bins: make([]float64, len(p.edges)+1)}
	var mean, m2 float64
	for i, x := range xs {
		d.Bins[BinIndex(p.edges, x)]++
		delta := x - mean
		mean += delta / float64(i+1)
		m2 += delta * (x - mean)
	}
	d.StdDev = math.Sqrt(m2 / float64(len(xs)-1))
	d.Atoms = sketchAtoms(xs)
	return d
}

func categorical(xs []float64) Distribution {
	d := Distribution{N: float64(len(xs)), Categories: map[string]float64{}}
	for _, x := range xs {
		d.Categories["c"+strconv.Itoa(int(x))]++
	}
	return d
}

// sketchAtoms buckets values as profile.Sketch does (DDSketch, 0.5% relative
// accuracy, a zero bucket), as sorted atoms at the buckets' representatives.
func sketchAtoms(xs []float64) []Atom {
	const accuracy = 0.005
	gamma := (1 + accuracy) / (1 - accuracy)
	lg := math.Log(gamma)
	rep := make([]float64, len(xs))
	for i, x := range xs {
		if x == 0 {
			continue
		}
		k := math.Ceil(math.Log(math.Abs(x)) / lg)
		rep[i] = math.Copysign(2*math.Exp(k*lg)/(gamma+1), x)
	}
	slices.Sort(rep)
	var atoms []Atom
	for _, x := range rep {
		if n := len(atoms); n > 0 && atoms[n-1].X == x {
			atoms[n-1].W++
		} else {
			atoms = append(atoms, Atom{X: x, W: 1})
		}
	}
	return atoms
}

func statistic(c Comparison, m Method) float64 {
	switch m {
	case MethodPSI:
		return c.PSI
	case MethodJSDivergence:
		return c.JSDivergence
	case MethodLInfinity:
		return c.LInfinity
	case MethodKSPValue:
		return c.KSPValue
	case MethodWassersteinNormed:
		return c.WassersteinNormed
	case MethodChi2PValue:
		return c.Chi2PValue
	}
	return math.NaN()
}

func methodsFor(f feature) []Method {
	if f.numeric {
		return []Method{MethodPSI, MethodJSDivergence, MethodWassersteinNormed, MethodKSPValue}
	}
	return []Method{MethodPSI, MethodJSDivergence, MethodLInfinity, MethodChi2PValue}
}

func defaultThreshold(t *testing.T, m Method) float64 {
	t.Helper()
	th, ok := config.DriftMethod(m).DefaultThreshold()
	if !ok {
		t.Fatalf("config knows no default threshold for %s", m)
	}
	return th
}

func compare(ref, cur Distribution) Comparison {
	if cur.Categories != nil {
		return CompareCategorical(ref, cur)
	}
	return CompareNumeric(ref, cur)
}

// breaches reports whether the statistic of comparison c (of cur against ref)
// breaches the method's threshold, raised (or, for a p-value, lowered) to chance
// at alpha; the bare result is the contract threshold's alone.
func breaches(m Method, threshold float64, c Comparison, ref, cur Distribution, alpha float64) (effective, bare bool) {
	s := statistic(c, m)
	eff := EffectiveThreshold(m, threshold, ref, cur, alpha)
	if m.PValue() {
		return s < eff, s < threshold
	}
	return s > eff, s > threshold
}

// sizes are the window sizes with the baseline each is compared with and the
// windows simulated.
var sizes = []struct{ n, baseline, windows int }{
	{100, 10000, 1000},
	{500, 20000, 600},
	{1000, 50000, 400},
	{10000, 100000, 150},
}

type rate struct{ effective, bare, total int }

func (r *rate) add(effective, bare bool) {
	r.total++
	if effective {
		r.effective++
	}
	if bare {
		r.bare++
	}
}

func (r rate) String() string {
	return fmt.Sprintf("%.2f%% (bare threshold %.2f%%) of %d", 100*float64(r.effective)/float64(r.total),
		100*float64(r.bare)/float64(r.total), r.total)
}

func draws(r *rand.Rand, f feature, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = f.draw(r)
	}
	return xs
}

func (p profiler) distribution(f feature, xs []float64) Distribution {
	if f.numeric {
		return p.numeric(xs)
	}
	return categorical(xs)
}

// TestFalseFindingRate holds every method, at its default threshold raised to the
// null quantile at falseAlpha, to at most 1% of healthy windows flagged per check
// and per (feature, window) pair (skew or drift), from 100 to 10,000 values a
// window. It also measures the contract thresholds alone, which fail that for
// small windows: wasserstein_normed against the previous window of 500 is the
// 15% of issue #16.
func TestFalseFindingRate(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 2026))
	for _, sz := range sizes {
		checks := map[string]*rate{}
		pairs := map[string]*rate{}
		perFeature := map[string]*rate{}
		get := func(m map[string]*rate, k string) *rate {
			if m[k] == nil {
				m[k] = &rate{}
			}
			return m[k]
		}
		for _, f := range healthyFeatures() {
			base := draws(r, f, sz.baseline)
			p := newProfiler(base)
			baseline := p.distribution(f, base)
			var prev Distribution
			for w := range sz.windows {
				cur := p.distribution(f, draws(r, f, sz.n))
				skew, drift := compare(baseline, cur), compare(prev, cur)
				for _, m := range methodsFor(f) {
					th := defaultThreshold(t, m)
					e, b := breaches(m, th, skew, baseline, cur, falseAlpha)
					get(checks, string(m)+" vs baseline").add(e, b)
					if w > 0 {
						e2, b2 := breaches(m, th, drift, prev, cur, falseAlpha)
						get(checks, string(m)+" vs previous").add(e2, b2)
						get(pairs, string(m)+" per (feature, window)").add(e || e2, b || b2)
						get(perFeature, string(m)+" "+f.name).add(e || e2, b || b2)
					}
				}
				prev = cur
			}
		}
		for i, set := range []map[string]*rate{checks, pairs, perFeature} {
			keys := make([]string, 0, len(set))
			for k := range set {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				rt := set[k]
				t.Logf("n=%d %s: %v", sz.n, k, rt)
				// A feature's pairs at n=10,000 are too few to tell 1% from 0.1%:
				// they are held to the rate pooled over the features.
				if i < 2 && float64(rt.effective) > 0.01*float64(rt.total) {
					t.Errorf("n=%d %s: %v flagged, want at most 1%%", sz.n, k, rt)
				}
			}
		}
		if sz.n == 500 {
			if rt := checks["wasserstein_normed vs previous"]; float64(rt.bare) < 0.05*float64(rt.total) {
				t.Errorf("n=500: the bare threshold flags %v of healthy windows; the simulation no longer shows issue #16", rt)
			}
		}
	}
}

// TestPowerOnRealShifts measures how often the shifts of issue #16 are still
// flagged once thresholds account for chance: a numeric feature's mean moving by
// half a standard deviation, and a category's share moving from 10% to 20%,
// against the baseline and against the window before the change. A distance's
// null quantile may cost power only where chance alone passes the contract's
// threshold (windows of 100, where the bare thresholds flag 8–99% of healthy
// windows); a p-value's lowered threshold costs what a test at alpha 0.001
// rather than 0.01 does.
func TestPowerOnRealShifts(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 2027))
	before := []float64{0.4, 0.25, 0.15, 0.1, 0.1}
	after := []float64{0.4 * 8 / 9, 0.25 * 8 / 9, 0.15 * 8 / 9, 0.2, 0.1 * 8 / 9}
	shifts := []struct {
		name          string
		before, after feature
		// least are the powers each method must keep from a window size on.
		least map[Method]struct{ n, percent int }
	}{
		{"mean +0.5σ", numericFeature("normal", func(r *rand.Rand) float64 { return r.NormFloat64() }),
			numericFeature("normal", func(r *rand.Rand) float64 { return 0.5 + r.NormFloat64() }),
			map[Method]struct{ n, percent int }{MethodWassersteinNormed: {500, 99}, MethodKSPValue: {500, 99}, MethodPSI: {500, 80}}},
		{"share 10%→20%", categoricalFeature("categories", before), categoricalFeature("categories", after),
			map[Method]struct{ n, percent int }{MethodChi2PValue: {1000, 99}}},
	}
	const windows = 200
	for _, sh := range shifts {
		for _, sz := range sizes {
			base := draws(r, sh.before, sz.baseline)
			p := newProfiler(base)
			baseline := p.distribution(sh.before, base)
			power := map[string]*rate{}
			for range windows {
				prev := p.distribution(sh.before, draws(r, sh.before, sz.n))
				cur := p.distribution(sh.after, draws(r, sh.after, sz.n))
				for _, against := range []struct {
					name string
					ref  Distribution
				}{{"baseline", baseline}, {"previous", prev}} {
					c := compare(against.ref, cur)
					for _, m := range methodsFor(sh.before) {
						k := string(m) + " vs " + against.name
						if power[k] == nil {
							power[k] = &rate{}
						}
						power[k].add(breaches(m, defaultThreshold(t, m), c, against.ref, cur, falseAlpha))
					}
				}
			}
			for _, m := range methodsFor(sh.before) {
				for _, against := range []string{"baseline", "previous"} {
					rt := power[string(m)+" vs "+against]
					t.Logf("%s n=%d %s vs %s: flagged %v", sh.name, sz.n, m, against, rt)
					if !m.PValue() && sz.n >= 500 && rt.effective < rt.bare-rt.total/20 {
						t.Errorf("%s n=%d %s vs %s: flagged %v, losing more than 5 points to the null quantile", sh.name, sz.n, m, against, rt)
					}
					if l, ok := sh.least[m]; ok && sz.n >= l.n && 100*rt.effective < l.percent*rt.total {
						t.Errorf("%s n=%d %s vs %s: flagged %v, want at least %d%%", sh.name, sz.n, m, against, rt, l.percent)
					}
				}
			}
		}
	}
}
