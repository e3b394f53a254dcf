package anomaly

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReadCSV(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     *Table
		err      string // substring of the error, "" for none
	}{
		{
			name: "gaps and spellings of missing",
			in:   "timestamp,a,b\n2026-01-01T00:00:00Z,1,\n2026-01-01T01:00:00+01:00,NA,2.5e3\n",
			want: &Table{
				Metrics:    []string{"a", "b"},
				Timestamps: []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
				Rows:       [][]float64{{1, math.NaN()}, {math.NaN(), 2500}},
			},
		},
		{name: "timestamp not first", in: "a,timestamp\n3,2026-01-01T00:00:00Z\n", want: &Table{
			Metrics: []string{"a"}, Timestamps: []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, Rows: [][]float64{{3}},
		}},
		{name: "empty", in: "", err: "empty input"},
		{name: "no timestamp column", in: "time,a\n2026-01-01T00:00:00Z,1\n", err: `no "timestamp" column`},
		{name: "no metrics", in: "timestamp\n2026-01-01T00:00:00Z\n", err: "no metric columns"},
		{name: "bad timestamp", in: "timestamp,a\n2026-01-01 00:00,1\n", err: "line 2: timestamp"},
		{name: "bad number", in: "timestamp,a\n2026-01-01T00:00:00Z,1,5\n", err: "wrong number of fields"},
		{name: "unparsable number", in: "timestamp,a\n2026-01-01T00:00:00Z,x1\n", err: `line 2, column a: "x1" is not a finite number`},
		{name: "infinite number", in: "timestamp,a\n2026-01-01T00:00:00Z,Inf\n", err: "not a finite number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ReadCSV error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Metrics, tc.want.Metrics) || len(got.Rows) != len(tc.want.Rows) {
				t.Fatalf("ReadCSV = %+v, want %+v", got, tc.want)
			}
			for i := range got.Rows {
				if !got.Timestamps[i].Equal(tc.want.Timestamps[i]) {
					t.Errorf("row %d timestamp %v, want %v", i, got.Timestamps[i], tc.want.Timestamps[i])
				}
				for j, v := range got.Rows[i] {
					if w := tc.want.Rows[i][j]; v != w && !(math.IsNaN(v) && math.IsNaN(w)) {
						t.Errorf("row %d metric %d = %g, want %g", i, j, v, w)
					}
				}
			}
		})
	}
}

func TestBacktestInputErrors(t *testing.T) {
	tab := &Table{Metrics: []string{"a"}}
	for i := range 30 {
		tab.Timestamps = append(tab.Timestamps, time.Unix(int64(i)*3600, 0))
		tab.Rows = append(tab.Rows, []float64{float64(i % 12)})
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		train int
		err   string
	}{
		{"default training needs three seasons", Config{Period: 12}, 0, "training needs 36"},
		{"training uses every row", Config{Period: 4}, 30, "leaves none to score"},
		{"bad config", Config{Period: 1}, 0, "period 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Backtest(context.Background(), tab, tc.cfg, tc.train)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Backtest error = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// goldenTable is a small table with the awkward parts of real input: a gap, a
// constant metric, a metric on a very different scale and an incident.
func goldenTable() *Table {
	const period = 12
	rows := seasonalTable(7, 8*period, 3, period)
	tab := &Table{Metrics: []string{"amount.mean", "amount.null_ratio", "schema.errors", "latency.p99"}}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range rows {
		row := []float64{r[0] * 1e4, r[1] / 100, 0, r[2]}
		switch i {
		case 30:
			row[3] = math.NaN()
		case 80:
			row[1] = 0.31
		}
		tab.Timestamps = append(tab.Timestamps, t0.Add(time.Duration(i)*time.Hour))
		tab.Rows = append(tab.Rows, row)
	}
	return tab
}

// TestBacktestGolden pins the backtest's JSON and text output. Numbers are compared
// with a relative tolerance so that a change in the last bits of a float on another
// platform is not a failure; run with -update to rewrite the goldens.
func TestBacktestGolden(t *testing.T) {
	rep, err := Backtest(context.Background(), goldenTable(), Config{Period: 12}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var js, txt bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join("testdata", "backtest", "golden.json")
	textPath := filepath.Join("testdata", "backtest", "golden.txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(jsonPath), 0o755); err != nil {
			t.Fatal(err)
		}
		for p, b := range map[string][]byte{jsonPath: js.Bytes(), textPath: txt.Bytes()} {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantJSON, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	var got, want any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(wantJSON, &want); err != nil {
		t.Fatal(err)
	}
	if diff := jsonDiff("", got, want); diff != "" {
		t.Errorf("backtest JSON differs from %s at %s", jsonPath, diff)
	}
	wantText, err := os.ReadFile(textPath)
	if err != nil {
		t.Fatal(err)
	}
	if txt.String() != string(wantText) {
		t.Errorf("backtest text differs from %s:\n%s", textPath, txt.String())
	}
	// The incident is flagged and blamed on the right metric in its own units.
	p := rep.Points[80-rep.Train]
	if !p.Anomaly || p.Top[0].Metric != "amount.null_ratio" || float64(p.Top[0].Actual) != 0.31 {
		t.Errorf("row 80: %+v, want an anomaly blamed on amount.null_ratio", p)
	}
}

// jsonDiff returns where got and want first differ, numbers within 1e-6 relative.
func jsonDiff(path string, got, want any) string {
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > 1e-6*max(1, math.Abs(w)) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		for i := range w {
			if d := jsonDiff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i]); d != "" {
				return d
			}
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		for k := range w {
			if d := jsonDiff(path+"."+k, g[k], w[k]); d != "" {
				return d
			}
		}
	default:
		if !reflect.DeepEqual(got, want) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
	}
	return ""
}
