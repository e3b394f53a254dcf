package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// run calls the command line in-process.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = dispatch(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it; review the diff):\n%s", path, got)
	}
}

const example = "../../examples/fraud/"

// exampleBaseline builds the example's baseline once per test.
func exampleBaseline(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "baseline.json")
	if code, _, stderr := run(t, "baseline", "--contract", example+"contract.yaml", "--input", example+"train.csv", "--out", out); code != 0 {
		t.Fatalf("baseline exited %d: %s", code, stderr)
	}
	return out
}

func TestTopLevel(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains string
	}{
		{nil, 2, "Usage: sentinel <command>"},
		{[]string{"--help"}, 0, "compare"},
		{[]string{"version"}, 0, "sentinel dev"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"compare", "--help"}, 0, "--fail-on"},
		{[]string{"baseline", "--help"}, 0, "--contract"},
		{[]string{"contract", "--help"}, 0, "infer"},
		{[]string{"contract", "infer", "--help"}, 0, "--model"},
		{[]string{"compare", "--no-such-flag"}, 2, "flag provided but not defined"},
		{[]string{"compare", "--baseline", "b.json"}, 2, "--baseline and --input are required"},
		{[]string{"baseline", "--input", "x.csv", "--out", "y", "stray"}, 2, `unexpected argument "stray"`},
	}
	for _, tc := range tests {
		code, stdout, stderr := run(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.contains) {
			t.Errorf("sentinel %q: exit %d, output %q; want exit %d containing %q", tc.args, code, stdout+stderr, tc.code, tc.contains)
		}
	}
}

// TestCompareExample is the stage contract test of compare: its reports on the
// shipped example are goldens, reviewed like code when they change.
func TestCompareExample(t *testing.T) {
	b := exampleBaseline(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		golden string
	}{
		{"healthy sample passes", []string{"--input", example + "serving-ok.csv"}, 0, "compare-ok.txt"},
		{"incident fails", []string{"--input", example + "serving-incident.csv"}, 1, "compare-incident.txt"},
		{"incident as JSON", []string{"--input", example + "serving-incident.csv", "--format", "json"}, 1, "compare-incident.json"},
		{"violations alone fail", []string{"--input", example + "serving-incident.csv", "--fail-on", "violation", "--format", "json"}, 1, ""},
		{"never fails", []string{"--input", example + "serving-incident.csv", "--fail-on", "never"}, 0, ""},
		{"JSON lines with NaN and Infinity", []string{"--input", "testdata/serving.jsonl", "--format", "json"}, 1, "compare-jsonl.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"compare", "--baseline", b, "--contract", example + "contract.yaml"}, tc.args...)
			code, stdout, stderr := run(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if tc.golden != "" {
				golden(t, tc.golden, stdout)
			}
		})
	}
}

func TestCompareWithoutContract(t *testing.T) {
	b := exampleBaseline(t)
	code, stdout, stderr := run(t, "compare", "--baseline", b, "--input", example+"serving-incident.csv")
	if code != 1 || !strings.Contains(stdout, "amount") || !strings.Contains(stdout, "DRIFT") {
		t.Errorf("exit %d, stdout %s, stderr %s; want drift found with the default rule", code, stdout, stderr)
	}
}

