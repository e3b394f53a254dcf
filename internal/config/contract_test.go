package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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

// TestBadContracts holds every bad contract in testdata to its exact message:
// each line names the file, the line, the key's path in YAML and what is wrong.
func TestBadContracts(t *testing.T) {
	const allowedInFeature = "(keys allowed here: name, type, nullable, min, max, categories, max_null_rate, max_out_of_range_rate, " +
		"max_unknown_category_rate, max_wrong_type_rate, drift, severity)"
	const allowedAtTop = "model, model_version, trained_at, prediction, seasonality, drift, max_categories, severity, defaults, versions, shadow, canary, features"
	tests := map[string][]string{
		"unknown-key.bad.yml": {"line 5: features[0] (tenure_days).maximum: unknown key " + allowedInFeature},
		"typo.bad.yml":        {"line 8: features[1] (age).max_nul_rate: unknown key; did you mean max_null_rate? " + allowedInFeature},
		"misplaced.bad.yml": {"line 2: max_null_rate: unknown key at the top level; it belongs in defaults or in features[n] " +
			"(keys allowed at the top level: " + allowedAtTop + ")"},
		"not-a-number.bad.yml": {`line 5: features[0] (tenure_days).min: "ten" is not a number`,
			`line 6: features[0] (tenure_days).nullable: "maybe" is not true or false`},
		"duration.bad.yml":         {`line 2: seasonality: "1 day" is not a duration (like 90s, 5m, 1h)`},
		"duration-unit.bad.yml":    {`line 2: seasonality: "24" is not a duration: give it a unit (like 90s, 5m, 1h)`},
		"timestamp.bad.yml":        {`line 2: trained_at: "last tuesday" is not a timestamp (like 2026-11-01 or 2026-11-01T00:00:00Z)`},
		"whole-number.bad.yml":     {`line 2: max_categories: "2.5" is not a whole number`},
		"features-mapping.bad.yml": {`line 3: features: a set of keys is not a list (write [a, b], or one "- item" per line)`},
		"twice.bad.yml":            {"line 5: features[0] (plan).type: key given twice (first at line 4)"},
		"syntax.bad.yml":           {"line 3: did not find expected ',' or ']'"},
		"list.bad.yml":             {"line 1: a list is not a set of keys (want key: value lines, the keys being " + allowedAtTop + ")"},
		"two-documents.bad.yml":    {"line 5: a second YAML document (after ---): a contract file holds one"},
		"empty.bad.yml":            {"contract is empty"},
		"aliases.bad.yml":          {"line 4: aliases expand to too many values; write the file without them"},
		"bad-type.bad.yml":         {`line 4: features[0] (plan).type: unknown type "nummeric" (want numeric, categorical or boolean)`},
		"min-max.bad.yml":          {"line 3: features[0] (tenure_days): min 10 is greater than max 1"},
		"duplicate.bad.yml":        {`line 5: features[1] (plan).name: duplicate feature "plan", first defined at features[0]`},
		"method.bad.yml":           {"line 6: features[0] (plan).drift.method: ks_p_value does not apply to categorical features"},
		"no-model.bad.yml":         {"model: is required"},
		"null-rate.bad.yml":        {"line 5: features[0] (plan).max_null_rate: is set but the feature is not nullable"},
		// Reported once, at the model: the feature inherits the bad threshold.
		"pvalue.bad.yml":     {"line 4: drift.threshold: a p-value threshold must be in [0, 1], got 5"},
		"prediction.bad.yml": {`line 3: prediction.kind: unknown kind "probabilty" (want probability, score, class or regression)`},
		"calibration.bad.yml": {"line 3: prediction.kind: is score, but a calibration (prediction.column, prediction.label_column) applies to probability predictions only",
			"line 4: prediction.column: is set without prediction.label_column: a calibration needs both",
			`line 4: prediction.column: "plan" is a feature of the contract; the model's output and its ground truth are not its inputs`,
			"line 5: prediction.max_quality_gap: must be in (0, 1], got 0"},
		"calibration-columns.bad.yml": {`line 5: prediction.label_column: is the prediction's column "churned" too`,
			"line 6: prediction.max_quality_gap: must be in (0, 1], got 1.5"},
		"shadow.bad.yml": {`line 3: versions.names: "other" is the label of the versions without one of their own; name the version otherwise`,
			`line 3: versions.names: duplicate version "v1"`,
			"line 4: versions.max_others: must be in [0, 20], got 50",
			"line 5: versions.max_silence: must not be negative, got -1m0s",
			`line 8: shadow.candidate: is the reference version "v2" too: a shadow pairs two versions`,
			"line 9: shadow.max_disagreement: must be a share in [0, 1], got 1.5",
			"line 10: shadow.max_unpaired_ratio: must be a share in [0, 1], got -0.1",
			"line 11: shadow.max_pending: must be in [1, 715827882], got -3"},
		"canary.bad.yml": {`line 4: canary.candidate: is the reference version "v2" too: a canary compares two versions`,
			"line 5: canary.min_events: must not be negative, got -1",
			"line 6: canary.max_error_rate_increase: must be a share in [0, 1], got 2",
			"line 7: canary.max_latency_ratio: must be at least 1 (the candidate as fast as the reference), got 0.5",
			"line 8: canary.max_quality_loss: must not be negative, got -0.1",
			"line 9: canary.split_alpha: must be a significance in (0, 1), got 1"},
		"shadow-missing.bad.yml": {"line 2: shadow.reference: is required: the version whose predictions are paired",
			`line 3: shadow.candidate: "other" is the label of the versions without one of their own; name the version otherwise`},
		"many.bad.yml": {"line 3: features[0] (a): min and max apply only to numeric features, not boolean",
			"line 6: features[1].name: is required"},
		"tolerances.bad.yml": {
			`line 2: severity: unknown severity "page" (want critical, warning or info)`,
			"line 4: defaults.max_out_of_range_rate: must be a share in [0, 1], got 1.5",
			"line 8: features[0] (tenure_days).max_unknown_category_rate: applies only to categorical features, not numeric",
			"line 11: features[1] (plan).max_unknown_category_rate: is set but the feature lists no categories",
			"line 12: features[1] (plan).max_wrong_type_rate: must be a share in [0, 1], got -1",
			"line 15: features[2] (amount).max_out_of_range_rate: is set but the feature has neither min nor max",
			`line 16: features[2] (amount).severity: unknown severity "urgent" (want critical, warning or info)`,
		},
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
		checkProblems(t, path, err, wants)
	}
}

