package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sentinel_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	var alive, ready error
	h, err := Handler(Options{Gatherer: reg, Alive: func() error { return alive },
		Ready: func(context.Context) error { return ready }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := Serve(ln, h)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		path       string
		alive      error
		ready      error
		wantStatus int
		wantBody   string
	}{
		{"/metrics", nil, nil, 200, "sentinel_test_total 3"},
		{"/healthz", nil, nil, 200, "ok"},
		{"/healthz", errors.New("stopped: writing to 10.1.2.3:9000: auth failed for user bob"), nil, 503, "not alive"},
		{"/readyz", nil, nil, 200, "ready"},
		{"/readyz", nil, errors.New("kafka: kafka metadata from [10.1.2.3:9092]: dial tcp 10.1.2.3:9092: connection refused"), 503, "kafka: not ready"},
		{"/readyz", nil, errors.Join(errors.New("preparing clickhouse: dial tcp 10.1.2.3:9000: i/o timeout"),
			errors.New("kafka: kafka group \"sentinel\": not joined yet")), 503, "clickhouse: not ready\nkafka: not ready\n"},
	}
	for _, tc := range tests {
		alive, ready = tc.alive, tc.ready
		status, body := get(tc.path)
		if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%s: %d %q, want %d with %q", tc.path, status, body, tc.wantStatus, tc.wantBody)
		}
		// Addresses and users are for the log, not for whoever can reach the port.
		if strings.Contains(body, "10.1.2.3") || strings.Contains(body, "bob") {
			t.Errorf("%s: the body %q tells an anonymous caller about the deployment", tc.path, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestParts(t *testing.T) {
	tests := []struct {
		err  error
		want []string
	}{
		{errors.New("clickhouse: not prepared yet"), []string{"clickhouse: not ready"}},
		{errors.New("preparing clickhouse: store: dial tcp 127.0.0.1:19000: connect: connection refused"), []string{"clickhouse: not ready"}},
		{errors.New("partitions [2 3] of the events topic have reported nothing for 1m30s: no window can be checked until they do"),
			[]string{"partitions: waiting"}},
		{errors.Join(errors.New("kafka: a"), errors.New("kafka: b"), errors.New("clickhouse: c")), []string{"clickhouse: not ready", "kafka: not ready"}},
		{fmt.Errorf("wrapped: %w", errors.New("kafka: x")), []string{"not ready"}},
		{errors.New("something at 10.0.0.1:80 broke"), []string{"not ready"}},
	}
	for _, tc := range tests {
		if got := Parts(tc.err); !slices.Equal(got, tc.want) {
			t.Errorf("Parts(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestReasonsLogged: the details /readyz keeps to itself are logged, once
// per change of reason, not at every probe.
func TestReasonsLogged(t *testing.T) {
	var logs bytes.Buffer
	var ready error
	h, err := Handler(Options{Gatherer: prometheus.NewRegistry(), Alive: func() error { return nil },
		Ready: func(context.Context) error { return ready }, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	probe := func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
	}
	ready = errors.New("kafka: dial tcp 10.1.2.3:9092: connection refused")
	for range 5 {
		probe()
	}
	ready = nil
	probe()
	if n := strings.Count(logs.String(), "10.1.2.3:9092"); n != 1 {
		t.Errorf("the reason is logged %d times over five probes, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "no longer not ready") {
		t.Errorf("the recovery is not logged:\n%s", logs.String())
	}
}

// serverConns counts the goroutines serving HTTP connections.
func serverConns() int {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2) // one stack per goroutine
	n := 0
	for _, stack := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(stack, "net/http.(*conn).serve(") {
			n++
		}
	}
	return n
}

// TestIdleClientsCannotPinGoroutines opens 5,000 keep-alive connections that
// each ask once and then stay idle: the server holds no more than its
// connection limit of goroutines for them, and a scrape still gets through
// at once.
func TestIdleClientsCannotPinGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 5,000 connections")
	}
	h, err := Handler(Options{Gatherer: prometheus.NewRegistry(), Alive: func() error { return nil },
		Ready: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := Serve(ln, h)
	defer s.Shutdown(context.Background())
	const clients = 5000
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	most := 0
	for i := range clients {
		c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		conns = append(conns, c)
		// A keep-alive request whose response is never read: the client then
		// sits idle.
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: sentinel\r\n\r\n"); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if i%500 == 499 {
			most = max(most, serverConns())
		}
	}
	time.Sleep(200 * time.Millisecond)
	most = max(most, serverConns())
	if most > maxConns {
		t.Errorf("%d goroutines serve connections for %d idle clients, want at most %d", most, clients, maxConns)
	}
	start := time.Now()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + s.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("a scrape among %d idle clients: %v", clients, err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	t.Logf("%d idle clients: at most %d serving goroutines; a new request answered in %s", clients, most, time.Since(start).Round(time.Millisecond))
}

// TestSilentClientIsClosed: a connection that sends nothing is closed after
// the header timeout rather than held.
func TestSilentClientIsClosed(t *testing.T) {
	h, err := Handler(Options{Gatherer: prometheus.NewRegistry(), Alive: func() error { return nil },
		Ready: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := Serve(ln, h)
	defer s.Shutdown(context.Background())
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(start.Add(readHeaderTimeout + 5*time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("a silent connection: %v, want it closed by the server", err)
	}
	if held := time.Since(start); held < readHeaderTimeout-time.Second {
		t.Errorf("closed after %s, before the header timeout %s", held, readHeaderTimeout)
	}
}

func TestOptionsValidate(t *testing.T) {
	valid := func() Options {
		return Options{Gatherer: prometheus.NewRegistry(), Alive: func() error { return nil },
			Ready: func(context.Context) error { return nil }}
	}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"gatherer", func(o *Options) { o.Gatherer = nil }, "no gatherer"},
		{"alive", func(o *Options) { o.Alive = nil }, "no liveness"},
		{"ready", func(o *Options) { o.Ready = nil }, "no readiness"},
	}
	for _, tc := range tests {
		o := valid()
		tc.change(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	o := valid()
	if err := o.Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
}
