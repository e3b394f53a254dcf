package anomaly

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// seasonalTable returns n rows of nm metrics that share one daily pattern, each on
// its own scale, with a little independent noise.
func seasonalTable(seed uint64, n, nm, period int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	scale := make([]float64, nm)
	for j := range scale {
		scale[j] = math.Pow(10, float64(j%7)-3)
	}
	rows := make([][]float64, n)
	for t := range rows {
		s := math.Sin(2 * math.Pi * float64(t) / float64(period))
		rows[t] = make([]float64, nm)
		for j := range nm {
			w := 1 + 0.3*float64(j%3)
			rows[t][j] = scale[j] * (5 + w*s + 0.05*rng.NormFloat64())
		}
	}
	return rows
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error, "" for none
	}{
		{"defaults", Config{Period: 24}, ""},
		{"no period", Config{}, "period"},
		{"variance share above one", Config{Period: 24, VarianceShare: 1.5}, "variance share"},
		{"negative components", Config{Period: 24, MaxComponents: -1}, "max components"},
		{"false alarm rate one", Config{Period: 24, FalseAlarmRate: 1}, "false alarm rate"},
		{"negative clip", Config{Period: 24, ClipSigma: -1}, "clip sigma"},
		{"negative refit", Config{Period: 24, RefitEvery: -1}, "refit every"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestDetectorNamesTheCause checks that an incident in one metric is flagged and
// blamed on that metric, in its own units.
func TestDetectorNamesTheCause(t *testing.T) {
	const period, nm = 24, 12
	rows := seasonalTable(1, 20*period, nm, period)
	names := make([]string, nm)
	for j := range names {
		names[j] = "m" + string(rune('a'+j))
	}
	d, err := New(Config{Period: period}, names)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(rows[:15*period]); err != nil {
		t.Fatal(err)
	}
	for i, row := range rows[15*period:] {
		row = append([]float64(nil), row...)
		if i == 30 {
			row[4] *= 1.5 // metric "me" jumps by half its value
		}
		p, err := d.Score(row)
		if err != nil {
			t.Fatal(err)
		}
		if i != 30 {
			continue
		}
		if !p.Anomaly || len(p.Top) == 0 || p.Top[0].Metric != "me" {
			t.Fatalf("point = %+v, want an anomaly blamed on me", p)
		}
		c := p.Top[0]
		if c.Actual != row[4] || math.Abs(c.Expected-row[4]/1.5) > 0.05*row[4] {
			t.Errorf("cause %+v: want actual %g and expected near %g", c, row[4], row[4]/1.5)
		}
	}
}

// TestDetectorAwkwardData feeds the detector what real metric tables hold and
// checks it neither fails nor loses the ability to flag an incident.
func TestDetectorAwkwardData(t *testing.T) {
	const period, nm = 24, 8
	base := seasonalTable(2, 20*period, nm, period)
	for _, tc := range []struct {
		name   string
		mutate func(rows [][]float64)
		note   string // substring expected in the summary's notes
	}{
		{"gaps", func(rows [][]float64) {
			for t := range rows {
				if t%7 == 3 {
					rows[t][1] = math.NaN()
				}
				if t%50 == 0 {
					for j := range rows[t] {
						rows[t][j] = math.NaN() // a window without any data
					}
				}
			}
		}, ""},
		{"constant metric", func(rows [][]float64) {
			for t := range rows {
				rows[t][2] = 42
			}
		}, "constant in training"},
		{"metric added later", func(rows [][]float64) {
			for t := range rows[:12*period] {
				rows[t][3] = math.NaN()
			}
		}, "not scored until a refit"},
		{"wildly different scales", func(rows [][]float64) {
			for t := range rows {
				rows[t][5] *= 1e12
				rows[t][6] *= 1e-12
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := make([][]float64, len(base))
			for i := range base {
				rows[i] = append([]float64(nil), base[i]...)
			}
			tc.mutate(rows)
			d, err := New(Config{Period: period}, make([]string, nm))
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Fit(rows[:15*period]); err != nil {
				t.Fatal(err)
			}
			if notes := strings.Join(d.Summary().Notes, "\n"); !strings.Contains(notes, tc.note) {
				t.Errorf("notes %q, want one about %q", notes, tc.note)
			}
			flagged, incident := 0, false
			for i, row := range rows[15*period:] {
				if i == 41 {
					row[0] += 10 * math.Abs(row[0]) // a spike in a well-behaved metric
				}
				p, err := d.Score(row)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Expected {
					if math.IsInf(e, 0) {
						t.Fatalf("row %d: infinite expected value", i)
					}
				}
				if math.IsNaN(p.Score) || math.IsInf(p.Score, 0) {
					t.Fatalf("row %d: score %g", i, p.Score)
				}
				if p.Anomaly {
					flagged++
					incident = incident || i == 41
				}
			}
			if !incident {
				t.Error("the spike was not flagged")
			}
			if flagged > 4 {
				t.Errorf("%d rows flagged, want the spike and few others", flagged)
			}
		})
	}
}

func TestDetectorConstantMetricChanges(t *testing.T) {
	const period = 12
	rows := seasonalTable(3, 10*period, 3, period)
	for _, r := range rows {
		r[2] = 0 // an error count that is always zero
	}
	d, err := New(Config{Period: period}, []string{"a", "b", "errors"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(rows[:8*period]); err != nil {
		t.Fatal(err)
	}
	row := append([]float64(nil), rows[8*period]...)
	row[2] = 3
	p, err := d.Score(row)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Anomaly || p.Statistic != "constant" || p.Top[0].Metric != "errors" || p.Top[0].Expected != 0 {
		t.Errorf("point = %+v, want a constant-metric anomaly blamed on errors", p)
	}
}

func TestDetectorShortHistoryFallsBack(t *testing.T) {
	const period = 24
	rows := seasonalTable(4, 40, 4, period) // less than two seasons
	d, err := New(Config{Period: period}, []string{"a", "b", "c", "d"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(rows[:30]); err != nil {
		t.Fatal(err)
	}
	s := d.Summary()
	if !strings.Contains(strings.Join(s.Notes, " "), "shorter than two seasons") {
		t.Errorf("notes %q do not say the history is short", s.Notes)
	}
	if len(s.Forecasters) == 0 || !strings.Contains(s.Forecasters[0], "robust") {
		t.Errorf("forecasters %q, want the robust fallback", s.Forecasters)
	}
	for _, row := range rows[30:] {
		if _, err := d.Score(row); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDetectorLateMetricTwoSeasons: a history of exactly two seasons in which
// one metric starts late (label-based quality before the first labels) fits,
// the late metric falling back to the non-seasonal forecast, rather than
// failing, as a scheduled refit of replay once did.
func TestDetectorLateMetricTwoSeasons(t *testing.T) {
	const period = 24
	rows := seasonalTable(6, 2*period+10, 3, period)
	for _, r := range rows[:2] {
		r[2] = math.NaN()
	}
	d, err := New(Config{Period: period}, []string{"a", "b", "auc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(rows[:2*period]); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[2*period:] {
		if _, err := d.Score(row); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDetectorErrors(t *testing.T) {
	d, err := New(Config{Period: 4}, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Score([]float64{1, 2}); !errors.Is(err, ErrNotFitted) {
		t.Errorf("Score before Fit = %v, want ErrNotFitted", err)
	}
	if err := d.Fit([][]float64{{1, 2}, {3}, {4, 5}}); err == nil {
		t.Error("Fit with a ragged row succeeded")
	}
	if err := d.Fit([][]float64{{1, math.Inf(1)}, {2, 3}, {4, 5}}); err == nil {
		t.Error("Fit with an infinite value succeeded")
	}
	if _, err := New(Config{Period: 4}, nil); err == nil {
		t.Error("New without metrics succeeded")
	}
}

func TestScheduledRefit(t *testing.T) {
	const period = 12
	rows := seasonalTable(5, 20*period, 5, period)
	d, err := New(Config{Period: period, RefitEvery: period, HistoryRows: 6 * period}, make([]string, 5))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fit(rows[:6*period]); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[6*period:] {
		if _, err := d.Score(row); err != nil {
			t.Fatal(err)
		}
	}
	if got := d.Summary().TrainingRows; got != 6*period {
		t.Errorf("after refits the model was trained on %d rows, want the %d kept", got, 6*period)
	}
}

// TestHistoryRing: the refit history keeps the latest rows, oldest first, and a
// value past float32's range as missing, not as an infinity.
func TestHistoryRing(t *testing.T) {
	r := newRing(3, 2)
	for i := range 5 {
		r.add([]float64{float64(i), -float64(i)}, nil)
	}
	got, samp := r.widened()
	if samp != nil {
		t.Errorf("sampling %v from rows without any", samp)
	}
	want := [][]float64{{2, -2}, {3, -3}, {4, -4}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	// Past one chunk of rows: capacity 100 after 150 rows holds rows 50 to 149.
	r = newRing(100, 1)
	for i := range 150 {
		r.add([]float64{float64(i)}, nil)
	}
	if got, _ := r.widened(); len(got) != 100 || got[0][0] != 50 || got[99][0] != 149 || got[13][0] != 63 || got[14][0] != 64 {
		t.Errorf("%d rows from %v to %v, want 100 from 50 to 149", len(got), got[0], got[len(got)-1])
	}
	row := make([]float32, 6)
	narrow(row, []float64{1.5, -2e38, 1e39, -1e300, math.NaN(), 3.4e38})
	if row[0] != 1.5 || row[1] != -2e38 || row[5] != 3.4e38 {
		t.Errorf("in range: %v", row)
	}
	for _, i := range []int{2, 3, 4} {
		if !math.IsNaN(float64(row[i])) {
			t.Errorf("value %d = %v, want NaN", i, row[i])
		}
	}
}
