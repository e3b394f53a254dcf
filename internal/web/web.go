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
	"sort"
	"strings"
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
	// Ready reports why the process cannot do its job, nil when it can. Its
	// error may name hosts, ports and users: it goes to the log, and a caller
	// of /readyz is told only which part is not ready (see Parts).
	Ready func(ctx context.Context) error
	// Status, when set, is what the status page at / shows; nil serves no
	// page there.
	Status StatusSource
	// Logger receives errors of the metrics handler and the page, and the
	// reasons behind /healthz and /readyz; nil discards.
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
	alive, ready := &reasonLog{log: log, what: "not alive"}, &reasonLog{log: log, what: "not ready"}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		err := opts.Alive()
		alive.note(err)
		if err != nil {
			http.Error(w, "not alive", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		err := opts.Ready(ctx)
		ready.note(err)
		if err != nil {
			http.Error(w, strings.Join(Parts(err), "\n"), http.StatusServiceUnavailable)
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

// reasonLog logs why a probe fails each time the reason changes: a probe every
// few seconds must not repeat the same line, nor hide a new cause.
type reasonLog struct {
	log  *slog.Logger
	what string
	mu   sync.Mutex
	last string
}

func (l *reasonLog) note(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	l.mu.Lock()
	changed := msg != l.last
	l.last = msg
	l.mu.Unlock()
	switch {
	case !changed:
	case err != nil:
		l.log.Warn(l.what, "reason", msg)
	default:
		l.log.Info("no longer " + l.what)
	}
}

// partWords are the parts of the process /readyz names, and what each says
// when it is not ready. The part of an error is the first of these words in
// its first clause (before the first ": "), so that "preparing clickhouse:
// dial tcp 10.0.0.7:9000: …" reads "clickhouse: not ready".
var partWords = []struct{ part, state string }{
	{"clickhouse", "not ready"},
	{"kafka", "not ready"},
	{"partitions", "waiting"},
}

// Parts turns a readiness error into one short line per part that is not
// ready, sorted, without the details an error carries (addresses, users,
// server messages), which are for the log: anyone who can reach /readyz can
// read it. Errors joined with errors.Join are parts each; an error that names
// no known part is "not ready".
func Parts(err error) []string {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	seen := make(map[string]bool, len(errs))
	var out []string
	for _, e := range errs {
		if e == nil {
			continue
		}
		line := "not ready"
		clause, _, _ := strings.Cut(e.Error(), ": ")
		for _, w := range partWords {
			if strings.Contains(clause, w.part) {
				line = w.part + ": " + w.state
				break
			}
		}
		if !seen[line] {
			seen[line] = true
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}

// Limits of the HTTP server. Prometheus, the kubelet and a person with curl
// are its clients: a few connections, short requests. Anyone else who can
// reach the port must not be able to hold its goroutines: a connection that
// sends nothing is closed after readHeaderTimeout, an idle keep-alive one after
// idleTimeout, and at most maxConns are served at once; further ones wait in
// the kernel's accept queue, and while they wait the idle keep-alive
// connections are closed to make room, so that idle clients cannot lock a
// scrape out.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 30 * time.Second
	maxHeaderBytes    = 16 << 10
	maxConns          = 128
)

// Server serves the routes on a listener until Shutdown.
type Server struct {
	srv  *http.Server
	ln   *limitListener
	done chan error
	// once collects what Serve returned, for the first Shutdown.
	once     sync.Once
	serveErr error
}

// Serve starts serving h on ln in the background.
func Serve(ln net.Listener, h http.Handler) *Server {
	lim := newLimitListener(ln, maxConns)
	s := &Server{srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         lim.track,
	}, ln: lim, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(lim) }()
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

// limitListener accepts at most n connections at once. When it is full, it
// closes the idle keep-alive connections (the server reports their states to
// track) before it waits for a slot.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	idle map[net.Conn]bool
	// full is set while Accept waits for a slot: a connection that turns
	// idle meanwhile is closed at once.
	full bool
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), closed: make(chan struct{}), idle: make(map[net.Conn]bool)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		l.closeIdle()
		select {
		case l.slots <- struct{}{}:
			l.mu.Lock()
			l.full = false
			l.mu.Unlock()
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close stops accepting; an Accept waiting for a slot returns.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// track follows a connection's state, as http.Server.ConnState.
func (l *limitListener) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	switch state {
	case http.StateIdle:
		if l.full {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.idle[c] = true
	default:
		delete(l.idle, c)
	}
	l.mu.Unlock()
}

// closeIdle closes every idle keep-alive connection (their clients open a new
// one when they next ask, which costs them a handshake), and those that turn
// idle until Accept has a slot again.
func (l *limitListener) closeIdle() {
	l.mu.Lock()
	l.full = true
	idle := make([]net.Conn, 0, len(l.idle))
	for c := range l.idle {
		idle = append(idle, c)
	}
	clear(l.idle)
	l.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
