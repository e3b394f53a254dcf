package sentinelchart

import (
	"os"
	"path/filepath"
	"testing"
)

// TestChartDashboardsAreTheRepositorys: with dashboards on, the chart renders
// one ConfigMap per dashboard in the repository's dashboards/, holding the
// file byte for byte: the chart's files/dashboards are copies, kept equal by
// `go test -run TestGenerated -update` in dashboards/tests.
func TestChartDashboardsAreTheRepositorys(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in the repository: %v", err)
	}
	rendered := renderedDashboards(t, chartDir)
	for _, f := range files {
		name := filepath.Base(f)
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := rendered[name]
		switch {
		case !ok:
			t.Errorf("the chart renders no ConfigMap for %s: copy it to helm/sentinel/files/dashboards", name)
		case got != string(want):
			t.Errorf("the chart's %s differs from dashboards/%s", name, name)
		}
		delete(rendered, name)
	}
	for name := range rendered {
		t.Errorf("the chart renders %s, which dashboards/ does not hold", name)
	}
}
