package profile

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"syscall"
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
	var l BaselineLoader // one buffer for every file, as a fleet's are read
	for _, tc := range tests {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := l.Load(path)
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

// TestBaselineLoader: baselines read one after another through one buffer,
// the larger first or last, and one from a pipe (whose size is not known
// before it is read), are those read each on its own.
func TestBaselineLoader(t *testing.T) {
	dir := t.TempDir()
	small, large := filepath.Join(dir, "small.json"), filepath.Join(dir, "large.json")
	for path, rows := range map[string]int{small: 50, large: 2000} {
		if err := os.WriteFile(path, fleetBaseline(t, rows), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pipe := filepath.Join(dir, "pipe.json")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	fed := make(chan error, 1)
	go func() {
		data, err := os.ReadFile(large)
		if err == nil {
			err = os.WriteFile(pipe, data, 0o600)
		}
		fed <- err
	}()
	var l BaselineLoader
	paths := []string{large, small, large, pipe, small}
	var loaded []*Baseline
	for i, path := range paths {
		b, err := l.Load(path)
		if err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
		loaded = append(loaded, b)
	}
	// Compared once all are read: none keeps the buffer the next overwrote.
	for i, path := range paths {
		from := path
		if path == pipe {
			from = large
		}
		want, err := LoadBaseline(from)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(loaded[i], want) {
			t.Errorf("load %d, of %s through a used buffer, differs from the file read on its own", i, filepath.Base(path))
		}
	}
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
}
