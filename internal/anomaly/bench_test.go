package anomaly_test

import (
	"context"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
	"github.com/sentinel-ml/sentinel/internal/anomaly/anomalybench"
)

// BenchmarkBacktest10kx500 fits on 60% of 10,000 hourly rows of 500 metrics and
// scores the remaining 4,000 one at a time: the budget is 10 s on one core
// (make bench runs it with GOMAXPROCS=1).
func BenchmarkBacktest10kx500(b *testing.B) {
	cfg := anomalybench.DefaultGenConfig()
	cfg.Metrics, cfg.Seasons, cfg.Test = 500, 250, 167
	ds, err := anomalybench.Generate(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := anomaly.Backtest(context.Background(), ds.Table, anomaly.Config{Period: ds.Period}, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScore is the daemon's per-window cost once fitted, 500 metrics.
func BenchmarkScore(b *testing.B) {
	cfg := anomalybench.DefaultGenConfig()
	cfg.Metrics = 500
	ds, err := anomalybench.Generate(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	d, err := anomaly.New(anomaly.Config{Period: ds.Period}, ds.Table.Metrics)
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Fit(ds.Table.Rows[:ds.Train]); err != nil {
		b.Fatal(err)
	}
	rows := ds.Table.Rows[ds.Train:]
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := d.Score(rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkFitHoltWinters is one full parameter search on 6,000 observations.
func BenchmarkFitHoltWinters(b *testing.B) {
	cfg := anomalybench.DefaultGenConfig()
	cfg.Seasons = 250
	ds, err := anomalybench.Generate(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float64, 6000)
	for i := range x {
		x[i] = ds.Table.Rows[i][5]
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := anomaly.FitHoltWinters(x, ds.Period); err != nil {
			b.Fatal(err)
		}
	}
}