// checkProblems compares err, line by line, with the file's name and wants.
func checkProblems(t *testing.T, path string, err error, wants []string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: loaded without error", path)
		return
	}
	var want strings.Builder
	for i, w := range wants {
		if i > 0 {
			want.WriteByte('\n')
		}
		want.WriteString(path + ": " + w)
	}
	if err.Error() != want.String() {
		t.Errorf("%s: error\n%s\nwant\n%s", path, err, want.String())
	}
	if goName.MatchString(err.Error()) {
		t.Errorf("%s: error %q speaks Go, not YAML", path, err)
	}
}

// goName matches what yaml.v3 and encoding/json say about Go types.
var goName = regexp.MustCompile(`config\.|time\.|float64|\bu?int(8|16|32|64)?\b|\bstruct\b|\bGo\b|!!`)

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

// TestTolerances checks the effective tolerances and severities after Load: the
// feature's own, else the contract's defaults, else the built-in ones; nil where
// the rule cannot apply.
func TestTolerances(t *testing.T) {
	c, err := LoadContract("testdata/contracts/tolerances.good.yml")
	if err != nil {
		t.Fatal(err)
	}
	show := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(*v)
	}
	tests := []struct {
		feature                                 string
		null, outOfRange, unknownCat, wrongType string
		severity                                Severity
	}{
		{"tenure_days", "-", "0.005", "-", "0", Critical}, // not nullable; range from defaults
		{"age", "0.02", "0.01", "-", "0", Critical},       // null rate from defaults, its own range rate
		{"plan", "-", "-", "0.001", "0", Warning},         // built-in unknown-category rate
		{"referrer", "0.5", "-", "-", "0.001", Info},      // no categories: no unknown-category rate
		{"is_trial", "-", "-", "-", "0", Critical},
	}
	for _, tc := range tests {
		f := c.Feature(tc.feature)
		got := []string{show(f.MaxNullRate), show(f.MaxOutOfRangeRate), show(f.MaxUnknownCategoryRate), show(f.MaxWrongTypeRate), string(f.Severity)}
		want := []string{tc.null, tc.outOfRange, tc.unknownCat, tc.wrongType, string(tc.severity)}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: null, out of range, unknown category, wrong type, severity = %v, want %v", tc.feature, got, want)
		}
	}
	// Without defaults or severity: the built-in tolerances and no severity.
	c, err = ParseContract([]byte("model: m\nfeatures:\n  - {name: x, type: numeric, max: 1, nullable: true}\n  - {name: c, type: categorical, categories: [a]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	x, cat := c.Feature("x"), c.Feature("c")
	if x.MaxNullRate != nil || *x.MaxOutOfRangeRate != DefaultMaxOutOfRangeRate || *x.MaxWrongTypeRate != DefaultMaxWrongTypeRate ||
		*cat.MaxUnknownCategoryRate != DefaultMaxUnknownCategoryRate || x.Severity != "" {
		t.Errorf("built-in tolerances: %+v, %+v", x.Tolerances, cat.Tolerances)
	}
}

func TestClosestKey(t *testing.T) {
	keys := []string{"name", "type", "nullable", "max_null_rate", "max_out_of_range_rate", "severity"}
	for key, want := range map[string]string{
		"max_nul_rate":           "max_null_rate",
		"max_null_rte":           "max_null_rate",
		"nulable":                "nullable",
		"tpye":                   "type", // a transposition is one slip
		"Name":                   "name",
		"maximum":                "",
		"max_out_of_range":       "", // five edits: too far to guess
		"sevrity":                "severity",
		"x":                      "",
		"max_out_of_range_rat":   "max_out_of_range_rate",
		"max_out_of_range_rates": "max_out_of_range_rate",
	} {
		if got := closest(key, keys); got != want {
			t.Errorf("closest(%q) = %q, want %q", key, got, want)
		}
	}
}

// FuzzParseContract: any input either parses into a contract that survives a
// round trip through Marshal, or fails with problems said in YAML's terms.
func FuzzParseContract(f *testing.F) {
	files, err := filepath.Glob("testdata/contracts/*.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("model: m\nfeatures: [{name: a, type: numeric, min: &x 1, max: *x}]\n"))
	f.Add([]byte("model: m\nbase: &b {type: numeric}\nfeatures: [{<<: *b, name: a}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseContract(data)
		if err != nil {
			var p *Problems
			if !errors.As(err, &p) || len(p.List) == 0 {
				t.Fatalf("error %v (%T) is not a list of problems", err, err)
			}
			// A Go-looking word may appear only when it was in the input.
			for _, m := range goName.FindAllString(err.Error(), -1) {
				if !bytes.Contains(data, []byte(m)) {
					t.Fatalf("error %q speaks Go, not YAML", err)
				}
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := ParseContract(out); err != nil {
			t.Fatalf("a valid contract does not read back: %v\n%s", err, out)
		}
	})
}

// TestQualityGap: a contract that names the calibration's columns tolerates
// the default gap unless it sets its own; one without has no calibration.
func TestQualityGap(t *testing.T) {
	for _, c := range []struct {
		yaml       string
		calibrated bool
		gap        float64
	}{
		{"model: m\nprediction: {kind: probability, column: s, label_column: y}\nfeatures: [{name: a, type: numeric}]\n", true, DefaultMaxQualityGap},
		{"model: m\nprediction: {kind: probability, column: s, label_column: y, max_quality_gap: 0.1}\nfeatures: [{name: a, type: numeric}]\n", true, 0.1},
		{"model: m\nprediction: {kind: probability}\nfeatures: [{name: a, type: numeric}]\n", false, DefaultMaxQualityGap},
		{"model: m\nfeatures: [{name: a, type: numeric}]\n", false, DefaultMaxQualityGap},
	} {
		ct, err := ParseContract([]byte(c.yaml))
		if err != nil {
			t.Fatalf("%s: %v", c.yaml, err)
		}
		if got := ct.Prediction.Calibrated(); got != c.calibrated {
			t.Errorf("%s: calibrated %v, want %v", c.yaml, got, c.calibrated)
		}
		if got := ct.Prediction.QualityGap(); got != c.gap {
			t.Errorf("%s: gap %v, want %v", c.yaml, got, c.gap)
		}
	}
}
