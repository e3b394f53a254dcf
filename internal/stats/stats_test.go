package stats

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// reference is testdata/reference/expected.json, written by gen_reference.py with
// scipy; see the README there.
type reference struct {
	Cases []struct {
		Name           string    `json:"name"`
		Type           string    `json:"type"`
		BaselineFile   string    `json:"baseline_file"`
		ServingFile    string    `json:"serving_file"`
		PSI            float64   `json:"psi"`
		JSDivergence   float64   `json:"js_divergence"`
		KSStatistic    float64   `json:"ks_statistic"`
		KSPValue       float64   `json:"ks_p_value"`
		Wasserstein    float64   `json:"wasserstein"`
		BinEdges       []float64 `json:"bin_edges"`
		Deciles        []float64 `json:"deciles"`
		BaselineProps  []float64 `json:"baseline_props"`
		ServingProps   []float64 `json:"serving_props"`
		BaselineCounts []float64 `json:"baseline_counts"`
		ServingCounts  []float64 `json:"serving_counts"`
		LInfinity      float64   `json:"l_infinity"`
		Categories     []string  `json:"categories"`
		LInfinityValue string    `json:"l_infinity_value"`
		Chi2Statistic  float64   `json:"chi2_statistic"`
		Chi2PValue     float64   `json:"chi2_p_value"`
		Chi2DoF        int       `json:"chi2_dof"`
	} `json:"cases"`
	Functions struct {
		KolmogorovSF [][2]float64      `json:"kolmogorov_sf"`
		Chi2SF       [][3]float64      `json:"chi2_sf"`
		PSI          []proportionsCase `json:"psi"`
		JSDivergence []proportionsCase `json:"js_divergence"`
	} `json:"functions"`
}

type proportionsCase struct {
	E, A  []float64
	Value float64
}

func (p *proportionsCase) UnmarshalJSON(b []byte) error {
	var raw [3]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for i, dst := range []any{&p.E, &p.A, &p.Value} {
		if err := json.Unmarshal(raw[i], dst); err != nil {
			return err
		}
	}
	return nil
}

func loadReference(t *testing.T) *reference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "reference", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("reference has no cases")
	}
	return &ref
}

// finiteValues reads a one-column reference CSV, leaving out nulls, NaN and ±Inf as
// the definitions do.
func finiteValues(t *testing.T, name string) []float64 {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "reference", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var xs []float64
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		x, err := strconv.ParseFloat(sc.Text(), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		xs = append(xs, x)
	}
	return xs
}

func closeRel(got, want, tol float64) bool {
	if want == 0 {
		return math.Abs(got) <= tol
	}
	return math.Abs(got-want) <= tol*math.Abs(want)
}

func TestFunctionsAgainstScipy(t *testing.T) {
	ref := loadReference(t)
	for _, c := range ref.Functions.KolmogorovSF {
		if got := KolmogorovSF(c[0]); !closeRel(got, c[1], 1e-9) {
			t.Errorf("KolmogorovSF(%v) = %v, scipy %v", c[0], got, c[1])
		}
	}
	for _, c := range ref.Functions.Chi2SF {
		if got := ChiSquareSF(c[0], int(c[1])); !closeRel(got, c[2], 1e-9) {
			t.Errorf("ChiSquareSF(%v, %v) = %v, scipy %v", c[0], c[1], got, c[2])
		}
	}
	for _, c := range ref.Functions.PSI {
		if got := PSI(c.E, c.A); !closeRel(got, c.Value, 1e-12) {
			t.Errorf("PSI(%v, %v) = %v, reference %v", c.E, c.A, got, c.Value)
		}
	}
	for _, c := range ref.Functions.JSDivergence {
		if got := JSDivergence(c.E, c.A); !closeRel(got, c.Value, 1e-9) && math.Abs(got-c.Value) > 1e-15 {
			t.Errorf("JSDivergence(%v, %v) = %v, scipy %v", c.E, c.A, got, c.Value)
		}
	}
}

