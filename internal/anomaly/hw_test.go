package anomaly

import (
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// rReference is one row of testdata/hw_reference.csv, written by hw_reference.R.
type rReference struct {
	series             string
	period, rows       int
	train              int
	alpha, beta, gamma float64
	trainSSE, mae      float64
}

func readRReference(t *testing.T) []rReference {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "hw_reference.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []rReference
	for _, r := range recs[1:] {
		num := func(i int) float64 {
			v, err := strconv.ParseFloat(r[i], 64)
			if err != nil {
				t.Fatalf("hw_reference.csv %s column %d: %v", r[0], i, err)
			}
			return v
		}
		out = append(out, rReference{r[0], int(num(1)), int(num(2)), int(num(3)), num(4), num(5), num(6), num(7), num(8)})
	}
	return out
}

// readSeriesValues reads the value column of testdata/hw/<name>.csv.
func readSeriesValues(t *testing.T, name string) []float64 {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "hw", name+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, 0, len(recs)-1)
	for _, r := range recs[1:] {
		v, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		x = append(x, v)
	}
	return x
}

// TestHoltWintersMatchesR checks the optimiser against R's: on the training rows it
// must reach a sum of squared errors no higher than R's L-BFGS-B.
func TestHoltWintersMatchesR(t *testing.T) {
	for _, ref := range readRReference(t) {
		t.Run(ref.series, func(t *testing.T) {
			x := readSeriesValues(t, ref.series)[:ref.train]
			m, err := FitHoltWinters(x, ref.period)
			if err != nil {
				t.Fatal(err)
			}
			// Recompute the training SSE from the start values with the fitted
			// parameters, as R reports it.
			l0, b0, s0, err := hwStart(x[:2*ref.period], ref.period)
			if err != nil {
				t.Fatal(err)
			}
			start := &HoltWinters{Alpha: m.Alpha, Beta: m.Beta, Gamma: m.Gamma, Period: ref.period, level: l0, trend: b0, season: s0}
			sse, _ := start.run(x[ref.period:], nil, nil)
			t.Logf("Go α=%.4f β=%.4f γ=%.4f SSE=%.6g; R α=%.4f β=%.4f γ=%.4f SSE=%.6g",
				m.Alpha, m.Beta, m.Gamma, sse, ref.alpha, ref.beta, ref.gamma, ref.trainSSE)
			if sse > ref.trainSSE*(1+1e-9) {
				t.Errorf("training SSE %.9g is above R's %.9g", sse, ref.trainSSE)
			}
		})
	}
}

func TestHoltWintersForecastInterval(t *testing.T) {
	// A pure seasonal pattern plus a line is forecast exactly once the start values'
	// offset has been learned, and the 95% interval is ±1.96 σ around it.
	const period = 4
	pattern := []float64{1, -2, 3, -2}
	x := make([]float64, 6*period)
	for i := range x {
		x[i] = 10 + 0.5*float64(i) + pattern[i%period]
	}
	m, err := FitHoltWinters(x, period)
	if err != nil {
		t.Fatal(err)
	}
	want := 10 + 0.5*float64(len(x)) + pattern[len(x)%period]
	if got := m.Forecast(); math.Abs(got-want) > 1e-6 {
		t.Errorf("Forecast = %g, want %g", got, want)
	}
	lo, hi := m.Interval(0.95)
	if mid, half := (lo+hi)/2, (hi-lo)/2; math.Abs(mid-want) > 1e-6 || math.Abs(half-1.959964*m.Sigma()) > 1e-5 {
		t.Errorf("Interval = [%g, %g], want %g ± 1.96·%g", lo, hi, want, m.Sigma())
	}
}

func TestFitHoltWintersErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		x      []float64
		period int
	}{
		{"period one", make([]float64, 10), 1},
		{"short history", make([]float64, 7), 4},
		{"no data in the first two seasons", []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), 1, 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FitHoltWinters(tc.x, tc.period); err == nil {
				t.Error("FitHoltWinters succeeded, want an error")
			}
		})
	}
}

