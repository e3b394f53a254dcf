package labels

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// The reference values come from scikit-learn via testdata/gen_performance_reference.py.

type referenceCase struct {
	Name      string                `json:"name"`
	CSV       string                `json:"csv"`
	Kind      config.PredictionKind `json:"kind"`
	Threshold *float64              `json:"threshold"`
	Generated *struct {
		Seed             uint64    `json:"seed"`
		N                int       `json:"n"`
		FirstPredictions []float64 `json:"first_predictions"`
		FirstLabels      []float64 `json:"first_labels"`
	} `json:"generated"`
	Expected map[string]float64 `json:"expected"`
}

type pairs struct{ pred, label []Value }

func loadReferenceCases(t *testing.T) []referenceCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []referenceCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no reference cases")
	}
	return ref.Cases
}

func (c *referenceCase) pairs(t *testing.T) pairs {
	t.Helper()
	if c.Generated != nil {
		ps := generatedPairs(c.Name, c.Generated.Seed, c.Generated.N)
		for i, want := range c.Generated.FirstPredictions {
			if ps.pred[i].Num != want || ps.label[i].Num != c.Generated.FirstLabels[i] {
				t.Fatalf("generator drifted from the Python one at %d: (%v, %v), want (%v, %v)",
					i, ps.pred[i].Num, ps.label[i].Num, want, c.Generated.FirstLabels[i])
			}
		}
		return ps
	}
	f, err := os.Open(filepath.Join("testdata", c.CSV))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var ps pairs
	for _, r := range rows[1:] {
		if c.Kind == config.Class {
			ps.pred = append(ps.pred, Value{Class: r[0]})
			ps.label = append(ps.label, Value{Class: r[1]})
			continue
		}
		p, err1 := strconv.ParseFloat(r[0], 64)
		l, err2 := strconv.ParseFloat(r[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: bad row %q", c.CSV, r)
		}
		ps.pred = append(ps.pred, Value{Num: p})
		ps.label = append(ps.label, Value{Num: l})
	}
	return ps
}

// generatedPairs repeats the Python script's splitmix64 cases. Each product is
// converted explicitly so that no platform fuses it into a multiply-add.
func generatedPairs(name string, seed uint64, n int) pairs {
	state := seed
	next := func() float64 {
		state += 0x9E3779B97F4A7C15
		z := state
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		return float64(z>>11) * 0x1p-53
	}
	var ps pairs
	for range n {
		positive := next() < 0.2
		a, b := next(), next()
		var p float64
		switch {
		case name == "above_limit_probability" && positive:
			p = max(a, b)
		case name == "above_limit_probability":
			p = a * b
		case name == "above_limit_concentrated" && positive:
			p = a * 0.05
		case name == "above_limit_concentrated":
			p = float64(a*b) * 0.01
		case positive:
			p = float64(float64(a-b)*4.0) + 1.5
		default:
			p = float64(a-b) * 4.0
		}
		l := 0.0
		if positive {
			l = 1
		}
		ps.pred = append(ps.pred, Value{Num: p})
		ps.label = append(ps.label, Value{Num: l})
	}
	return ps
}

func (c *referenceCase) accumulate(t *testing.T, ps pairs, limit, parts int) *Performance {
	t.Helper()
	cfg := PerformanceConfig{Kind: c.Kind, Threshold: c.Threshold, ExactAUCLimit: limit}
	if c.Kind == config.Class || c.Kind == config.Regression {
		cfg.Threshold = nil
	}
	accs := make([]*Performance, parts)
	for i := range accs {
		var err error
		if accs[i], err = NewPerformance(cfg); err != nil {
			t.Fatal(err)
		}
	}
	for i := range ps.pred {
		if err := accs[i%parts].Add(ps.pred[i], ps.label[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range accs[1:] {
		if err := accs[0].Merge(a); err != nil {
			t.Fatal(err)
		}
	}
	return accs[0]
}

func metricMap(m Metrics) map[string]*float64 {
	count := float64(m.Count)
	return map[string]*float64{
		"count": &count, "accuracy": m.Accuracy, "auc": m.AUC, "log_loss": m.LogLoss,
		"label_positive_rate": m.LabelPositiveRate, "mean_prediction": m.MeanPrediction,
		"mae": m.MAE, "rmse": m.RMSE, "mean_error": m.MeanError,
	}
}

func closeRel(got, want, rel float64) bool {
	if want == 0 {
		return math.Abs(got) <= 1e-12
	}
	return math.Abs(got-want) <= rel*math.Abs(want)
}

// TestPerformanceAgainstSklearn holds every metric to 1e-9 relative while the AUC
// is exact, whether the window was filled in one piece or merged from partitions.
func TestPerformanceAgainstSklearn(t *testing.T) {
	for _, c := range loadReferenceCases(t) {
		if c.Generated != nil {
			continue
		}
		ps := c.pairs(t)
		for _, parts := range []int{1, 3} {
			m := c.accumulate(t, ps, 0, parts).Metrics()
			if m.AUCErrorBound != nil {
				t.Errorf("%s: AUC approximated below the exact limit", c.Name)
			}
			for name, got := range metricMap(m) {
				want, ok := c.Expected[name]
				switch {
				case !ok && got != nil:
					t.Errorf("%s/%d: %s = %v, want absent", c.Name, parts, name, *got)
				case ok && got == nil:
					t.Errorf("%s/%d: %s absent, want %v", c.Name, parts, name, want)
				case ok && !closeRel(*got, want, 1e-9):
					t.Errorf("%s/%d: %s = %.17g, sklearn %.17g", c.Name, parts, name, *got, want)
				}
			}
		}
	}
}

// TestBucketedAUCWithinBound forces the bucketed AUC on the small cases (limit 100)
// and runs the generated cases above the default limit: the AUC must be within the
// bound the accumulator reports, and the bound within the one the package documents
// for these distributions.
func TestBucketedAUCWithinBound(t *testing.T) {
	const documented = 1e-3
	for _, c := range loadReferenceCases(t) {
		want, ok := c.Expected["auc"]
		if !ok {
			continue
		}
		ps := c.pairs(t)
		limit := 100
		if c.Generated != nil {
			limit = 0
		}
		for _, parts := range []int{1, 4} {
			m := c.accumulate(t, ps, limit, parts).Metrics()
			if m.AUC == nil || m.AUCErrorBound == nil {
				t.Fatalf("%s: AUC %v, bound %v; want both", c.Name, m.AUC, m.AUCErrorBound)
			}
			diff := math.Abs(*m.AUC - want)
			if diff > *m.AUCErrorBound+1e-12 {
				t.Errorf("%s/%d: bucketed AUC %.10f, sklearn %.10f: off by %.3g, beyond its bound %.3g",
					c.Name, parts, *m.AUC, want, diff, *m.AUCErrorBound)
			}
			if c.Generated != nil && *m.AUCErrorBound > documented {
				t.Errorf("%s: bound %.3g above the documented %.g", c.Name, *m.AUCErrorBound, documented)
			}
			if parts == 1 {
				t.Logf("%-30s n=%-6d |AUC − sklearn| = %.2e, reported bound %.2e", c.Name, len(ps.pred), diff, *m.AUCErrorBound)
			}
			for name, got := range metricMap(m) {
				if w, ok := c.Expected[name]; ok && name != "auc" && !closeRel(*got, w, 1e-9) {
					t.Errorf("%s/%d: %s = %.17g, sklearn %.17g", c.Name, parts, name, *got, w)
				}
			}
		}
	}
}
