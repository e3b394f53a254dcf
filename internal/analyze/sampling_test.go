package analyze

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/check"
)

// TestTailQuantileSampling: the standard error that a window's own p95 and
// p99 give their sampling is the spread those quantiles have from window to
// window of unchanged latencies: to a tenth for an exponential tail, to a
// third for heavier ones.
func TestTailQuantileSampling(t *testing.T) {
	for _, tc := range []struct {
		name   string
		draw   func(r *rand.Rand) float64
		lo, hi float64 // bounds of predicted over observed standard error
	}{
		{"exponential", func(r *rand.Rand) float64 { return 4 + 3*r.ExpFloat64() }, 0.85, 1.15},
		{"lognormal", func(r *rand.Rand) float64 { return 20 * math.Exp(0.6*r.NormFloat64()) }, 0.75, 1.33},
		{"pareto", func(r *rand.Rand) float64 { return 10 / math.Pow(1-r.Float64(), 1/2.5) }, 0.6, 1.4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const windows, n = 3000, 200
			r := rand.New(rand.NewPCG(1, 2))
			x := make([]float64, n)
			for _, q := range []struct {
				metric string
				q      float64
			}{{check.LatencyP95, 0.95}, {check.LatencyP99, 0.99}} {
				var sum, sumSq, predicted float64
				for range windows {
					for i := range x {
						x[i] = tc.draw(r)
					}
					slices.Sort(x)
					row := map[string]float64{check.LatencyP95: quantileOf(x, 0.95), check.LatencyP99: quantileOf(x, 0.99)}
					v := row[q.metric]
					sum, sumSq = sum+v, sumSq+v*v
					s := tailQuantile(q.q, n, func(feature, metric string) float64 { return row[metric] })
					if s.Kind != anomaly.SamplingQuantile {
						t.Fatalf("%s: sampling %v, want a quantile's", q.metric, s.Kind)
					}
					predicted += s.Scale / math.Sqrt(s.N)
				}
				mean := sum / windows
				observed := math.Sqrt(sumSq/windows - mean*mean)
				ratio := predicted / windows / observed
				t.Logf("%s: standard error %.3g predicted, %.3g observed (×%.2f)", q.metric, predicted/windows, observed, ratio)
				if ratio < tc.lo || ratio > tc.hi {
					t.Errorf("%s: predicted standard error ×%.2f the observed, want within [%.2f, %.2f]", q.metric, ratio, tc.lo, tc.hi)
				}
			}
		})
	}
}

// TestTailQuantileUnknown: a window whose tail quantiles are missing or tell
// no spread leaves the latency quantile to its history.
func TestTailQuantileUnknown(t *testing.T) {
	for _, row := range []map[string]float64{
		{check.LatencyP95: math.NaN(), check.LatencyP99: 20},
		{check.LatencyP95: 20, check.LatencyP99: math.NaN()},
		{check.LatencyP95: 20, check.LatencyP99: 20},
		{check.LatencyP95: 20, check.LatencyP99: math.Inf(1)},
	} {
		s := tailQuantile(0.99, 100, func(_, metric string) float64 { return row[metric] })
		if s.Kind != anomaly.SamplingUnknown {
			t.Errorf("p95 %v, p99 %v: sampling %v, want unknown", row[check.LatencyP95], row[check.LatencyP99], s.Kind)
		}
	}
}

// quantileOf is the q-quantile of sorted x, interpolated.
func quantileOf(x []float64, q float64) float64 {
	pos := q * float64(len(x)-1)
	j := int(pos)
	if j >= len(x)-1 {
		return x[len(x)-1]
	}
	return x[j] + (pos-float64(j))*(x[j+1]-x[j])
}