func TestHoltWintersMissingValues(t *testing.T) {
	// NaNs neither stop the fit nor poison the state: the forecast after a gap
	// stays close to the clean one.
	const period = 6
	clean := make([]float64, 10*period)
	for i := range clean {
		clean[i] = 5 + math.Sin(2*math.Pi*float64(i)/period) + 0.01*float64(i%7)
	}
	gappy := append([]float64(nil), clean...)
	for _, i := range []int{3, 20, 21, 22, 40, 59} {
		gappy[i] = math.NaN()
	}
	a, err := FitHoltWinters(clean, period)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FitHoltWinters(gappy, period)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(a.Forecast() - b.Forecast()); d > 0.1 || math.IsNaN(d) {
		t.Errorf("forecast with gaps %g, without %g", b.Forecast(), a.Forecast())
	}
}

func TestRetuneHoltWinters(t *testing.T) {
	// Retuning on the fitted history and what followed it never does worse on that
	// whole series than the old parameters, and leaves the state a replay with the
	// new parameters gives.
	ref := readRReference(t)[1]
	x := readSeriesValues(t, ref.series)
	m, err := FitHoltWinters(x[:ref.train], ref.period)
	if err != nil {
		t.Fatal(err)
	}
	r, err := retuneHoltWinters(m, x)
	if err != nil {
		t.Fatal(err)
	}
	l0, b0, s0, err := hwStart(x[:2*ref.period], ref.period)
	if err != nil {
		t.Fatal(err)
	}
	replay := func(p *HoltWinters) (*HoltWinters, float64) {
		h := &HoltWinters{Alpha: p.Alpha, Beta: p.Beta, Gamma: p.Gamma, Period: ref.period, level: l0, trend: b0, season: slicesClone(s0)}
		sse, _ := h.run(x[ref.period:], nil, nil)
		return h, sse
	}
	_, before := replay(m)
	h, after := replay(r)
	if after > before {
		t.Errorf("SSE after retune %.9g, before %.9g", after, before)
	}
	if h.Forecast() != r.Forecast() {
		t.Errorf("retuned forecast %g, replay gives %g", r.Forecast(), h.Forecast())
	}
}

// TestSmoothSeason: a long season's start figure that is all noise is
// averaged over its neighbouring phases, one that is mostly a daily pattern
// keeps its pattern, and a short season's figure is left as it was.
func TestSmoothSeason(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	wave := func(period int, amp float64) []float64 {
		fig := make([]float64, period)
		for i := range fig {
			fig[i] = amp*math.Cos(2*math.Pi*float64(i)/float64(period)) + rng.NormFloat64()
		}
		return fig
	}
	variance := func(x []float64) float64 {
		m, s := 0.0, 0.0
		for _, v := range x {
			m += v
		}
		m /= float64(len(x))
		for _, v := range x {
			s += (v - m) * (v - m)
		}
		return s / float64(len(x))
	}
	for _, c := range []struct {
		name   string
		fig    []float64
		lo, hi float64 // bounds on the variance of the change, per unit of noise
	}{
		{"noise, a day of 1-minute windows", wave(1440, 0), 0.65, 0.95},
		{"a daily pattern 20 times the noise", wave(1440, 20), 0, 0.05},
		{"noise, a day of 5-minute windows", wave(288, 0), 0, 0},
		{"noise, a day of hours", wave(24, 0), 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := slices.Clone(c.fig)
			smoothSeason(c.fig)
			change := make([]float64, len(c.fig))
			for i := range change {
				change[i] = c.fig[i] - before[i]
			}
			if v := variance(change); v < c.lo || v > c.hi {
				t.Errorf("variance of the change %.3f, want it in [%g, %g]", v, c.lo, c.hi)
			}
		})
	}
}
