// Package web is Sentinel's HTTP surface: /metrics for Prometheus, /healthz for
// liveness, /readyz for readiness and, at /, the status page for people. It
// serves in production as in tests, on a listener the caller opens.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure a Server.
type Options struct {
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Alive reports why the process is no longer alive, nil while it is.
	Alive func() error
	// Ready reports why the process cannot do its job, nil when it can.
	Ready func(ctx context.Context) error
	// Status, when set, is what the status page at / shows; nil serves no
	// page there.
	Status StatusSource
	// Logger receives errors of the metrics handler and the page; nil discards.
	Logger *slog.Logger
}

// Validate reports every problem of the options.
func (o *Options) Validate() error {
	var errs []error
	if o.Gatherer == nil {
		errs = append(errs, errors.New("no gatherer for /metrics"))
	}
	if o.Alive == nil {
		errs = append(errs, errors.New("no liveness check for /healthz"))
	}
	if o.Ready == nil {
		errs = append(errs, errors.New("no readiness check for /readyz"))
	}
	return errors.Join(errs...)
}

// readyTimeout bounds a readiness check, well inside a probe's usual timeout.
const readyTimeout = 5 * time.Second

// Handler returns the routes.
func Handler(opts Options) (http.Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("web options: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := opts.Alive(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := opts.Ready(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if opts.Status != nil {
		// "/{$}" is the root alone: any other path stays a 404 rather than a
		// copy of the page.
		mux.Handle("GET /{$}", newStatusPage(opts.Status, log))
	}
	return mux, nil
}

// Server serves the routes on a listener until Shutdown.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
	// once collects what Serve returned, for the first Shutdown.
	once     sync.Once
	serveErr error
}

// Serve starts serving h on ln in the background.
func Serve(ln net.Listener, h http.Handler) *Server {
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, ln: ln, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s
}

// Addr is the address served.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting, waits for requests in flight until ctx ends, and
// returns what stopped the server other than the shutdown itself. It may be
// called more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.once.Do(func() {
		if e := <-s.done; !errors.Is(e, http.ErrServerClosed) {
			s.serveErr = e
		}
	})
	return errors.Join(err, s.serveErr)
}
