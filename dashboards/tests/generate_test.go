package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the dashboards and the chart's copies from definitions_test.go")

const (
	// dashboardDir holds the dashboards, from this module's directory.
	dashboardDir = ".."
	// chartCopyDir holds the copies the Helm chart ships as ConfigMaps.
	chartCopyDir = "../../helm/sentinel/files/dashboards"
)

// encode is the file form of a dashboard: two-space indentation, SQL and
// PromQL comparisons left readable (no \u003e), a final newline.
func encode(t *testing.T, d dashboard) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGenerated: the dashboards and the chart's copies are what
// definitions_test.go generates; -update rewrites both.
func TestGenerated(t *testing.T) {
	want := generated()
	for _, dir := range []string{dashboardDir, chartCopyDir} {
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if _, ok := want[filepath.Base(f)]; !ok {
				if *update {
					if err := os.Remove(f); err != nil {
						t.Fatal(err)
					}
					continue
				}
				t.Errorf("%s is no generated dashboard (go test -update removes it)", f)
			}
		}
		names := make([]string, 0, len(want))
		for name := range want {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			path := filepath.Join(dir, name)
			b := encode(t, want[name])
			if *update {
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (go test -run TestGenerated -update writes it)", err)
				continue
			}
			if !bytes.Equal(got, b) {
				t.Errorf("%s differs from definitions_test.go: run go test -run TestGenerated -update and review the diff", path)
			}
		}
	}
}
