package cbpe_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/cbpe"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

// sketchAtoms is what a window's prediction profile gives the estimate: the
// atoms of a DDSketch of the default accuracy.
func sketchAtoms(t testing.TB, p []float64) *profile.Sketch {
	t.Helper()
	s, err := profile.NewSketch(profile.DefaultRelativeAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range p {
		s.Add(x)
	}
	return s
}

// TestSketchPath: estimating from a window's sketch rather than its exact
// predictions moves the estimates by little. The sketch's representatives are
// within 0.5% of the values they stand for, which near 0 is a sliver of a
// probability and near 1 is the whole tail above 0.995: one atom then stands
// for predictions that calibration spreads apart. Seen: 1e-4 for models with
// little mass there, 0.0023 (accuracy) and 0.0043 (AUC) for the
// overconfident one, whose calibration maps that tail onto 0.8–0.97; a
// window's sampling error is larger (0.006 for accuracy over 5000).
func TestSketchPath(t *testing.T) {
	data, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Name       string    `json:"name"`
			ReferenceP []float64 `json:"reference_p"`
			ReferenceY []int     `json:"reference_y"`
			ServingP   []float64 `json:"serving_p"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 11))
	const tolAccuracy, tolAUC = 0.003, 0.005
	var worstAcc, worstAUC float64
	for _, c := range ref.Cases {
		y := make([]bool, len(c.ReferenceY))
		for i, v := range c.ReferenceY {
			y[i] = v == 1
		}
		cal, err := cbpe.Learn(c.ReferenceP, y)
		if err != nil {
			t.Fatal(err)
		}
		// The case's serving sample, and a window of 5000 predictions drawn
		// from the reference ones with replacement.
		window := make([]float64, 5000)
		for i := range window {
			window[i] = c.ReferenceP[rng.IntN(len(c.ReferenceP))]
		}
		for _, p := range [][]float64{c.ServingP, window} {
			exact := cal.Estimate(cbpe.ExactAtoms(append([]float64(nil), p...)))
			s := sketchAtoms(t, p)
			got := cal.Estimate(cbpe.ProbabilityAtoms(s.Atoms(), s.RelativeAccuracy()))
			da, du := math.Abs(got.Accuracy-exact.Accuracy), math.Abs(got.AUC-exact.AUC)
			worstAcc, worstAUC = max(worstAcc, da), max(worstAUC, du)
			if da > tolAccuracy || du > tolAUC || got.Predictions != exact.Predictions {
				t.Errorf("%s, %d predictions: sketch accuracy %v AUC %v over %v, exact %v %v over %v",
					c.Name, len(p), got.Accuracy, got.AUC, got.Predictions, exact.Accuracy, exact.AUC, exact.Predictions)
			}
		}
	}
	t.Logf("largest error of the sketch path: accuracy %.2g, AUC %.2g", worstAcc, worstAUC)
}
