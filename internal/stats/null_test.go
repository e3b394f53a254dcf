package stats

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// nullReference is testdata/reference/null_quantiles.json, written by
// gen_null_quantiles.py: simulated upper quantiles of each statistic under the null.
type nullReference struct {
	Tails         []float64            `json:"tails"`
	WTails        []float64            `json:"wasserstein_tails"`
	Distributions map[string][]float64 `json:"distributions"`
	Binned        []nullCase           `json:"binned"`
	Wasserstein   []nullCase           `json:"wasserstein"`
}

type nullCase struct {
	Method    Method
	Case      string
	N         float64
	M         float64 // +Inf for "inf"
	Reps      int
	Quantiles []float64
	// Pooled are Wasserstein's quantiles over the pooled standard deviation.
	Pooled []float64
}

func (c *nullCase) UnmarshalJSON(b []byte) error {
	var raw struct {
		Method    Method          `json:"method"`
		Case      string          `json:"case"`
		N         float64         `json:"n"`
		M         json.RawMessage `json:"m"`
		Reps      int             `json:"reps"`
		Quantiles []float64       `json:"quantiles"`
		Pooled    []float64       `json:"pooled"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	c.Method, c.Case, c.N, c.Reps, c.Quantiles, c.Pooled = raw.Method, raw.Case, raw.N, raw.Reps, raw.Quantiles, raw.Pooled
	if string(raw.M) == `"inf"` {
		c.M = math.Inf(1)
		return nil
	}
	return json.Unmarshal(raw.M, &c.M)
}

func loadNullReference(t *testing.T) *nullReference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "reference", "null_quantiles.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref nullReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Binned) == 0 || len(ref.Wasserstein) == 0 {
		t.Fatal("null reference has no cases")
	}
	return &ref
}

// simulatedTail returns the probability with which the simulated statistic exceeds
// q, interpolated in log-probability between the quantiles of the ladder tails;
// beyond the ladder's ends it returns the end's tail, flagged by out.
func simulatedTail(q float64, tails, quantiles []float64) (p float64, out int) {
	if q <= quantiles[0] {
		return tails[0], -1
	}
	last := len(tails) - 1
	if q >= quantiles[last] {
		return tails[last], 1
	}
	for i := 1; i <= last; i++ {
		if q <= quantiles[i] {
			lo, hi := quantiles[i-1], quantiles[i]
			f := 0.0
			if hi > lo {
				f = (q - lo) / (hi - lo)
			}
			return math.Exp(math.Log(tails[i-1]) + f*(math.Log(tails[i])-math.Log(tails[i-1]))), 0
		}
	}
	return tails[last], 1
}

func tailIndex(tails []float64, alpha float64) int {
	for i, t := range tails {
		if t == alpha {
			return i
		}
	}
	return -1
}

// TestBinnedNullAgainstSimulation holds the null quantiles of PSI, JS, L∞ and
// Pearson's χ² (whose p-value is chi2_p_value's null quantile) to
// simulation (gen_null_quantiles.py, 200,000 draws a case): the probability with
// which the simulated statistic exceeds the quantile computed for alpha must lie
// within [alpha/3, 2·alpha] at alpha = 0.01 and 0.001, over numeric decile bins,
// the tied bins of a count, long-tailed, binary and rare categories, windows of
// 100 to 10,000 against a previous window, a reference period of twelve, a
// baseline of 100,000 and the population. A statistic of two windows of 100 takes
// few values (L∞ moves in steps of 0.01), and a quantile within 1% of the
// simulated one passes whatever probability the step holds.
func TestBinnedNullAgainstSimulation(t *testing.T) {
	ref := loadNullReference(t)
	worst := map[Method][2]float64{}
	for _, alpha := range []float64{0.01, 0.001} {
		at := tailIndex(ref.Tails, alpha)
		for _, c := range ref.Binned {
			p := ref.Distributions[c.Case]
			var q float64
			switch c.Method {
			case MethodLInfinity:
				q = lInfinityNull(p, c.N, c.M, alpha)
			case "chi2_statistic": // the statistic behind chi2_p_value
				q = binnedNull(MethodChi2PValue, p, c.N, c.M, alpha)
			default:
				q = binnedNull(c.Method, p, c.N, c.M, alpha)
			}
			tail, _ := simulatedTail(q, ref.Tails, c.Quantiles)
			w := worst[c.Method]
			if w[0] == 0 || tail/alpha < w[0] {
				w[0] = tail / alpha
			}
			w[1] = math.Max(w[1], tail/alpha)
			worst[c.Method] = w
			if testing.Verbose() {
				t.Logf("%s %s n=%v m=%v alpha=%v: q %.5g, simulated %.5g (ratio %.3f), exceeded in %.3g", c.Method, c.Case, c.N, c.M, alpha, q, c.Quantiles[at], q/c.Quantiles[at], tail)
			}
			if (tail < alpha/3 || tail > 2*alpha) && math.Abs(q/c.Quantiles[at]-1) > 0.01 {
				t.Errorf("%s %s n=%v m=%v: quantile at %v is %.5g, simulated %.5g; exceeded in %.3g of draws", c.Method, c.Case, c.N, c.M, alpha, q, c.Quantiles[at], tail)
			}
		}
	}
	for m, w := range worst {
		t.Logf("%s: simulated exceedance between %.2f·alpha and %.2f·alpha", m, w[0], w[1])
	}
}

// population returns a distribution of gen_null_quantiles.py's Wasserstein cases
// as atoms (a fine quantile grid, or the probabilities of a discrete one) with its
// standard deviation.
func population(t *testing.T, name string) ([]Atom, float64) {
	t.Helper()
	const grid = 100000
	var atoms []Atom
	switch name {
	case "normal", "lognormal", "uniform":
		atoms = make([]Atom, grid)
		for i := range atoms {
			u := (float64(i) + 0.5) / grid
			x := -math.Sqrt2 * math.Erfcinv(2*u)
			switch name {
			case "lognormal":
				x = math.Exp(x)
			case "uniform":
				x = u
			}
			atoms[i] = Atom{X: x, W: 1}
		}
	case "discrete_heavy":
		// 60% zeros, the rest Poisson(3)+1
		atoms = []Atom{{X: 0, W: 0.6}}
		pmf := math.Exp(-3)
		for k := range 60 {
			atoms = append(atoms, Atom{X: float64(k + 1), W: 0.4 * pmf})
			pmf *= 3 / float64(k+1)
		}
	default:
		t.Fatalf("unknown distribution %q", name)
	}
	var w, mean, m2 float64
	for _, a := range atoms {
		w += a.W
		mean += a.W * a.X
	}
	mean /= w
	for _, a := range atoms {
		m2 += a.W * (a.X - mean) * (a.X - mean)
	}
	return atoms, math.Sqrt(m2 / w)
}

// TestWassersteinNullAgainstSimulation holds wasserstein_normed's null quantile to
// simulation (gen_null_quantiles.py) for normal, lognormal(0, 1), uniform and a
// count that is 60% zeros, windows of 100 to 10,000 against a previous window
// and a baseline of 20,000. The quantile is computed for W1 over the pooled
// samples' standard deviation and expressed in the reference's, so with the
// population's atoms it is held to the simulated W1 over the pooled standard
// deviation: within 15%, and exceeded in at most 1.5 times alpha of the draws.
// Against the statistic itself, W1 over the reference's standard deviation, whose
// tail for lognormal windows of 100 against 100 is that of the reference's
// standard deviation, the rescaling is what matters; TestFalseFindingRate holds
// the two together to the rate of healthy windows flagged.
func TestWassersteinNullAgainstSimulation(t *testing.T) {
	ref := loadNullReference(t)
	pops := map[string][]Atom{}
	sds := map[string]float64{}
	for _, alpha := range []float64{0.01, 0.001} {
		at := tailIndex(ref.WTails, alpha)
		lo, hi, worst := math.Inf(1), 0.0, 0.0
		for _, c := range ref.Wasserstein {
			if pops[c.Case] == nil {
				pops[c.Case], sds[c.Case] = population(t, c.Case)
			}
			atoms := pops[c.Case]
			q := NullQuantile(MethodWassersteinNormed,
				Distribution{Atoms: atoms, N: c.M, StdDev: sds[c.Case]},
				Distribution{Atoms: atoms, N: c.N}, alpha)
			sim := c.Pooled[at]
			tail, _ := simulatedTail(q, ref.WTails, c.Pooled)
			lo, hi, worst = math.Min(lo, q/sim), math.Max(hi, q/sim), math.Max(worst, tail/alpha)
			if testing.Verbose() {
				t.Logf("%s n=%v m=%v alpha=%v: q %.4f, simulated %.4f (ratio %.3f), exceeded in %.3g; statistic's quantile %.4f",
					c.Case, c.N, c.M, alpha, q, sim, q/sim, tail, c.Quantiles[at])
			}
			if q < 0.85*sim || q > 1.15*sim || tail > 1.5*alpha {
				t.Errorf("%s n=%v m=%v: quantile at %v is %.4f, simulated %.4f; exceeded in %.3g of draws", c.Case, c.N, c.M, alpha, q, sim, tail)
			}
		}
		t.Logf("alpha %v: quantile between %.3f and %.3f of the simulated, exceeded in at most %.2f·alpha", alpha, lo, hi, worst)
	}
}

func uniformBins(k int, each float64) Distribution {
	d := Distribution{Bins: make([]float64, k), N: each * float64(k)}
	for i := range d.Bins {
		d.Bins[i] = each
	}
	return d
}

// TestNullQuantileLimits checks the large-sample limits the small-sample
// corrections must reduce to: PSI·n_eff and JS·8·ln2·n_eff tend to χ²_{k−1}, n_eff =
// nm/(n+m); Pearson's statistic to χ²_{k−1} itself; L∞ to the Bonferroni bound of
// normal differences; W1/σ to z_{α/2}·sqrt(1/n+1/m) (times bridgeSurplus).
func TestNullQuantileLimits(t *testing.T) {
	const alpha = 0.001
	n, m := 1e6, 4e6
	neff := n * m / (n + m)
	chi9 := chiSquareQuantile(t, 9, alpha)
	ref, cur := uniformBins(10, m/10), uniformBins(10, n/10)
	z := math.Sqrt2 * math.Erfcinv(alpha/10) // Bonferroni over ten bins, two tails each
	normal, _ := population(t, "normal")
	tests := []struct {
		method Method
		want   float64
	}{
		{MethodPSI, chi9 / neff},
		{MethodJSDivergence, chi9 / (8 * math.Ln2 * neff)},
		{MethodChi2PValue, alpha},
		{MethodLInfinity, z * math.Sqrt(0.1*0.9/neff)},
	}
	for _, tc := range tests {
		if got := NullQuantile(tc.method, ref, cur, alpha); !closeRel(got, tc.want, 0.01) {
			t.Errorf("%s: null quantile %.6g, limit %.6g", tc.method, got, tc.want)
		}
	}
	w := NullQuantile(MethodWassersteinNormed, Distribution{Atoms: normal, N: m, StdDev: 1}, Distribution{Atoms: normal, N: n}, alpha)
	if want := bridgeSurplus * math.Sqrt2 * math.Erfcinv(alpha) / math.Sqrt(neff); !closeRel(w, want, 0.01) {
		t.Errorf("wasserstein_normed: null quantile %.6g, limit %.6g", w, want)
	}
}

// chiSquareQuantile inverts ChiSquareSF by bisection, independently of the
// quantile function under test.
func chiSquareQuantile(t *testing.T, df int, alpha float64) float64 {
	t.Helper()
	lo, hi := 0.0, 1000.0
	for range 200 {
		mid := (lo + hi) / 2
		if ChiSquareSF(mid, df) > alpha {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func TestNullQuantileEdges(t *testing.T) {
	bins := uniformBins(10, 50)
	cats := Distribution{N: 300, Categories: map[string]float64{"a": 100, "b": 200}}
	one := Distribution{N: 300, Categories: map[string]float64{"a": 300}}
	atoms := []Atom{{X: 1, W: 40}, {X: 2, W: 60}}
	numeric := Distribution{N: 100, Atoms: atoms, StdDev: 0.5, Bins: []float64{40, 60}}
	nan := math.NaN()
	tests := []struct {
		name     string
		method   Method
		ref, cur Distribution
		alpha    float64
		want     float64
	}{
		{"alpha 0", MethodPSI, bins, bins, 0, nan},
		{"alpha 1", MethodPSI, bins, bins, 1, nan},
		{"alpha NaN", MethodPSI, bins, bins, nan, nan},
		{"unknown method", "chi3", bins, bins, 0.001, nan},
		{"empty current", MethodPSI, bins, uniformBins(10, 0), 0.001, nan},
		{"empty reference", MethodJSDivergence, uniformBins(10, 0), bins, 0.001, nan},
		{"bins that differ", MethodPSI, bins, uniformBins(9, 50), 0.001, nan},
		{"one category", MethodPSI, one, one, 0.001, 0},
		{"one category, L∞", MethodLInfinity, one, one, 0.001, 0},
		{"one category, χ²", MethodChi2PValue, one, one, 0.001, 0.001},
		{"KS", MethodKSPValue, numeric, numeric, 0.001, 0.001},
		{"no spread", MethodWassersteinNormed, Distribution{N: 100, Atoms: atoms}, numeric, 0.001, nan},
		{"no atoms", MethodWassersteinNormed, numeric, Distribution{N: 100, Bins: []float64{40, 60}}, 0.001, nan},
		{"one value", MethodWassersteinNormed, Distribution{N: 100, Atoms: []Atom{{X: 3, W: 100}}, StdDev: 1},
			Distribution{N: 50, Atoms: []Atom{{X: 3, W: 50}}}, 0.001, 0},
		{"categories on one side only", MethodPSI, cats, Distribution{N: 300, Categories: map[string]float64{}}, 0.001, nan},
	}
	for _, tc := range tests {
		got := NullQuantile(tc.method, tc.ref, tc.cur, tc.alpha)
		if !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("%s: NullQuantile = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestNullQuantileSides checks what the sides' sizes do: a reference known
// exactly (N = +Inf) adds no noise, so its quantile is below that of a reference
// sample of the same size, and the quantile of a numeric feature's bins does
// not depend on their order.
func TestNullQuantileSides(t *testing.T) {
	cur := Distribution{N: 200, Bins: []float64{20, 30, 50, 100}}
	ref := Distribution{N: 200, Bins: []float64{25, 25, 60, 90}}
	population := ref
	population.N = math.Inf(1)
	reversed := Distribution{N: 200, Bins: []float64{100, 50, 30, 20}}
	reversedRef := Distribution{N: 200, Bins: []float64{90, 60, 25, 25}}
	for _, m := range []Method{MethodPSI, MethodJSDivergence, MethodLInfinity} {
		sample, exact := NullQuantile(m, ref, cur, 0.001), NullQuantile(m, population, cur, 0.001)
		if !(exact < sample) {
			t.Errorf("%s: quantile against a population %v, against a sample of the same size %v", m, exact, sample)
		}
		if r := NullQuantile(m, reversedRef, reversed, 0.001); !closeRel(r, sample, 1e-12) {
			t.Errorf("%s: quantile %v over reversed bins, %v in order", m, r, sample)
		}
	}
}

// TestNullQuantileIsDeterministic: categories come out of maps in random order,
// and the quantile must not change with it, to the bit.
func TestNullQuantileIsDeterministic(t *testing.T) {
	ref := Distribution{Categories: map[string]float64{}, Other: 7}
	cur := Distribution{Categories: map[string]float64{}}
	for i := range 60 {
		ref.Categories[fmt.Sprint("c", i)] = float64(1 + i*i%97)
		cur.Categories[fmt.Sprint("c", i+3)] = float64(1 + i*7%13)
	}
	for _, m := range []Method{MethodPSI, MethodJSDivergence, MethodLInfinity, MethodChi2PValue} {
		first := NullQuantile(m, ref, cur, 0.001)
		if math.IsNaN(first) {
			t.Fatalf("%s: NaN", m)
		}
		for range 50 {
			if got := NullQuantile(m, ref, cur, 0.001); math.Float64bits(got) != math.Float64bits(first) {
				t.Fatalf("%s: %v, then %v", m, first, got)
			}
		}
	}
}

func TestEffectiveThreshold(t *testing.T) {
	small, large := uniformBins(10, 10), uniformBins(10, 100000)
	psiSmall := NullQuantile(MethodPSI, small, small, 0.001)
	if psiSmall < 0.2 {
		t.Fatalf("PSI's null quantile at 100 values is %v, below the default threshold", psiSmall)
	}
	cats := Distribution{N: 300, Categories: map[string]float64{"a": 100, "b": 200}}
	tests := []struct {
		name      string
		method    Method
		threshold float64
		ref, cur  Distribution
		want      float64
	}{
		{"distance raised to chance", MethodPSI, 0.2, small, small, psiSmall},
		{"distance kept above chance", MethodPSI, 0.2, large, large, 0.2},
		{"undefined keeps the contract's", MethodPSI, 0.2, small, uniformBins(10, 0), 0.2},
		{"p-value lowered to alpha", MethodKSPValue, 0.01, large, large, 0.001},
		{"p-value kept below alpha", MethodKSPValue, 0.0001, large, large, 0.0001},
		{"χ² p-value lowered", MethodChi2PValue, 0.01, cats, cats, NullQuantile(MethodChi2PValue, cats, cats, 0.001)},
	}
	for _, tc := range tests {
		if got := EffectiveThreshold(tc.method, tc.threshold, tc.ref, tc.cur, 0.001); !closeRel(got, tc.want, 1e-12) {
			t.Errorf("%s: EffectiveThreshold = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestMethodsAreConfigs: Method names the statistics config.DriftMethod does, and
// agrees on which flag drift below their threshold.
func TestMethodsAreConfigs(t *testing.T) {
	bins, atoms := uniformBins(4, 100), []Atom{{X: 1, W: 200}, {X: 2, W: 200}}
	numeric := Distribution{N: 400, Bins: bins.Bins, Atoms: atoms, StdDev: 0.5}
	for _, dm := range []config.DriftMethod{config.PSI, config.JSDivergence, config.LInfinity, config.KSPValue,
		config.WassersteinNormed, config.Chi2PValue} {
		m := Method(dm)
		if q := NullQuantile(m, numeric, numeric, 0.001); math.IsNaN(q) {
			t.Errorf("%s: no null quantile", dm)
		}
		if m.PValue() != dm.Below() {
			t.Errorf("%s: PValue %v, config's Below %v", dm, m.PValue(), dm.Below())
		}
	}
}