func TestCompareInputErrors(t *testing.T) {
	b := exampleBaseline(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldBaseline := write("old.json", `{"format_version": 0}`)
	tests := []struct {
		name     string
		args     []string
		contains string
	}{
		{"missing input", []string{"--baseline", b, "--input", filepath.Join(dir, "absent.csv")}, "no such file"},
		{"empty input", []string{"--baseline", b, "--input", write("empty.csv", "")}, "file is empty"},
		{"header only", []string{"--baseline", b, "--input", write("header.csv", "amount,age\n")}, "no rows to compare"},
		{"missing baseline", []string{"--baseline", filepath.Join(dir, "absent.json"), "--input", example + "serving-ok.csv"}, "opening baseline"},
		{"baseline of another version", []string{"--baseline", oldBaseline, "--input", example + "serving-ok.csv"}, "format version 0 is not supported"},
		{"bad contract", []string{"--baseline", b, "--contract", write("c.yml", "model: m\nfeatures: []\n"), "--input", example + "serving-ok.csv"}, "at least one feature"},
		{"bad format", []string{"--baseline", b, "--input", example + "serving-ok.csv", "--format", "xml"}, `--format "xml"`},
		{"bad fail-on", []string{"--baseline", b, "--input", example + "serving-ok.csv", "--fail-on", "always"}, `--fail-on "always"`},
		{"type mismatch", []string{"--baseline", b, "--contract", write("t.yml", "model: fraud\nfeatures: [{name: amount, type: categorical}]\n"), "--input", example + "serving-ok.csv"}, "amount is categorical in the contract but numeric in the baseline"},
	}
	for _, tc := range tests {
		code, _, stderr := run(t, append([]string{"compare"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.contains) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 containing %q", tc.name, code, stderr, tc.contains)
		}
	}
}

// TestBadRowsAreCountedNotFatal: rows with the wrong number of cells or values of
// the wrong type are violations in the report, not crashes.
func TestBadRowsAreCountedNotFatal(t *testing.T) {
	b := exampleBaseline(t)
	input := filepath.Join(t.TempDir(), "bad.csv")
	data := "amount,age,country,device,is_new,merchant_risk\n12.5,40,DE,mobile,false,0.3\n" +
		"abc,40,DE,mobile,false,0.3\n" + // wrong type
		"12.5,40\n" + // short row: four features missing
		"12.5,40,DE,mobile,false,0.3,extra\n" + // long row
		"\"unterminated,40,DE,mobile,false,0.3\n"
	if err := os.WriteFile(input, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "compare", "--baseline", b, "--contract", example+"contract.yaml", "--input", input, "--format", "json", "--fail-on", "violation")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr)
	}
	golden(t, "compare-bad-rows.json", stdout)
}

func TestBaselineInfersContract(t *testing.T) {
	out := filepath.Join(t.TempDir(), "b.json")
	code, _, stderr := run(t, "baseline", "--input", example+"train.csv", "--out", out)
	if code != 0 || !strings.Contains(stderr, "20000 rows, 6 features") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	code, _, stderr = run(t, "baseline", "--input", filepath.Join(t.TempDir(), "none.csv"), "--out", out)
	if code != 2 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing input: exit %d, stderr %s", code, stderr)
	}
}

// TestBaselineCalibration: a contract that names the prediction's and the
// label's columns makes the baseline learn a calibration and say so.
func TestBaselineCalibration(t *testing.T) {
	dir := t.TempDir()
	contract := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(contract, []byte("model: m\nprediction: {kind: probability, column: score, label_column: label}\n"+
		"features: [{name: x, type: numeric}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var data strings.Builder
	data.WriteString("x,score,label\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		// An overconfident model: scores 0.05 and 0.95, right 70% of the time.
		score, label := 0.05, rng.Float64() < 0.3
		if rng.IntN(2) == 0 {
			score, label = 0.95, rng.Float64() < 0.7
		}
		fmt.Fprintf(&data, "%d,%g,%t\n", i, score, label)
	}
	input := filepath.Join(dir, "train.csv")
	if err := os.WriteFile(input, []byte(data.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "b.json")
	code, _, stderr := run(t, "baseline", "--contract", contract, "--input", input, "--out", out)
	if code != 0 || !strings.Contains(stderr, "400 rows, 1 features; calibration from 400 labelled rows, applied (expected calibration error 0.221, 0.074 calibrated)") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
	code, _, stderr = run(t, "baseline", "--contract", contract, "--input", example+"train.csv", "--out", out)
	if code != 2 || !strings.Contains(stderr, `no row has the column "score" that prediction.column names`) {
		t.Errorf("input without the columns: exit %d, stderr %s", code, stderr)
	}
}

func TestContractInfer(t *testing.T) {
	code, stdout, stderr := run(t, "contract", "infer", "--model", "fraud", "--input", example+"train.csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "infer-fraud.yaml", stdout)
	code, _, stderr = run(t, "contract", "check", example+"contract.yaml", "testdata/infer-fraud.yaml")
	if code != 0 {
		t.Errorf("contract check of the example and the inferred draft: exit %d: %s", code, stderr)
	}
	code, _, stderr = run(t, "contract", "check", "../../internal/config/testdata/contracts/bad-type.bad.yml")
	if code != exitUsage || !strings.Contains(stderr, "nummeric") {
		t.Errorf("contract check of a bad file: exit %d, stderr %s", code, stderr)
	}
}

func TestLoggerWritesDurationsReadably(t *testing.T) {
	var b bytes.Buffer
	newLogger(&b, slog.LevelInfo).Info("draining", "timeout", 30*time.Second)
	if !strings.Contains(b.String(), `"timeout":"30s"`) {
		t.Errorf("log line %s, want the timeout as 30s", b.String())
	}
}