// TestExactSamplesAgainstScipy feeds the raw samples, so KS and Wasserstein must
// match scipy to rounding; the sketch-based path is tested in package skew.
func TestExactSamplesAgainstScipy(t *testing.T) {
	ref := loadReference(t)
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			switch c.Type {
			case "numeric":
				b, s := finiteValues(t, c.BaselineFile), finiteValues(t, c.ServingFile)
				ab, as := atoms(b), atoms(s)
				if got := KS(ab, as); !closeRel(got, c.KSStatistic, 1e-9) {
					t.Errorf("KS = %v, scipy %v", got, c.KSStatistic)
				}
				if got := KSPValue(c.KSStatistic, float64(len(b)), float64(len(s))); !closeRel(got, c.KSPValue, 1e-6) {
					t.Errorf("KS p-value = %v, scipy %v", got, c.KSPValue)
				}
				if got := Wasserstein(ab, as); !closeRel(got, c.Wasserstein, 1e-9) {
					t.Errorf("Wasserstein = %v, scipy %v", got, c.Wasserstein)
				}
				bc, sc := make([]float64, len(c.BinEdges)+1), make([]float64, len(c.BinEdges)+1)
				for _, x := range b {
					bc[BinIndex(c.BinEdges, x)]++
				}
				for _, x := range s {
					sc[BinIndex(c.BinEdges, x)]++
				}
				checkProportions(t, c.BaselineProps, c.ServingProps, proportions(bc), proportions(sc))
				if got := PSI(proportions(bc), proportions(sc)); !closeRel(got, c.PSI, 1e-9) {
					t.Errorf("PSI = %v, reference %v", got, c.PSI)
				}
				if got := JSDivergence(proportions(bc), proportions(sc)); !closeRel(got, c.JSDivergence, 1e-9) {
					t.Errorf("JS = %v, scipy %v", got, c.JSDivergence)
				}
			case "categorical":
				e, a := proportions(c.BaselineCounts), proportions(c.ServingCounts)
				if got := PSI(e, a); !closeRel(got, c.PSI, 1e-9) {
					t.Errorf("PSI = %v, reference %v", got, c.PSI)
				}
				if got := JSDivergence(e, a); !closeRel(got, c.JSDivergence, 1e-9) {
					t.Errorf("JS = %v, scipy %v", got, c.JSDivergence)
				}
				linf, at := LInfinity(e, a)
				if !closeRel(linf, c.LInfinity, 1e-9) || c.Categories[at] != c.LInfinityValue {
					t.Errorf("L-inf = %v at %q, reference %v at %q", linf, c.Categories[at], c.LInfinity, c.LInfinityValue)
				}
				stat, p, df := ChiSquare(c.BaselineCounts, c.ServingCounts)
				if !closeRel(stat, c.Chi2Statistic, 1e-9) || !closeRel(p, c.Chi2PValue, 1e-6) || df != c.Chi2DoF {
					t.Errorf("chi2 = %v (p %v, df %d), scipy %v (p %v, df %d)", stat, p, df, c.Chi2Statistic, c.Chi2PValue, c.Chi2DoF)
				}
			}
		})
	}
}

// proportions is counts divided by their sum.
func proportions(counts []float64) []float64 {
	return proportionsInto(make([]float64, len(counts)), counts)
}

func checkProportions(t *testing.T, wantB, wantS, gotB, gotS []float64) {
	t.Helper()
	if len(gotB) != len(wantB) || len(gotS) != len(wantS) {
		t.Fatalf("bins: got %d/%d, reference %d/%d", len(gotB), len(gotS), len(wantB), len(wantS))
	}
	for i := range wantB {
		if !closeRel(gotB[i], wantB[i], 1e-12) || !closeRel(gotS[i], wantS[i], 1e-12) {
			t.Errorf("bin %d: proportions %v/%v, reference %v/%v", i, gotB[i], gotS[i], wantB[i], wantS[i])
		}
	}
}

func atoms(xs []float64) []Atom {
	a := make([]Atom, len(xs))
	for i, x := range xs {
		a[i] = Atom{X: x, W: 1}
	}
	SortAtoms(a)
	return a
}

func TestBinIndexIsRightClosed(t *testing.T) {
	edges := []float64{1, 2, 3}
	for _, tc := range []struct {
		x    float64
		want int
	}{{-10, 0}, {1, 0}, {1.5, 1}, {2, 1}, {3, 2}, {3.0001, 3}, {math.Inf(1), 3}} {
		if got := BinIndex(edges, tc.x); got != tc.want {
			t.Errorf("BinIndex(%v) = %d, want %d", tc.x, got, tc.want)
		}
	}
}

func TestMergeEdges(t *testing.T) {
	got := MergeEdges([]float64{1, 1, 2, 3, 3, 3, 4})
	want := []float64{1, 2, 3, 4}
	if len(got) != len(want) {
		t.Fatalf("MergeEdges = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("MergeEdges = %v, want %v", got, want)
		}
	}
}

func TestEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"JS of identical", JSDivergence([]float64{0.5, 0.5}, []float64{0.5, 0.5}), 0},
		{"JS of disjoint", JSDivergence([]float64{1, 0}, []float64{0, 1}), 1},
		{"PSI of identical", PSI([]float64{0.2, 0.8}, []float64{0.2, 0.8}), 0},
		{"KS of empty", KS(nil, []Atom{{1, 1}}), 0},
		{"KS of disjoint", KS([]Atom{{0, 1}}, []Atom{{1, 1}}), 1},
		{"Wasserstein of point masses", Wasserstein([]Atom{{0, 2}}, []Atom{{3, 5}}), 3},
		{"KS p-value of nothing", KSPValue(0.5, 0, 10), 1},
		{"Kolmogorov at 0", KolmogorovSF(0), 1},
		{"Kolmogorov small", KolmogorovSF(0.1), 1},
		{"chi2 sf at 0", ChiSquareSF(0, 3), 1},
	}
	for _, tc := range tests {
		if !closeRel(tc.got, tc.want, 1e-12) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if stat, p, df := ChiSquare([]float64{5, 0}, []float64{7, 0}); stat != 0 || p != 1 || df != 0 {
		t.Errorf("chi2 with one non-empty column = %v, %v, %d; want 0, 1, 0", stat, p, df)
	}
	if _, at := LInfinity(nil, nil); at != -1 {
		t.Errorf("LInfinity of empty: index %d, want -1", at)
	}
}
