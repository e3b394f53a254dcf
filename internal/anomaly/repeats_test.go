package anomaly

import (
	"math"
	"testing"
)

// TestFitRepeatsChargesRateRunsBySampling: the run of zeros a rare rate ends
// its history on is carried into scoring at its sample's chance of a zero,
// not at the share of repeats over the history, while a metric without a
// known sampling keeps that share.
func TestFitRepeatsChargesRateRunsBySampling(t *testing.T) {
	const n, windows, hit, p = 1000, 100, 10, 1e-6
	history := make([][]float64, windows)
	sampling := make([][]Sampling, windows)
	for i := range history {
		history[i] = []float64{0, 0}
		if i == hit {
			history[i] = []float64{1.0 / n, 1}
		}
		sampling[i] = []Sampling{{Kind: SamplingRate, N: n}, {}}
	}
	md := &model{active: []int{0, 1}}
	md.fitRepeats(history, &trainingSampling{sampling: sampling, rate: []float64{p, math.NaN()}})
	run := windows - hit - 2 // repeats after the run's first window
	for a, want := range []float64{
		float64(run) * -n * p / math.Ln10,
		float64(run) * math.Log10(float64(windows-3+1)/float64(windows-1+2)),
	} {
		if md.run[a] != run {
			t.Errorf("metric %d: run %d, want %d", a, md.run[a], run)
		}
		if math.Abs(md.runLog[a]-want) > 1e-9 {
			t.Errorf("metric %d: run charged %.4g (log10), want %.4g", a, md.runLog[a], want)
		}
	}
}
