package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExitCodes holds compare, contract, baseline, backtest and replay to one rule:
// 0 when all is well, 1 when the command found what it looks for (compare's
// --fail-on), 2 for a usage or input error: a missing or unreadable file, an
// invalid contract, a baseline that does not fit the contract, a file whose
// rows are mostly unreadable.
func TestExitCodes(t *testing.T) {
	b := exampleBaseline(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	healthy := example + "serving-ok.csv"
	contract := example + "contract.yaml"
	badContract := "../../internal/config/testdata/contracts/typo.bad.yml"
	fiveRows := write("five.csv", "amount,age,country,device,is_new,merchant_risk\n"+strings.Repeat("42.5,40,DE,mobile,false,0.3\n", 5))
	var garbage strings.Builder
	garbage.WriteString("amount,age,country,device,is_new,merchant_risk\n12.5,40,DE,mobile,false,0.3\n")
	for range 3 {
		garbage.WriteString("\"12.5\"x,40,DE,mobile,false,0.3\n")
	}
	mostlyGarbage := write("garbage.csv", garbage.String())
	// #13.4: one stray quote on line 12 of 5,001 costs that row, and the rest
	// is judged as healthy as it is.
	ok, err := os.ReadFile(healthy)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(ok), "\n")
	lines[11] = "\"" + lines[11]
	strayQuote := write("stray-quote.csv", strings.Join(lines, ""))
	churn := write("churn.yml", "model: churn\nfeatures: [{name: amount, type: numeric}]\n")
	co2 := filepath.Join("..", "..", "internal", "anomaly", "testdata", "hw", "co2.csv")
	events, err := os.ReadFile(example + "events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitAfter(string(events), "\n")[:200]
	// The recording has its own bad lines (14 and 8); one more at 151.
	first[150] = "{not json\n"
	someGarbage := write("some-garbage.jsonl", strings.Join(first, ""))
	absent := filepath.Join(dir, "absent")

	tests := []struct {
		name string
		args []string
		code int
		msg  string // in stdout or stderr
	}{
		{"compare: healthy", []string{"compare", "--baseline", b, "--contract", contract, "--input", healthy}, exitOK, "0 of 6 features drifted"},
		{"compare: drift", []string{"compare", "--baseline", b, "--contract", contract, "--input", example + "serving-incident.csv"}, exitFindings, "DRIFT"},
		{"compare: violations only", []string{"compare", "--baseline", b, "--contract", contract, "--input", example + "serving-incident.csv", "--fail-on", "violation"}, exitFindings, ""},
		{"compare: never", []string{"compare", "--baseline", b, "--contract", contract, "--input", example + "serving-incident.csv", "--fail-on", "never"}, exitOK, ""},
		{"compare: five healthy rows", []string{"compare", "--baseline", b, "--contract", contract, "--input", fiveRows}, exitOK,
			"5 rows: below min_samples 100, distribution checks skipped"},
		{"compare: five rows, min_samples 5", []string{"compare", "--baseline", b, "--contract", contract, "--input", fiveRows, "--min-samples", "5"}, exitFindings, "DRIFT"},
		{"compare: a stray quote", []string{"compare", "--baseline", b, "--contract", contract, "--input", strayQuote}, exitFindings,
			"model fraud: 4999 rows, 0 of 6 features drifted, 0 with violations\nunreadable rows: malformed_csv=1 (line 12)\n"},
		{"compare: a stray quote, violations ignored", []string{"compare", "--baseline", b, "--contract", contract, "--input", strayQuote, "--fail-on", "never"}, exitOK, ""},
		{"compare: mostly unreadable", []string{"compare", "--baseline", b, "--input", mostlyGarbage}, exitUsage,
			"3 of 4 rows could not be read (3 malformed_csv (lines 3, 4, 5))"},
		{"compare: missing input", []string{"compare", "--baseline", b, "--input", absent + ".csv"}, exitUsage, "no such file"},
		{"compare: missing baseline", []string{"compare", "--baseline", absent + ".json", "--input", healthy}, exitUsage, "opening baseline"},
		{"compare: not a baseline", []string{"compare", "--baseline", healthy, "--input", healthy}, exitUsage, "serving-ok.csv is not a Sentinel baseline"},
		{"compare: invalid contract", []string{"compare", "--baseline", b, "--contract", badContract, "--input", healthy}, exitUsage, "did you mean max_null_rate?"},
		{"compare: another model's contract", []string{"compare", "--baseline", b, "--contract", churn, "--input", healthy}, exitUsage,
			`does not fit baseline ` + b + `: the baseline is of model "fraud", the contract of "churn"`},
		{"compare: bad min-samples", []string{"compare", "--baseline", b, "--input", healthy, "--min-samples", "0"}, exitUsage, "--min-samples 0: must be at least 1"},
		{"compare: bad flag", []string{"compare", "--frobnicate"}, exitUsage, "flag provided but not defined"},

		{"contract check: valid", []string{"contract", "check", contract}, exitOK, "ok"},
		{"contract check: invalid", []string{"contract", "check", contract, badContract}, exitUsage, "line 8: features[1] (age).max_nul_rate"},
		{"contract check: missing file", []string{"contract", "check", absent + ".yml"}, exitUsage, "no such file"},
		{"contract check: no file", []string{"contract", "check"}, exitUsage, "name at least one contract file"},
		{"contract: unknown sub-command", []string{"contract", "lint"}, exitUsage, "unknown sub-command"},
		{"contract infer: fine", []string{"contract", "infer", "--model", "fraud", "--input", healthy}, exitOK, "model: fraud"},
		{"contract infer: missing input", []string{"contract", "infer", "--model", "fraud", "--input", absent + ".csv"}, exitUsage, "no such file"},
		{"contract infer: unreadable row", []string{"contract", "infer", "--model", "fraud", "--input", mostlyGarbage}, exitUsage, "line 3"},
		{"contract infer: no model", []string{"contract", "infer", "--input", healthy}, exitUsage, "--model and --input are required"},

		{"baseline: fine", []string{"baseline", "--contract", contract, "--input", healthy, "--out", filepath.Join(dir, "b.json")}, exitOK, "wrote"},
		{"baseline: missing input", []string{"baseline", "--input", absent + ".csv", "--out", filepath.Join(dir, "b.json")}, exitUsage, "no such file"},
		{"baseline: invalid contract", []string{"baseline", "--contract", badContract, "--input", healthy, "--out", filepath.Join(dir, "b.json")}, exitUsage, "did you mean"},
		{"baseline: model and contract disagree", []string{"baseline", "--contract", contract, "--model", "churn", "--input", healthy, "--out", filepath.Join(dir, "b.json")},
			exitUsage, `--model "churn": the contract ` + contract + ` is of model "fraud"`},
		{"baseline: mostly unreadable", []string{"baseline", "--contract", contract, "--input", mostlyGarbage, "--out", filepath.Join(dir, "b.json")}, exitUsage, "could not be read"},
		{"baseline: no output", []string{"baseline", "--input", healthy}, exitUsage, "--input and --out are required"},

		{"backtest: fine", []string{"backtest", "--input", co2, "--period", "12"}, exitOK, "explained_variance_ratio"},
		{"backtest: missing input", []string{"backtest", "--input", absent + ".csv", "--period", "12"}, exitUsage, "no such file"},
		{"backtest: no period", []string{"backtest", "--input", co2}, exitUsage, "--period is required"},
		{"backtest: bad flag", []string{"backtest", "--frobnicate"}, exitUsage, "flag provided but not defined"},

		{"replay: a bad line", []string{"replay", "--input", someGarbage, "--contract", contract, "--baseline", b}, exitOK,
			"some-garbage.jsonl: 2 lines rejected as invalid_json (lines 14, 151)"},
		{"replay: a CSV file", []string{"replay", "--input", healthy, "--contract", contract, "--baseline", b}, exitUsage,
			"5001 of 5001 lines rejected (above): is it a recording of event envelopes"},
		{"replay: missing input", []string{"replay", "--input", absent + ".jsonl", "--contract", contract, "--baseline", b}, exitUsage, "no such file"},
		{"replay: no input", []string{"replay", "--contract", contract, "--baseline", b}, exitUsage, "--input and either --config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.msg) {
				t.Errorf("sentinel %s: exit %d, output %.600q; want exit %d with %q", strings.Join(tc.args, " "), code, stdout+stderr, tc.code, tc.msg)
			}
		})
	}
}
