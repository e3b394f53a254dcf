package cbpe_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/cbpe"
	"github.com/sentinel-ml/sentinel/internal/stats"
)

// BenchmarkWindowEstimate is what the estimate adds to closing a window:
// copying the prediction sketch's atoms (which the prediction checks have
// made already), keeping those that hold probabilities, and the estimate
// through the calibration. The window's size does not matter, only the
// buckets its predictions fill: here 20,000 predictions of an overconfident
// model, from 1e-6 to 1, and a calibration of about 140 thresholds.
func BenchmarkWindowEstimate(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	ref := make([]float64, 20000)
	pos := make([]bool, len(ref))
	for i := range ref {
		x := rng.NormFloat64()
		ref[i] = 1 / (1 + math.Exp(-(4.5*x - 3)))
		pos[i] = rng.Float64() < 1/(1+math.Exp(-(1.5*x-1)))
	}
	cal, err := cbpe.Learn(ref, pos)
	if err != nil {
		b.Fatal(err)
	}
	s := sketchAtoms(b, ref)
	atoms := s.Atoms()
	var buf []stats.Atom
	b.ReportAllocs()
	for b.Loop() {
		buf = cbpe.ProbabilityAtoms(append(buf[:0], atoms...), s.RelativeAccuracy())
		if e := cal.Estimate(buf); math.IsNaN(e.AUC) {
			b.Fatal("no AUC")
		}
	}
	b.ReportMetric(float64(len(buf)), "atoms")
	b.ReportMetric(float64(len(cal.X)), "thresholds")
}

// BenchmarkLearn is the calibration's cost in `sentinel baseline`: the
// cross-validation's ten fits and the final one.
func BenchmarkLearn(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	ref := make([]float64, 100000)
	pos := make([]bool, len(ref))
	for i := range ref {
		x := rng.NormFloat64()
		ref[i] = 1 / (1 + math.Exp(-(4.5*x - 3)))
		pos[i] = rng.Float64() < 1/(1+math.Exp(-(1.5*x-1)))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cbpe.Learn(ref, pos); err != nil {
			b.Fatal(err)
		}
	}
}
