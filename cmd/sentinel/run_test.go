package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/promtest"
	"github.com/sentinel-ml/sentinel/internal/store/storetest"
)

// writeConfig writes a sentinel.yaml for the example model, with the example's
// contract and a baseline built from its training data.
func writeConfig(t *testing.T, brokers []string, dsn string, extra string) string {
	t.Helper()
	db := fmt.Sprintf("sentinel_run_test_%d", time.Now().UnixNano())
	dir := t.TempDir()
	b := filepath.Join(dir, "baseline.json")
	if code, _, stderr := run(t, "baseline", "--contract", example+"contract.yaml", "--input", example+"train.csv", "--out", b); code != 0 {
		t.Fatal(stderr)
	}
	contract, err := filepath.Abs(example + "contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`kafka:
  brokers: [%q]
  topics: {events: events, labels: labels, dead_letters: dead}
clickhouse:
  dsn: %q
  database: %s
windows: {size: 1m, allowed_lateness: 30s, max_age: 87600h, max_future_skew: 87600h}
staleness: {check_interval: 100ms, max_silence: 1h}
anomaly: {fit_after: 5}
models:
  - contract: %s
    baseline: baseline.json
listen: {http: "127.0.0.1:0"}
shutdown_timeout: 20s
%s`, strings.Join(brokers, ","), dsn, db, contract, extra)
	path := filepath.Join(dir, "sentinel.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(t, dsn, db) })
	return path
}

// dropDatabase removes what a test's daemon created, when there is a server.
func dropDatabase(t *testing.T, dsn, db string) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		return // no server: nothing was created
	}
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Errorf("dropping %s: %v", db, err)
	}
}

func TestRunCheckConfig(t *testing.T) {
	path := writeConfig(t, []string{"127.0.0.1:9092"}, "clickhouse://sentinel:s3cret@127.0.0.1:9000/default", "")
	code, stdout, stderr := run(t, "run", "--config", path, "--check-config")
	if code != 0 || !strings.Contains(stdout, "ok (1 models)") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// The configuration in effect: defaults filled in, the password masked.
	for _, want := range []string{"allowed_lateness: 30s", "min_samples: 100", "dsn: clickhouse://sentinel:***@127.0.0.1:9000/default"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--check-config output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "s3cret") {
		t.Errorf("--check-config prints the password:\n%s", stdout)
	}
	bad := writeConfig(t, []string{"127.0.0.1:9092"}, "clickhouse://127.0.0.1:9000/default",
		"")
	data, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(data), "baseline: baseline.json", "baseline: missing.json", 1)
	broken = strings.Replace(broken, "  topics:", "  sasl: {mechanism: plain, username: u, password: {env: SENTINEL_TEST_NO_SUCH_VAR}}\n  topics:", 1)
	if err := os.WriteFile(bad, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "run", "--config", bad, "--check-config")
	if code != 2 || !strings.Contains(stderr, "missing.json") || !strings.Contains(stderr, "SENTINEL_TEST_NO_SUCH_VAR is not set") {
		t.Errorf("broken configuration: exit %d, stderr %q; want both problems named", code, stderr)
	}
	code, _, stderr = run(t, "run")
	if code != 2 || !strings.Contains(stderr, "--config is required") {
		t.Errorf("no --config: exit %d, stderr %q", code, stderr)
	}
}

// TestRunEndToEnd runs the daemon as main runs it, on an in-process Kafka and the
// test ClickHouse: it serves metrics while consuming, and exits 0 when its
// context ends as on SIGTERM.
func TestRunEndToEnd(t *testing.T) {
	dsn := storetest.DSN(t)
	cluster := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 2}, kafkatest.Topic{Name: "labels", Partitions: 2},
		kafkatest.Topic{Name: "dead", Partitions: 1})
	path := writeConfig(t, cluster.Brokers(), dsn, "")
	events, err := os.ReadFile(example + "events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var records []kafkatest.Record
	for _, line := range strings.Split(strings.TrimSpace(string(events)), "\n")[:1500] {
		records = append(records, kafkatest.Record{Partition: -1, Value: []byte(line)})
	}
	cluster.Produce(t, "events", records...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, out := io.Pipe()
	defer logs.Close()
	addr := make(chan string, 1)
	go func() {
		// The daemon logs its listen address once it serves.
		buf := make([]byte, 1<<16)
		var seen strings.Builder
		for {
			n, err := logs.Read(buf)
			seen.Write(buf[:n])
			if i := strings.Index(seen.String(), `"addr":"`); i >= 0 {
				rest := seen.String()[i+8:]
				addr <- rest[:strings.Index(rest, `"`)]
				io.Copy(io.Discard, logs)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	done := make(chan int, 1)
	go func() { done <- dispatch(ctx, []string{"run", "--config", path}, io.Discard, out) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case code := <-done:
		t.Fatalf("run exited %d before serving", code)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not start serving")
	}
	deadline := time.Now().Add(30 * time.Second)
	var body []byte
	for {
		resp, err := http.Get(base + "/metrics")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `sentinel_windows_closed_total{model="fraud"}`) &&
				!strings.Contains(string(body), `sentinel_windows_closed_total{model="fraud"} 0`) &&
				strings.Contains(string(body), "sentinel_build_info{") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no window closed within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every series the daemon exposes, through promtool's naming lint.
	promtest.CheckMetrics(t, body)
	// The status page shows the model and its windows once they are stored.
	var page []byte
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			page, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(page), "<svg") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status page shows no window within 30s; last page:\n%s", page)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel() // SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited %d after its context ended, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not drain and exit")
	}
}

// TestReplayToStore: replay with --config --store writes its windows to the
// configured ClickHouse as well as printing findings.
func TestReplayToStore(t *testing.T) {
	dsn := storetest.DSN(t)
	path := writeConfig(t, []string{"127.0.0.1:9092"}, dsn, "")
	code, stdout, stderr := run(t, "replay", "--input", example+"events.jsonl", "--config", path, "--store", "--no-anomaly")
	if code != 0 || !strings.Contains(stdout, `"kind":"summary"`) {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.Fields(strings.SplitN(string(data), "database:", 2)[1])[0]
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var windows uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".window_profiles FINAL WHERE feature = ''").Scan(&windows); err != nil {
		t.Fatal(err)
	}
	if windows != 121 {
		t.Errorf("%d windows stored, want the 121 one-minute windows of the two hours", windows)
	}
	code, _, stderr = run(t, "replay", "--input", example+"events.jsonl", "--contract", example+"contract.yaml", "--baseline", "x.json", "--store")
	if code != 2 || !strings.Contains(stderr, "--store needs --config") {
		t.Errorf("--store without --config: exit %d, %s", code, stderr)
	}
}
