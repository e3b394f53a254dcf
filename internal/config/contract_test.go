package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestGoodContracts(t *testing.T) {
	files, err := filepath.Glob("testdata/contracts/*.good.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good contracts: %v", err)
	}
	for _, f := range files {
		c, err := LoadContract(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, feat := range c.Features {
			if feat.Drift.Method == "" || feat.Drift.Threshold == nil {
				t.Errorf("%s: feature %s has no drift rule after defaults", f, feat.Name)
			}
		}
	}
}

// TestBadContracts checks that every error names the file, the field and what is
// wrong with it.
func TestBadContracts(t *testing.T) {
	tests := map[string][]string{
		"unknown-key.bad.yml": {"field maximum not found"},
		"bad-type.bad.yml":    {`features[0] (plan).type: unknown type "nummeric"`},
		"min-max.bad.yml":     {"features[0] (tenure_days): min 10 is greater than max 1"},
		"duplicate.bad.yml":   {`features[1] (plan).name: duplicate feature "plan", first defined at features[0]`},
		"method.bad.yml":      {"features[0] (plan).drift.method: ks_p_value does not apply to categorical features"},
		"no-model.bad.yml":    {"model: is required"},
		"null-rate.bad.yml":   {"features[0] (plan).max_null_rate: is set but the feature is not nullable"},
		"pvalue.bad.yml":      {"drift.threshold: a p-value threshold must be in [0, 1], got 5"},
		"prediction.bad.yml":  {`prediction.kind: unknown kind "probabilty"`},
		"empty.bad.yml":       {"contract is empty"},
		"many.bad.yml": {"features[0] (a): min and max apply only to numeric features, not boolean",
			"features[1].name: is required"},
	}
	files, err := filepath.Glob("testdata/contracts/*.bad.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d bad contracts in testdata, %d in the table", len(files), len(tests))
	}
	for name, wants := range tests {
		path := filepath.Join("testdata", "contracts", name)
		_, err := LoadContract(path)
		if err == nil {
			t.Errorf("%s: loaded without error", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("%s: error %q does not start with the file name", name, err)
		}
		for _, want := range wants {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not contain %q", name, err, want)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := ParseContract([]byte(`
model: m
drift: {method: js_divergence}
features:
  - {name: a, type: numeric}
  - {name: b, type: categorical, drift: {method: chi2_p_value}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxCategories != DefaultMaxCategories {
		t.Errorf("max_categories = %d, want %d", c.MaxCategories, DefaultMaxCategories)
	}
	if a := c.Feature("a"); a.Drift.Method != JSDivergence || *a.Drift.Threshold != 0.1 {
		t.Errorf("a inherits %s %v, want js_divergence 0.1", a.Drift.Method, *a.Drift.Threshold)
	}
	if b := c.Feature("b"); b.Drift.Method != Chi2PValue || *b.Drift.Threshold != 0.01 {
		t.Errorf("b has %s %v, want chi2_p_value 0.01", b.Drift.Method, *b.Drift.Threshold)
	}
	// A model-wide method that cannot apply to a type falls back to PSI for it.
	c, err = ParseContract([]byte("model: m\ndrift: {method: ks_p_value}\nfeatures: [{name: c, type: categorical}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Feature("c"); f.Drift.Method != PSI || *f.Drift.Threshold != 0.2 {
		t.Errorf("categorical under a KS model rule: %s %v, want psi 0.2", f.Drift.Method, *f.Drift.Threshold)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c, err := LoadContract("testdata/contracts/fraud.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseContract(out)
	if err != nil {
		t.Fatalf("re-reading marshalled contract: %v\n%s", err, out)
	}
	if back.Seasonality != c.Seasonality || len(back.Features) != len(c.Features) || !back.TrainedAt.Equal(c.TrainedAt) {
		t.Errorf("round trip changed the contract:\n%s", out)
	}
}
