package analyze

import (
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
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
