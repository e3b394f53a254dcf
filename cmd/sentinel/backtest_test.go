package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunBacktest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	co2 := filepath.Join("..", "..", "internal", "anomaly", "testdata", "hw", "co2.csv")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{"json", []string{"--input", co2, "--period", "12"}, exitOK, `"explained_variance_ratio"`, ""},
		{"text", []string{"--input", co2, "--period", "12", "--format", "text"}, exitOK, "rows scoring at or above it are flagged", ""},
		{"no input flag", []string{"--period", "12"}, exitUsage, "", "--input is required"},
		{"no period", []string{"--input", co2}, exitUsage, "", "--period is required"},
		{"bad format", []string{"--input", co2, "--period", "12", "--format", "xml"}, exitUsage, "", "want json or text"},
		{"missing file", []string{"--input", filepath.Join(dir, "nope.csv"), "--period", "12"}, exitUsage, "", "no such file"},
		{"no timestamp column", []string{"--input", write("a.csv", "time,x\n1,2\n"), "--period", "2"}, exitUsage, "", `no "timestamp" column`},
		{"unparsable number", []string{"--input", write("b.csv", "timestamp,x\n2026-01-01T00:00:00Z,abc\n"), "--period", "2"}, exitUsage, "", `"abc" is not a finite number`},
		{"too few rows", []string{"--input", co2, "--period", "12", "--train", "468"}, exitUsage, "", "leaves none to score"},
		{"help", []string{"--help"}, exitOK, "", "Usage: sentinel backtest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runBacktest(context.Background(), tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("exit %d, stdout %.200q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestRunBacktestJSONShape(t *testing.T) {
	var out, errb bytes.Buffer
	co2 := filepath.Join("..", "..", "internal", "anomaly", "testdata", "hw", "co2.csv")
	if code := runBacktest(context.Background(), []string{"--input", co2, "--period", "12", "--train", "300"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep struct {
		Period     int       `json:"period"`
		Train      int       `json:"train"`
		Metrics    []string  `json:"metrics"`
		Components int       `json:"components"`
		Explained  []float64 `json:"explained_variance_ratio"`
		Points     []struct {
			Timestamp string    `json:"timestamp"`
			Index     int       `json:"index"`
			Score     float64   `json:"score"`
			Anomaly   bool      `json:"anomaly"`
			Expected  []float64 `json:"expected"`
			Top       []struct {
				Metric       string  `json:"metric"`
				Actual       float64 `json:"actual"`
				Expected     float64 `json:"expected"`
				Contribution float64 `json:"contribution"`
			} `json:"top"`
		} `json:"points"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Period != 12 || rep.Train != 300 || len(rep.Metrics) != 1 || rep.Components != 1 || len(rep.Points) != 468-300 {
		t.Fatalf("report header %+v", rep)
	}
	if p := rep.Points[0]; p.Index != 300 || p.Timestamp != "1984-01-01T00:00:00Z" || len(p.Expected) != 1 {
		t.Errorf("first point %+v", p)
	}
}
