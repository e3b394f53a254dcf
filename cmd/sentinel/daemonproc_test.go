package main

// Helpers for tests that run `sentinel run` as an operator does: a process
// built from this tree, signalled, killed and restarted, watched through its
// log and its HTTP surface, against an in-process Kafka and a ClickHouse.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestMain(m *testing.M) {
	code := m.Run()
	binary.remove()
	os.Exit(code)
}

// binary is `sentinel` built once for the package's tests.
var binary builtBinary

type builtBinary struct {
	once sync.Once
	dir  string
	path string
	out  []byte
	err  error
}

// sentinelBinary builds cmd/sentinel from this tree, once.
func sentinelBinary(t *testing.T) string {
	t.Helper()
	b := &binary
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "sentinel-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "sentinel")
		goTool, err := exec.LookPath("go")
		if err != nil {
			b.err = err
			return
		}
		cmd := exec.Command(goTool, "build", "-o", b.path, ".")
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("building sentinel: %v\n%s", b.err, b.out)
	}
	return b.path
}

func (b *builtBinary) remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// daemonProc is one `sentinel run` process.
type daemonProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	logPath string
	base    string
	exited  chan struct{}
	waitErr error
}

// startProc starts `sentinel run --config cfg` with env added to the
// test's environment, and waits until it serves HTTP. Its log (stderr) goes
// to a file of its own, kept with the test's temporary files.
func startProc(t *testing.T, cfg string, env ...string) *daemonProc {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), "sentinel-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sentinelBinary(t), "run", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	p := &daemonProc{t: t, cmd: cmd, logPath: logFile.Name(), exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	addr := regexp.MustCompile(`"addr":"([^"]+)"`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := addr.FindSubmatch(p.logBytes()); m != nil {
			p.base = "http://" + string(m[1])
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("sentinel exited before serving (%v):\n%s", p.waitErr, p.logBytes())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel did not serve within 60s:\n%s", p.logBytes())
		}
	}
}

func (p *daemonProc) logBytes() []byte {
	b, _ := os.ReadFile(p.logPath)
	return b
}

// alive reports whether the process is still running.
func (p *daemonProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill stops the process with SIGKILL: no drain, no write after this.
func (p *daemonProc) kill() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// term sends SIGTERM and waits for the drain; it returns the exit code.
func (p *daemonProc) term(timeout time.Duration) int {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("sentinel did not exit within %s of SIGTERM:\n%s", timeout, tail(p.logBytes(), 40))
	}
	return p.cmd.ProcessState.ExitCode()
}

// get fetches a path of the daemon's HTTP surface.
func (p *daemonProc) get(path string) (int, string, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get(p.base + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metrics scrapes /metrics.
func (p *daemonProc) metrics() (scrape, error) {
	status, body, err := p.get("/metrics")
	if err != nil {
		return scrape{}, err
	}
	if status != http.StatusOK {
		return scrape{}, fmt.Errorf("/metrics: %d", status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return scrape{}, fmt.Errorf("parsing /metrics: %w", err)
	}
	return scrape{families: mfs, text: body}, nil
}

// mustMetrics scrapes /metrics or fails the test.
func (p *daemonProc) mustMetrics() scrape {
	p.t.Helper()
	s, err := p.metrics()
	if err != nil {
		p.t.Fatalf("%v\n%s", err, tail(p.logBytes(), 20))
	}
	return s
}

// scrape is one read of /metrics.
type scrape struct {
	families map[string]*dto.MetricFamily
	text     string
}

// sum adds the values of a counter or gauge over the series whose labels
// include want (name=value pairs).
func (s scrape) sum(name string, want ...string) float64 {
	mf := s.families[name]
	if mf == nil {
		return 0
	}
	var total float64
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total
}

func hasLabels(m *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// series counts the samples exposed: what a scrape costs Prometheus.
func (s scrape) series() int {
	n := 0
	for _, line := range strings.Split(s.text, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

// newSeries lists the series s exposes that before did not, by name and
// labels, for failure messages.
func (s scrape) newSeries(before scrape) []string {
	seen := map[string]bool{}
	for _, line := range strings.Split(before.text, "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
			seen[line[:i]] = true
		}
	}
	var out []string
	for _, line := range strings.Split(s.text, "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") && !seen[line[:i]] {
			out = append(out, line[:i])
		}
	}
	return out
}

// tail returns the last n lines of a log, for failure messages.
func tail(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// daemonConfig is a sentinel.yaml for the example fraud model.
type daemonConfig struct {
	brokers  []string
	dsn      string // or dsnFrom, a YAML flow mapping such as {env: X}
	dsnFrom  string
	database string
	events   string
	// kafkaExtra are further lines of the kafka section (tls, sasl),
	// indented two spaces, each ending in a newline.
	kafkaExtra string
	window     string
	lateness   string
	maxBytes   int
	// anomaly is the anomaly section, a YAML flow mapping; off unless set.
	anomaly string
	extra   string
}

// write writes the configuration, with the example's contract and a baseline
// built from its training data, and drops the database when the test ends.
func (c daemonConfig) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	baseline := filepath.Join(dir, "baseline.json")
	if code, _, stderr := run(t, "baseline", "--contract", example+"contract.yaml", "--input", example+"train.csv", "--out", baseline); code != 0 {
		t.Fatal(stderr)
	}
	contract, err := filepath.Abs(example + "contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.database == "" {
		c.database = fmt.Sprintf("sentinel_proc_test_%d", time.Now().UnixNano())
	}
	if c.events == "" {
		c.events = "events"
	}
	if c.window == "" {
		c.window = "1m"
	}
	if c.lateness == "" {
		c.lateness = "30s"
	}
	if c.maxBytes == 0 {
		c.maxBytes = 1 << 20
	}
	if c.anomaly == "" {
		c.anomaly = "{enabled: false}"
	}
	ch := fmt.Sprintf("  dsn: %q", c.dsn)
	if c.dsnFrom != "" {
		ch = "  dsn_from: " + c.dsnFrom
	}
	quoted := make([]string, len(c.brokers))
	for i, b := range c.brokers {
		quoted[i] = strconv.Quote(b)
	}
	cfg := fmt.Sprintf(`kafka:
  brokers: [%s]
  topics: {events: %s, dead_letters: dead}
  max_message_bytes: %d
%sclickhouse:
%s
  database: %s
windows: {size: %s, allowed_lateness: %s, max_age: 87600h, max_future_skew: 87600h}
staleness: {check_interval: 1s, max_silence: 1h}
anomaly: %s
drift: {min_samples: 10}
models:
  - contract: %s
    baseline: baseline.json
listen: {http: "127.0.0.1:0"}
shutdown_timeout: 60s
%s`, strings.Join(quoted, ", "), c.events, c.maxBytes, c.kafkaExtra, ch, c.database, c.window, c.lateness, c.anomaly, contract, c.extra)
	path := filepath.Join(dir, "sentinel.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// chServer is a private ClickHouse server for one test, on ports of its own,
// so that the test may stop and start it; the shared test server is never
// touched.
type chServer struct {
	t         *testing.T
	dir       string
	tcp, http int
	// owner is the process whose end stops the server: this test binary,
	// unless a test says otherwise.
	owner int
}

// startPrivateClickHouse starts a server with scripts/clickhouse.sh in a
// directory of the test's. A developer's run without ClickHouse installed
// skips; under CI=true, a server that cannot start fails the test.
func startPrivateClickHouse(t *testing.T) *chServer {
	t.Helper()
	return startPrivateClickHouseWith(t, "", "")
}

// startPrivateClickHouseWith is startPrivateClickHouse with a user of
// ClickHouse's own (users.d beside the script's users.xml) when user is set.
func startPrivateClickHouseWith(t *testing.T, user, password string) *chServer {
	t.Helper()
	return startOwnedClickHouse(t, user, password, os.Getpid())
}

// startOwnedClickHouse is startPrivateClickHouseWith for a server that stops
// when process owner ends.
func startOwnedClickHouse(t *testing.T, user, password string, owner int) *chServer {
	t.Helper()
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("clickhouse-server is not installed under CI: make test installs it (scripts/clickhouse.sh)")
		}
		t.Skip("clickhouse-server is not installed: scripts/clickhouse.sh start installs it")
	}
	s := &chServer{t: t, dir: t.TempDir(), tcp: freePort(t), http: freePort(t), owner: owner}
	if user != "" {
		users := fmt.Sprintf(`<?xml version="1.0"?>
<yandex><users><%s>
    <password>%s</password>
    <networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile>
    <quota>default</quota>
</%s></users></yandex>
`, user, password, user)
		if err := os.MkdirAll(filepath.Join(s.dir, "users.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, "users.d", user+".xml"), []byte(users), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// TestPrivateClickHouseEndsWithItsOwner: a private server stops once the
// process that owns it has ended, as when a test binary is killed or times
// out and runs no cleanup.
func TestPrivateClickHouseEndsWithItsOwner(t *testing.T) {
	owner := exec.Command("sleep", "600")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	s := startOwnedClickHouse(t, "", "", owner.Process.Pid)
	b, err := os.ReadFile(filepath.Join(s.dir, "clickhouse.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("clickhouse-server pid %d is not running after its start: %v", pid, err)
	}
	if err := owner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	// The server shuts down in a few seconds once told; a minute is for a
	// loaded machine.
	deadline := time.Now().Add(time.Minute)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("clickhouse-server pid %d still runs a minute after its owner ended", pid)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *chServer) script(cmd string) ([]byte, error) {
	c := exec.Command("../../scripts/clickhouse.sh", cmd, s.dir)
	c.Env = append(os.Environ(), fmt.Sprintf("CLICKHOUSE_TCP_PORT=%d", s.tcp), fmt.Sprintf("CLICKHOUSE_HTTP_PORT=%d", s.http),
		fmt.Sprintf("CLICKHOUSE_OWNER_PID=%d", s.owner))
	return c.CombinedOutput()
}

func (s *chServer) start() {
	s.t.Helper()
	if out, err := s.script("start"); err != nil {
		s.t.Fatalf("starting a private clickhouse-server: %v\n%s", err, out)
	}
}

func (s *chServer) stop() {
	s.t.Helper()
	if out, err := s.script("stop"); err != nil {
		s.t.Errorf("stopping the private clickhouse-server: %v\n%s", err, out)
	}
}

// dsn is the server's DSN for user (and password, when not empty).
func (s *chServer) dsn(user, password string) string {
	if user == "" {
		return fmt.Sprintf("clickhouse://127.0.0.1:%d/default", s.tcp)
	}
	return fmt.Sprintf("clickhouse://%s:%s@127.0.0.1:%d/default", user, password, s.tcp)
}

// freePort returns a TCP port nobody listens on, now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// chConn opens a connection for the test's own queries.
func chConn(t *testing.T, dsn string) clickhouse.Conn {
	t.Helper()
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// windowCounts reads back, with FINAL, the events each window written holds.
func windowCounts(t *testing.T, conn clickhouse.Conn, db string) map[time.Time]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := conn.Query(ctx, "SELECT window_start, window_start_ms, row_count FROM "+db+
		".window_profiles FINAL WHERE model = 'fraud' AND feature = '' ORDER BY window_start, window_start_ms")
	if err != nil {
		if strings.Contains(err.Error(), "doesn't exist") {
			return map[time.Time]uint64{}
		}
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[time.Time]uint64{}
	for rows.Next() {
		var start time.Time
		var ms uint16
		var n uint64
		if err := rows.Scan(&start, &ms, &n); err != nil {
			t.Fatal(err)
		}
		at := start.UTC().Add(time.Duration(ms) * time.Millisecond)
		if _, dup := out[at]; dup {
			t.Errorf("window %s read twice with FINAL", at)
		}
		out[at] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// rejectedByReason reads back, with FINAL, the rejection counts by reason.
func rejectedByReason(t *testing.T, conn clickhouse.Conn, db string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := conn.Query(ctx, "SELECT reason, sum(message_count) FROM "+db+".rejected_counts FINAL GROUP BY reason")
	if err != nil {
		if strings.Contains(err.Error(), "doesn't exist") {
			return map[string]uint64{}
		}
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var reason string
		var n uint64
		if err := rows.Scan(&reason, &n); err != nil {
			t.Fatal(err)
		}
		out[reason] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitUntil polls cond every 200ms until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
