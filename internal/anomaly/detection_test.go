package anomaly_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/anomaly/anomalybench"
)

// detectionSeeds are the generator seeds the detection comparison pools.
const detectionSeeds = 10

// TestDetectionBenchmark compares Sentinel's detector with the methods it replaces
// on generated metric tables with injected incidents (see package anomalybench) and
// writes the comparison to testdata/detection.md with -update.
func TestDetectionBenchmark(t *testing.T) {
	// The baselines as the issue names them (3σ per series), and the same methods
	// with their threshold raised so that, by Bonferroni, a clean row is flagged
	// about as rarely as Sentinel's FalseAlarmRate allows: 0.002 split over 40
	// metrics (4.06σ) or 3 components (3.48σ).
	type entry struct {
		det      anomalybench.Detector
		baseline bool // Sentinel must beat it on F1
	}
	entries := []entry{
		{anomalybench.StaticSigma{K: 3}, true},
		{anomalybench.PerMetricHW{K: 3}, true},
		{anomalybench.ComponentHW{K: 3, VarianceShare: 0.9}, true},
		{anomalybench.StaticSigma{K: 4.06}, true},
		{anomalybench.PerMetricHW{K: 4.06}, true},
		{anomalybench.ComponentHW{K: 3.48, VarianceShare: 0.9}, true},
		{anomalybench.Sentinel{Config: anomaly.Config{}}, false},
	}
	results := make([]anomalybench.Result, len(entries))
	cfg := anomalybench.DefaultGenConfig()
	for seed := uint64(1); seed <= detectionSeeds; seed++ {
		ds, err := anomalybench.Generate(cfg, seed)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range entries {
			flags, err := e.det.Flags(ds.Table, ds.Period, ds.Train)
			if err != nil {
				t.Fatalf("seed %d, %s: %v", seed, e.det.Name(), err)
			}
			results[i].Add(anomalybench.Score(ds, flags))
		}
	}
	table := detectionTable(cfg, entries[len(entries)-1].det.Name(), func(yield func(string, anomalybench.Result) bool) {
		for i, e := range entries {
			if !yield(e.det.Name(), results[i]) {
				return
			}
		}
	})
	t.Log("\n" + table)
	golden := filepath.Join("testdata", "detection.md")
	if anomaly.UpdateGoldens() {
		if err := os.WriteFile(golden, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want, err := os.ReadFile(golden); err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	} else if string(want) != table {
		t.Errorf("%s is out of date; run go test ./internal/anomaly -run TestDetectionBenchmark -update and review the diff", golden)
	}

	s := results[len(results)-1]
	if s.Recall() < 0.9 {
		t.Errorf("Sentinel recall %.3f, want at least 0.90", s.Recall())
	}
	if s.FalseAlarmRate() > 0.01 {
		t.Errorf("Sentinel false-alarm rate %.4f, want at most 0.01", s.FalseAlarmRate())
	}
	for i, e := range entries {
		if e.baseline && results[i].F1() >= s.F1() {
			t.Errorf("%s F1 %.3f is not below Sentinel's %.3f", e.det.Name(), results[i].F1(), s.F1())
		}
	}
}

func detectionTable(cfg anomalybench.GenConfig, sentinel string, rows func(func(string, anomalybench.Result) bool)) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Detection on generated tables: %d seeds × %d metrics (%d latent daily factors, scales over seven orders of magnitude, one constant, one with gaps, one added late), %d hourly rows to train and %d scored, %d incidents per seed. An incident counts as caught when flagged within %d rows of its start; precision counts flagged rows inside an incident or up to %d rows after it; the false-alarm rate is over the remaining clean rows.\n\n",
		detectionSeeds, cfg.Metrics, cfg.Factors, cfg.Seasons*cfg.Period, cfg.Test*cfg.Period, cfg.Incidents, anomalybench.Tolerance, anomalybench.Tolerance)
	b.WriteString("| method | recall | precision | false alarms | F1 |")
	for _, k := range anomalybench.Kinds() {
		fmt.Fprintf(&b, " %s |", k)
	}
	b.WriteString("\n|---|---:|---:|---:|---:|")
	for range anomalybench.Kinds() {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for name, r := range rows {
		if name == sentinel {
			name = "**" + name + "**"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.2f%% | %.2f |", name, r.Recall(), r.Precision(), 100*r.FalseAlarmRate(), r.F1())
		for _, k := range anomalybench.Kinds() {
			fmt.Fprintf(&b, " %d/%d |", r.CaughtByKind[k], r.EventsByKind[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}
