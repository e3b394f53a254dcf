package profile

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/config"
)

// TestLoadNotABaseline: a file that is not a baseline says so, and no message
// names a Go type.
func TestLoadNotABaseline(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"train.csv", "amount,age\n1,2\n", "train.csv is not a Sentinel baseline: not a JSON object"},
		{"list.json", `[{"format_version": 1}]`, "list.json is not a Sentinel baseline: not a JSON object"},
		{"other.json", `{"model": "fraud", "features": []}`, "other.json is not a Sentinel baseline: no format_version (baselines are written by 'sentinel baseline')"},
		{"version.json", `{"format_version": "one"}`, `version.json is not a Sentinel baseline: format_version is "one", not a version number`},
		{"truncated.json", `{"format_version": 1, "rows": 12`, "truncated.json: reading baseline: the JSON ends early (a truncated file?)"},
		{"syntax.json", `{"format_version": 1, rows: 12}`, "syntax.json: reading baseline: invalid JSON at byte 23: invalid character 'r' looking for beginning of object key string"},
		{"rows.json", `{"format_version": 1, "rows": "many"}`, "rows.json: reading baseline: rows: a string at byte 36 where a count (a whole number, 0 or more) belongs"},
		{"features.json", `{"format_version": 1, "features": [{"name": "x", "count": -1}]}`, "features.json: reading baseline: features.count: a number (-1) at byte 60 where a count (a whole number, 0 or more) belongs"},
		{"categories.json", `{"format_version": 1, "features": {"x": 1}}`, "categories.json: reading baseline: features: an object at byte 35 where a list belongs"},
	}
	goType := regexp.MustCompile(`Go |uint64|int\b|\[\]|profile\.|\bstruct\b`)
	for _, tc := range tests {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadBaseline(path)
		want := filepath.Join(dir, tc.want)
		if err == nil || err.Error() != want {
			t.Errorf("%s: error\n%v\nwant\n%s", tc.name, err, want)
		}
		if err != nil && goType.MatchString(err.Error()) {
			t.Errorf("%s: error %q names Go types", tc.name, err)
		}
	}
}

func TestCheckContract(t *testing.T) {
	b := &Baseline{Model: "fraud", Features: []FeatureBaseline{{Name: "amount", Type: config.Numeric}}}
	tests := []struct {
		contract config.Contract
		want     string
	}{
		{config.Contract{Model: "fraud", Features: []config.Feature{{Name: "amount", Type: config.Numeric}, {Name: "new", Type: config.Boolean}}}, ""},
		{config.Contract{Model: "churn", Features: []config.Feature{{Name: "amount", Type: config.Numeric}}}, `the baseline is of model "fraud", the contract of "churn"`},
		{config.Contract{Model: "fraud", Features: []config.Feature{{Name: "amount", Type: config.Categorical}}}, "feature amount is categorical in the contract but numeric in the baseline"},
	}
	for _, tc := range tests {
		got := ""
		if err := b.CheckContract(&tc.contract); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: error %q, want %q", tc.contract.Model, got, tc.want)
		}
	}
}
