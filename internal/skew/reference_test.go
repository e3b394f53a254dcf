package skew

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/dataset"
	"github.com/sentinel-ml/sentinel/internal/profile"
)

// referenceDir holds samples and scipy's values for them (gen_reference.py).
var referenceDir = filepath.Join("..", "stats", "testdata", "reference")

type referenceCase struct {
	Name           string    `json:"name"`
	Type           string    `json:"type"`
	BaselineFile   string    `json:"baseline_file"`
	ServingFile    string    `json:"serving_file"`
	NullRate       float64   `json:"null_rate"`
	NaNRate        float64   `json:"nan_rate"`
	InfRate        float64   `json:"inf_rate"`
	PSI            float64   `json:"psi"`
	JSDivergence   float64   `json:"js_divergence"`
	KSStatistic    float64   `json:"ks_statistic"`
	Wasserstein    float64   `json:"wasserstein"`
	WNormed        float64   `json:"wasserstein_normed"`
	Deciles        []float64 `json:"deciles"`
	BinEdges       []float64 `json:"bin_edges"`
	Mean           float64   `json:"mean"`
	Std            float64   `json:"std"`
	LInfinity      float64   `json:"l_infinity"`
	LInfinityValue string    `json:"l_infinity_value"`
	Chi2Statistic  float64   `json:"chi2_statistic"`
	Chi2PValue     float64   `json:"chi2_p_value"`
}

// TestCompareAgainstScipy runs the whole path — baseline from a CSV, profile of the
// serving CSV, comparison — and checks it against scipy on the raw samples, with the
// tolerances Sentinel promises: statistics from exact counts to 1e-6 relative, KS
// (from sketches) within 0.01, Wasserstein within 3%.
func TestCompareAgainstScipy(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(referenceDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []referenceCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no reference cases")
	}
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			contract := &config.Contract{Model: c.Name, Features: []config.Feature{{Name: "value", Type: config.FeatureType(c.Type), Nullable: true}}}
			contract.ApplyDefaults()
			if err := contract.Validate(); err != nil {
				t.Fatal(err)
			}
			b, err := profile.Build(context.Background(), contract, opener(filepath.Join(referenceDir, c.BaselineFile)),
				profile.BuildOptions{Now: func() time.Time { return time.Unix(0, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			r := compareFile(t, contract, b, filepath.Join(referenceDir, c.ServingFile))
			fr := r.Features[0]
			exact := func(name string, got *float64, want float64) {
				t.Helper()
				if got == nil || !closeRel(*got, want, 1e-6) {
					t.Errorf("%s = %v, scipy %v", name, deref(got), want)
				}
			}
			exact("psi", fr.PSI, c.PSI)
			exact("js_divergence", fr.JSDivergence, c.JSDivergence)
			exact("null_rate", &fr.NullRate, c.NullRate)
			if c.Type == "numeric" {
				fb := b.Feature("value")
				checkSlice(t, "deciles", fb.Deciles, c.Deciles, 1e-12)
				checkSlice(t, "bin edges", fb.BinEdges, c.BinEdges, 1e-12)
				exact("mean", fb.Mean, c.Mean)
				exact("std", fb.StdDev, c.Std)
				exact("nan_rate", &fr.NaNRate, c.NaNRate)
				exact("inf_rate", &fr.InfRate, c.InfRate)
				if fr.KSStatistic != nil && fr.Wasserstein != nil {
					t.Logf("ks %.5f (scipy %.5f), wasserstein %.5g (scipy %.5g, %+.2f%%)", *fr.KSStatistic, c.KSStatistic,
						*fr.Wasserstein, c.Wasserstein, 100*(*fr.Wasserstein/c.Wasserstein-1))
				}
				if fr.KSStatistic == nil || math.Abs(*fr.KSStatistic-c.KSStatistic) > 0.01 {
					t.Errorf("ks_statistic = %v, scipy %v (tolerance 0.01)", deref(fr.KSStatistic), c.KSStatistic)
				}
				if fr.Wasserstein == nil || !closeRel(*fr.Wasserstein, c.Wasserstein, 0.03) {
					t.Errorf("wasserstein = %v, scipy %v (tolerance 3%%)", deref(fr.Wasserstein), c.Wasserstein)
				}
				if fr.WassersteinNormed == nil || !closeRel(*fr.WassersteinNormed, c.WNormed, 0.03) {
					t.Errorf("wasserstein_normed = %v, scipy %v (tolerance 3%%)", deref(fr.WassersteinNormed), c.WNormed)
				}
				return
			}
			exact("l_infinity", fr.LInfinity, c.LInfinity)
			if fr.LInfinityValue == nil || *fr.LInfinityValue != c.LInfinityValue {
				t.Errorf("l_infinity_value = %v, scipy %q", fr.LInfinityValue, c.LInfinityValue)
			}
			exact("chi2_statistic", fr.Chi2Statistic, c.Chi2Statistic)
			exact("chi2_p_value", fr.Chi2PValue, c.Chi2PValue)
		})
	}
}

func opener(path string) profile.Opener {
	return func() (dataset.Reader, io.Closer, error) {
		f, err := dataset.Open(path)
		if err != nil {
			return nil, nil, err
		}
		return f, f, nil
	}
}

func compareFile(t *testing.T, c *config.Contract, b *profile.Baseline, path string) *Report {
	t.Helper()
	specs := make([]profile.Spec, len(c.Features))
	for i := range c.Features {
		specs[i] = b.Spec(&c.Features[i], c.MaxCategories)
	}
	set, err := profile.NewSet(specs)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dataset.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := set.Scan(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	r, err := Compare(c, b, set, Options{MinSamples: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkSlice(t *testing.T, name string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, numpy %v", name, got, want)
		return
	}
	for i := range want {
		if !closeRel(got[i], want[i], tol) {
			t.Errorf("%s[%d] = %v, numpy %v", name, i, got[i], want[i])
		}
	}
}

func closeRel(got, want, tol float64) bool {
	if want == 0 {
		return math.Abs(got) <= tol
	}
	return math.Abs(got-want) <= tol*math.Abs(want)
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
