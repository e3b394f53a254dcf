package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
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
		{"/healthz", errors.New("stopped: boom"), nil, 503, "stopped: boom"},
		{"/readyz", nil, nil, 200, "ready"},
		{"/readyz", nil, errors.New("kafka: no partitions"), 503, "kafka: no partitions"},
	}
	for _, tc := range tests {
		alive, ready = tc.alive, tc.ready
		if status, body := get(tc.path); status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%s: %d %q, want %d with %q", tc.path, status, body, tc.wantStatus, tc.wantBody)
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
