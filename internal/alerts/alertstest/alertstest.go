// Package alertstest runs the real Prometheus and Alertmanager from tests, as
// subprocesses on free loopback ports with temporary directories, and
// receives Alertmanager's webhook notifications.
//
// Binaries come from $SENTINEL_PROMETHEUS and $SENTINEL_ALERTMANAGER (make
// test sets the latter with scripts/alertmanager.sh), else from $PATH, where
// Debian's packages put them. Without one, a test is skipped, or fails under
// CI=true, where make test must have provided it.
package alertstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Binary returns the program named by the environment variable env, or the
// first of names on $PATH.
func Binary(tb testing.TB, env string, names ...string) string {
	tb.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s not found: set %s or run make test, which installs it", names[0], env)
	}
	tb.Skipf("%s not found; make test installs it", names[0])
	return ""
}

// FreeAddr returns a loopback address with a port nothing listens on.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Server is a started Prometheus or Alertmanager.
type Server struct {
	URL  string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   sync.Mutex
	done chan struct{}
}

// Stop ends the process and waits for it.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}

// Output is what the process wrote.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

type lockedWriter struct{ s *Server }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.out.Write(p)
}

// start runs a program and waits until url+ready answers 200.
func start(tb testing.TB, name, url, ready string, bin string, args ...string) *Server {
	tb.Helper()
	s := &Server{URL: url, out: &bytes.Buffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = lockedWriter{s}, lockedWriter{s}
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(s.Stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			tb.Fatalf("%s exited before it was ready:\n%s", name, s.Output())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready within 30s:\n%s", name, s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StartAlertmanager runs Alertmanager with the given configuration, alone
// (no cluster), and returns it once ready.
func StartAlertmanager(tb testing.TB, config string) *Server {
	tb.Helper()
	return StartAlertmanagerAt(tb, FreeAddr(tb), config)
}

// StartAlertmanagerAt is StartAlertmanager on a given address, for a test
// whose client knew the address before Alertmanager was up.
func StartAlertmanagerAt(tb testing.TB, addr, config string) *Server {
	tb.Helper()
	bin := Binary(tb, "SENTINEL_ALERTMANAGER", "prometheus-alertmanager", "alertmanager")
	dir := tb.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		tb.Fatal(err)
	}
	return start(tb, "alertmanager", "http://"+addr, "/-/ready", bin, "--config.file="+cfg, "--storage.path="+dir,
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
}

// StartPrometheus runs Prometheus with the given configuration and rules
// file (the configuration's rule_files should name "rules.yml"), and returns
// it once ready.
func StartPrometheus(tb testing.TB, config string, rules []byte) *Server {
	tb.Helper()
	bin := Binary(tb, "SENTINEL_PROMETHEUS", "prometheus")
	dir := tb.TempDir()
	for name, data := range map[string][]byte{"prometheus.yml": []byte(config), "rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	addr := FreeAddr(tb)
	return start(tb, "prometheus", "http://"+addr, "/-/ready", bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr,
		"--rules.alert.resend-delay=1s", "--log.level=warn")
}

// Alert is one alert of a webhook notification.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	// Received is when the webhook got the notification.
	Received time.Time `json:"-"`
}

// Webhook receives Alertmanager's notifications.
type Webhook struct {
	URL string
	mu  sync.Mutex
	got []Alert
}

// NewWebhook starts a receiver.
func NewWebhook(tb testing.TB) *Webhook {
	tb.Helper()
	w := &Webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var n struct {
			Alerts []Alert `json:"alerts"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		w.mu.Lock()
		for _, a := range n.Alerts {
			a.Received = now
			w.got = append(w.got, a)
		}
		w.mu.Unlock()
	}))
	tb.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// Alerts returns every alert received so far, in arrival order.
func (w *Webhook) Alerts() []Alert {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Alert(nil), w.got...)
}

// Await waits until match returns true for an alert received, and returns
// the first such alert.
func (w *Webhook) Await(ctx context.Context, what string, match func(Alert) bool) (Alert, error) {
	for {
		for _, a := range w.Alerts() {
			if match(a) {
				return a, nil
			}
		}
		select {
		case <-ctx.Done():
			return Alert{}, fmt.Errorf("waiting for %s: %w (received %d alerts)", what, ctx.Err(), len(w.Alerts()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// AlertmanagerConfig routes every alert to the webhook at once, one group per
// alert name, model and feature, with resolved notifications; extra is added
// at the top level (inhibit_rules).
func AlertmanagerConfig(webhook, extra string) string {
	return fmt.Sprintf(`route:
  receiver: webhook
  group_by: [alertname, model, feature, instance]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: %q
        send_resolved: true
%s`, webhook, extra)
}
