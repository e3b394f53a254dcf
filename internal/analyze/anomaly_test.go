package analyze

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// TestFitAfterASeason: an unset fit_after waits for a season of windows (the
// example contract's, a day), or for the history kept when that is shorter;
// a set one is kept.
func TestFitAfterASeason(t *testing.T) {
	m := exampleModel(t)
	for _, tc := range []struct {
		window                  time.Duration
		fitAfter, history, want int
	}{
		{5 * time.Minute, 0, 2880, 288},
		{time.Minute, 0, 2880, 1440},
		{time.Minute, 0, 600, 600},
		{time.Hour, 0, 2880, 24},
		{time.Minute, 60, 2880, 60},
	} {
		d := newDetector(m, check.NewCatalogue(), tc.window, AnomalyOptions{FitAfter: tc.fitAfter, HistoryWindows: tc.history, FalseAlarmRate: 0.002})
		if d.opts.FitAfter != tc.want {
			t.Errorf("%s windows, fit_after %d, history %d: the first fit waits for %d windows, want %d",
				tc.window, tc.fitAfter, tc.history, d.opts.FitAfter, tc.want)
		}
	}
}

// TestWarmResumesTheDetector: a detector warmed from the results stored of
// the windows so far scores the next windows exactly as the detector that
// checked them all, as after a restart or when another process takes the
// model over: it fitted and refitted where the live one did.
func TestWarmResumesTheDetector(t *testing.T) {
	m := exampleModel(t)
	opts := AnomalyOptions{FitAfter: 8, HistoryWindows: 100, RefitEvery: 5, FalseAlarmRate: 0.002}
	a, err := New(Options{Models: []*model.Model{m}, Window: time.Minute, ReferencePeriod: 10 * time.Minute, MinSamples: 1,
		Anomaly: &opts})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	const windows = 30
	results := make([][]check.Result, windows)
	var verdicts []check.Verdict
	for k := range windows {
		w := worstWindow(t, m, t0.Add(time.Duration(k)*time.Minute))
		for range 50 + r.IntN(50) {
			w.Prediction.AddNumber(r.Float64())
			w.Latency.AddNumber(5 + 10*r.ExpFloat64())
			w.Events++
			for i, cf := range m.Contract.Features {
				if cf.Type == config.Numeric {
					w.Features.Features[i].AddNumber(30 + 10*r.NormFloat64())
				}
			}
		}
		var b store.Batch
		if err := a.Check(context.Background(), m, w, &b); err != nil {
			t.Fatal(err)
		}
		results[k] = b.Results
		verdicts = append(verdicts, b.Anomalies...)
	}
	first := windows - len(verdicts) // the windows before the first fit have none
	// Stored windows from just after the first fit (the case a fit on all of
	// them at once got wrong) to past several refits.
	for _, stored := range []int{first + 1, first + 2, 13, 17, 23} {
		warm := newDetector(m, check.NewCatalogue(), time.Minute, opts)
		if err := warm.warm(m.Name(), slices.Concat(results[:stored]...)); err != nil {
			t.Fatal(err)
		}
		for k := stored; k < windows; k++ {
			start := t0.Add(time.Duration(k) * time.Minute)
			v, err := warm.observe(m.Name(), start, start.Add(time.Minute), results[k])
			if err != nil {
				t.Fatal(err)
			}
			if want := verdicts[k-first]; v == nil || v.Score != want.Score || v.Anomaly != want.Anomaly || v.Statistic != want.Statistic {
				t.Errorf("warmed from %d windows, window %d: verdict %+v, the live detector's %+v", stored, k, v, want)
			}
		}
	}
}
