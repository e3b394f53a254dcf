package dashboards

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sentinel-ml/sentinel/internal/store/storetest"
)

// The example's recording spans 2026-11-20 09:00 to 11:00 UTC; the dashboards
// are queried over a range around it, with Grafana's interval for it.
var (
	rangeFrom = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	rangeTo   = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
)

const rangeInterval = 20 * time.Second

// TestSQL: after `sentinel replay --config C --store` of the example, every
// ClickHouse query of the dashboards (panels, variables, annotations), with
// Grafana's variables and the plugin's macros expanded, runs against the test
// server and returns rows; a repeated panel, for every value of its variable.
// Kinds and metrics the SQL names are the catalogue's.
func TestSQL(t *testing.T) {
	dsn := storetest.DSN(t)
	db := fmt.Sprintf("sentinel_dashboards_test_%d", time.Now().UnixNano())
	replayToStore(t, dsn, db)
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()

	n := 0
	for _, b := range loadBoards(t) {
		vals := map[string][]string{"database": {db}, "model": {"fraud"}, "job": {"sentinel"}, "instance": {"127.0.0.1:9090"}}
		run := func(q query) ([]string, bool) {
			t.Helper()
			n++
			checkSQLNames(t, q)
			text, err := interpolate(b, q, vals)
			if err != nil {
				t.Error(err)
				return nil, false
			}
			if text, err = expandMacros(text, rangeFrom, rangeTo, rangeInterval); err != nil {
				t.Errorf("%s: %v", q.where, err)
				return nil, false
			}
			rows, err := conn.Query(ctx, text)
			if err != nil {
				t.Errorf("%s: %v\n%s", q.where, err, text)
				return nil, false
			}
			defer rows.Close()
			if q.timeSeries {
				checkTimeSeriesColumns(t, q, rows.ColumnTypes())
			}
			var first []string
			count := 0
			for rows.Next() {
				count++
				if len(rows.ColumnTypes()) == 1 {
					var v string
					if err := rows.Scan(&v); err == nil {
						first = append(first, v)
					}
				}
			}
			if err := rows.Err(); err != nil {
				t.Errorf("%s: %v", q.where, err)
			}
			if count == 0 {
				t.Errorf("%s: no rows over the example's replay\n%s", q.where, text)
			}
			return first, count > 0
		}
		// Variables first, in their order, as Grafana resolves them: later
		// ones and the repeated panels use their values.
		for _, q := range b.queries {
			if q.lang != sqlQL || !strings.Contains(q.where, ": variable ") {
				continue
			}
			name := strings.TrimPrefix(q.where, b.file+": variable ")
			values, _ := run(q)
			vals[name] = values
		}
		for _, q := range b.queries {
			if q.lang != sqlQL || strings.Contains(q.where, ": variable ") {
				continue
			}
			if q.repeat == "" {
				run(q)
				continue
			}
			if len(vals[q.repeat]) == 0 {
				t.Errorf("%s: repeats over $%s, which has no values", q.where, q.repeat)
			}
			for _, v := range vals[q.repeat] {
				one := map[string][]string{}
				for k, vs := range vals {
					one[k] = vs
				}
				one[q.repeat] = []string{v}
				saved := vals
				vals = one
				q := q
				q.where += " for " + v
				run(q)
				vals = saved
			}
		}
	}
	if n == 0 {
		t.Fatal("no SQL queries in the dashboards")
	}
	t.Logf("%d queries ran", n)
}

// replayToStore runs `sentinel replay --config C --store` of the example into
// database db, five-minute windows so that distribution statistics have
// samples, and drops db when the test ends.
func replayToStore(t *testing.T, dsn, db string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "sentinel")
	build := exec.Command(goTool(t), "build", "-o", bin, "./cmd/sentinel")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sentinel: %v\n%s", err, out)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	sentinel(t, bin, "baseline", "--contract", abs(example+"/contract.yaml"), "--input", abs(example+"/train.csv"),
		"--out", filepath.Join(dir, "baseline.json"))
	contract, events := withCanary(t, dir)
	cfg := fmt.Sprintf(`kafka:
  brokers: ["127.0.0.1:9092"]
  topics: {events: events, labels: labels, dead_letters: dead}
clickhouse:
  dsn: %q
  database: %s
windows: {size: 5m, allowed_lateness: 30s, max_age: 87600h, max_future_skew: 87600h}
drift: {reference_period: 1h, min_samples: 30}
staleness: {check_interval: 1m, max_silence: 10m, max_model_age: 720h}
anomaly: {fit_after: 5}
models:
  - contract: %s
    baseline: baseline.json
`, dsn, db, contract)
	config := filepath.Join(dir, "sentinel.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, dsn, db) })
	out := sentinel(t, bin, "replay", "--input", events, "--config", config, "--store",
		"--output", filepath.Join(dir, "findings.jsonl"))
	t.Logf("replay: %s", out)
}

