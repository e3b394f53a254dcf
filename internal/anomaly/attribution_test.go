package anomaly_test

import (
	"slices"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/anomaly/anomalybench"
)

// TestAttribution: when an incident hits one or two metrics and the detector
// flags it, the first flagged window names an incident metric as its top cause
// (and among its top three): causes are what on-call reads first.
func TestAttribution(t *testing.T) {
	cfg := anomalybench.SubtleGenConfig()
	var flagged, first, top3 int
	for seed := range uint64(detectionSeeds) {
		ds, err := anomalybench.Generate(cfg, seed)
		if err != nil {
			t.Fatal(err)
		}
		points := score(t, ds)
		for _, in := range ds.Incidents {
			if len(in.Metrics) > 2 {
				continue // many metrics: any of them is right, and no one is to blame
			}
			for r := in.Start; r <= in.CatchBy && r < len(ds.Table.Rows); r++ {
				p := points[r-ds.Train]
				if !p.Anomaly {
					continue
				}
				flagged++
				names := make([]int, len(p.Top))
				for i, c := range p.Top {
					names[i] = c.Index
				}
				if len(names) > 0 && slices.Contains(in.Metrics, names[0]) {
					first++
				}
				if slices.ContainsFunc(names, func(j int) bool { return slices.Contains(in.Metrics, j) }) {
					top3++
				} else {
					t.Logf("seed %d %s on %v at row %d: blamed %v", seed, in.Kind, metricNames(ds, in.Metrics), r, causeNames(p))
				}
				break
			}
		}
	}
	t.Logf("first flagged window of %d incidents on one or two metrics: top cause right in %d (%.0f%%), among the top three in %d (%.0f%%)",
		flagged, first, 100*float64(first)/float64(flagged), top3, 100*float64(top3)/float64(flagged))
	if float64(top3) < 0.95*float64(flagged) || float64(first) < 0.85*float64(flagged) {
		t.Errorf("top cause right in %d of %d, among the top three in %d: want 85%% and 95%%", first, flagged, top3)
	}
}

func score(t *testing.T, ds *anomalybench.Dataset) []anomaly.Point {
	cfg := anomaly.Config{Period: ds.Period}
	d, err := anomaly.New(cfg, ds.Table.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.FitSampled(ds.Table.Rows[:ds.Train], ds.Sampling[:ds.Train]); err != nil {
		t.Fatal(err)
	}
	var out []anomaly.Point
	for r := ds.Train; r < len(ds.Table.Rows); r++ {
		p, err := d.ScoreSampled(ds.Table.Rows[r], ds.Sampling[r])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func metricNames(ds *anomalybench.Dataset, idx []int) []string {
	var out []string
	for _, j := range idx {
		out = append(out, ds.Table.Metrics[j])
	}
	return out
}

func causeNames(p anomaly.Point) []string {
	var out []string
	for _, c := range p.Top {
		out = append(out, c.Metric)
	}
	return out
}
