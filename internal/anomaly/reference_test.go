package anomaly

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func readSeries(t *testing.T, name string) *Table {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "hw", name+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := ReadCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// backtestMAE is the mean absolute one-step error of the backtest's expected values
// over the rows after training.
func backtestMAE(t *testing.T, tab *Table, cfg Config, train int) float64 {
	t.Helper()
	rep, err := Backtest(context.Background(), tab, cfg, train)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, p := range rep.Points {
		sum += math.Abs(tab.Rows[p.Index][0] - float64(p.Expected[0]))
	}
	return sum / float64(len(rep.Points))
}

// TestBacktestForecastVersusR compares the one-step "expected" values of sentinel
// backtest with R's HoltWinters run forward over the same rows. Fitted once on the
// same rows, both find the same optimum of a flat error surface, so the errors agree
// to a few parts per million either way; with the daemon's scheduled refit (every
// two seasons, on the history so far) the detector must beat R outright.
func TestBacktestForecastVersusR(t *testing.T) {
	for _, ref := range readRReference(t) {
		t.Run(ref.series, func(t *testing.T) {
			tab := readSeries(t, ref.series)
			if got := DefaultTrain(len(tab.Rows), ref.period); got != ref.train {
				t.Fatalf("DefaultTrain = %d, R script used %d", got, ref.train)
			}
			once := backtestMAE(t, tab, Config{Period: ref.period}, 0)
			refit := backtestMAE(t, tab, Config{Period: ref.period, RefitEvery: 2 * ref.period}, 0)
			t.Logf("MAE R %.6g, Go fitted once %.6g (%+.4f%%), Go refit every %d rows %.6g (%+.2f%%)",
				ref.mae, once, 100*(once/ref.mae-1), 2*ref.period, refit, 100*(refit/ref.mae-1))
			if once > ref.mae*(1+1e-4) {
				t.Errorf("fitted once: MAE %.6g is worse than R's %.6g", once, ref.mae)
			}
			if refit > ref.mae {
				t.Errorf("with refits: MAE %.6g is worse than R's %.6g", refit, ref.mae)
			}
		})
	}
}
