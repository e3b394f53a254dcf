package anomalybench

import "testing"

func TestScore(t *testing.T) {
	ds := &Dataset{Train: 100, Incidents: []Incident{
		{Kind: Spike, Start: 110, End: 111},
		{Kind: LevelShift, Start: 130, End: 140},
	}}
	flags := func(rows ...int) []bool {
		f := make([]bool, 100)
		for _, r := range rows {
			f[r-100] = true
		}
		return f
	}
	for _, tc := range []struct {
		name                   string
		flags                  []bool
		recall, precision, far float64
	}{
		{"nothing flagged", flags(), 0, 0, 0},
		{"both caught at onset", flags(110, 130), 1, 1, 0},
		{"late flag misses the shift but is no false alarm", flags(110, 138), 0.5, 1, 0},
		{"flag after tolerance of the spike", flags(114, 150), 0, 0, 2.0 / 83},
		{"echo within tolerance after the end", flags(110, 113), 0.5, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Score(ds, tc.flags)
			if r.Recall() != tc.recall || r.Precision() != tc.precision || r.FalseAlarmRate() != tc.far {
				t.Errorf("recall %g precision %g far %g, want %g %g %g", r.Recall(), r.Precision(), r.FalseAlarmRate(), tc.recall, tc.precision, tc.far)
			}
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := Generate(DefaultGenConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(DefaultGenConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Incidents) != DefaultGenConfig().Incidents {
		t.Fatalf("%d incidents", len(a.Incidents))
	}
	for i := range a.Table.Rows {
		for j, v := range a.Table.Rows[i] {
			if w := b.Table.Rows[i][j]; v != w && v == v {
				t.Fatalf("row %d metric %d: %g then %g", i, j, v, w)
			}
		}
	}
}