// withCanary writes into dir the example's contract with a canary, and its
// events with every tenth served by the candidate version, so that the
// version panels have rows; it returns both paths.
func withCanary(t *testing.T, dir string) (contract, events string) {
	t.Helper()
	c, err := os.ReadFile(filepath.Join(example, "contract.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c = append(c, "\ncanary: {reference: \"2026-11-01\", candidate: \"2026-11-20\", min_events: 5}\n"...)
	contract = filepath.Join(dir, "contract.yaml")
	if err := os.WriteFile(contract, c, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := os.ReadFile(filepath.Join(example, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(e), "\n")
	for i := 0; i < len(lines); i += 10 {
		lines[i] = strings.Replace(lines[i], `"model_version": "2026-11-01"`, `"model_version": "2026-11-20"`, 1)
	}
	events = filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(events, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return contract, events
}

func sentinel(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("sentinel %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// goTool is the go command that runs these tests.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	t.Fatal("no go command on PATH to build sentinel with")
	return ""
}

var (
	sqlKinds    = regexp.MustCompile(`\bkind\s*(?:=\s*'([^']*)'|IN\s*\(([^)]*)\))`)
	sqlMetrics  = regexp.MustCompile(`\bmetric\s*(?:=\s*'([^']*)'|(?:NOT\s+)?IN\s*\(([^)]*)\))`)
	sqlString   = regexp.MustCompile(`'([^']*)'`)
	orderByTime = regexp.MustCompile(`ORDER BY time\s*$`)
)

// checkSQLNames checks the kinds and metrics a query names against the
// catalogue, one condition (kind = …) AND (metric …) at a time.
func checkSQLNames(t *testing.T, q query) {
	t.Helper()
	strs := func(m []string) []string {
		var out []string
		if m[1] != "" {
			return []string{m[1]}
		}
		for _, s := range sqlString.FindAllStringSubmatch(m[2], -1) {
			out = append(out, s[1])
		}
		return out
	}
	// A condition is what lies between ORs: the dashboards pair each kind
	// with its metrics in one.
	for _, cond := range regexp.MustCompile(`\bOR\b`).Split(q.text, -1) {
		var kinds, metrics []string
		for _, m := range sqlKinds.FindAllStringSubmatch(cond, -1) {
			kinds = append(kinds, strs(m)...)
		}
		for _, m := range sqlMetrics.FindAllStringSubmatch(cond, -1) {
			metrics = append(metrics, strs(m)...)
		}
		checkCatalogue(t, q.where, kinds, metrics, false)
	}
}

// checkTimeSeriesColumns: a time series query returns its time first, then
// at least one number; strings label the series. Its rows come in time order,
// which the plugin's long-to-wide conversion needs.
func checkTimeSeriesColumns(t *testing.T, q query, cols []driver.ColumnType) {
	t.Helper()
	if !orderByTime.MatchString(q.text) {
		t.Errorf("%s: a time series query ends ORDER BY time", q.where)
	}
	var types []string
	numbers := 0
	for _, c := range cols {
		typ := c.DatabaseTypeName()
		types = append(types, c.Name()+" "+typ)
		if !strings.HasPrefix(typ, "DateTime") && typ != "String" {
			numbers++
		}
	}
	if len(cols) == 0 || !strings.HasPrefix(cols[0].DatabaseTypeName(), "DateTime") || numbers == 0 {
		t.Errorf("%s: a time series query returns a time, then numbers; got %v", q.where, types)
	}
}
