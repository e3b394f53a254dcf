// Package daemon runs Sentinel as a service: it reads the partitions Kafka
// assigns it, one worker per partition number on its own goroutine, gathers
// their shares of each window in one checker, writes the results, commits
// offsets behind what is durable, runs the clock's checks, and serves
// /metrics, /healthz and /readyz. It follows Alertmanager's shape — New(opts),
// Start, Stop(ctx) — so tests drive an instance without signals.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/tracing"
	"github.com/sentinel-ml/sentinel/internal/web"
)

// Store is where results go and where a restart reads them back.
type Store interface {
	store.Writer
	store.History
	Ping(ctx context.Context) error
	// Migrate creates or upgrades the schema, retrying while the server is
	// unreachable, until ctx ends.
	Migrate(ctx context.Context) error
}

// Publisher writes the partials topic (ingest.PartialsWriter): a share to
// its model's partition, a report to every partition, each done called once
// durable.
type Publisher interface {
	Share(ctx context.Context, key string, value []byte, done func()) error
	Broadcast(ctx context.Context, value []byte, done func()) error
	Flush(ctx context.Context) error
	// Tail reads the records the check stage has not committed yet.
	Tail(ctx context.Context, each func(ingest.Message) error) error
}

// Options configure a Daemon.
type Options struct {
	// Pipeline configures the checks; its Writer is set by the daemon to
	// Store, and its Partitions from the events topic.
	Pipeline pipeline.Options
	// Group is the consumer group membership; the first of its topics is the
	// events topic.
	Group *ingest.Group
	Store Store
	// Listen is the HTTP address for /metrics, /healthz and /readyz; empty
	// serves nothing (tests).
	Listen   string
	Gatherer prometheus.Gatherer
	// Status, when set, is served as the status page at /.
	Status web.StatusSource
	// TickEvery paces the clock's checks; CommitEvery the offset commits.
	TickEvery   time.Duration
	CommitEvery time.Duration
	// Publish, when set, makes the daemon the profile stage of a scaled-out
	// Sentinel: its workers' shares and reports go to the partials topic,
	// for the check stage to merge and check, instead of to its own checker.
	Publish Publisher
	// Check, when set, runs the check stage: the checker reads the partials
	// topic and checks the models of the partitions its group assigns.
	Check *CheckStage
	// HandoverWait bounds how long the profile stage waits, at the start of
	// a generation, for the previous readers of its partitions to say they
	// have published all they will (default: the time a generation's end may
	// take to settle, 20 s). A reader that died never says so.
	HandoverWait time.Duration
	// Registerer receives the daemon's own series; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives the daemon's log; nil discards.
	Logger *slog.Logger
}

// Validate reports every problem of the options.
func (o *Options) Validate() error {
	var errs []error
	if o.Group == nil {
		errs = append(errs, errors.New("no kafka group"))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("no store"))
	}
	if o.Listen != "" && o.Gatherer == nil {
		errs = append(errs, errors.New("a listen address needs a gatherer for /metrics"))
	}
	if o.TickEvery <= 0 {
		errs = append(errs, fmt.Errorf("tick interval %s is not positive", o.TickEvery))
	}
	if o.CommitEvery <= 0 {
		errs = append(errs, fmt.Errorf("commit interval %s is not positive", o.CommitEvery))
	}
	return errors.Join(errs...)
}

// Daemon is one running Sentinel.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	tracer  trace.Tracer
	metrics *metrics
	web     *web.Server

	// checker receives the workers' shares and reports, and requests.
	checker chan request
	// checkerGone is closed once the checker's goroutine has returned: a
	// request asked of it then has no answer.
	checkerGone chan struct{}
	// restored is closed once the store is migrated and read back.
	restored chan struct{}
	// draining is set by Stop: a generation ending then drains instead of
	// checkpointing.
	draining atomic.Bool
	// drainCtx bounds a drain's settling.
	drainCtx atomic.Pointer[context.Context]
	// partitions is the events topic's partition count, 0 until known.
	partitions atomic.Int64
	// readLast are the partitions of the group's last generation, in the
	// profile stage: the generations run one after another.
	readLast []int
	status   status

	stop     chan context.Context
	abort    context.CancelFunc
	done     chan struct{}
	errMu    sync.Mutex
	err      error
	stopOnce sync.Once
	stopErr  error
}

// New checks the options; Start does the work.
func New(opts Options) (*Daemon, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("daemon options: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	d := &Daemon{opts: opts, log: log, tracer: tracing.Tracer(opts.Pipeline.TracerProvider), metrics: m, checker: make(chan request, checkerQueue), checkerGone: make(chan struct{}),
		restored: make(chan struct{}), stop: make(chan context.Context), done: make(chan struct{})}
	d.status.set("store", errors.New("clickhouse: not prepared yet"))
	return d, nil
}

// checkerQueue bounds the shares and reports waiting for the checker: when it
// falls behind (a store outage), workers block, and so does fetching.
const checkerQueue = 256

// Start serves HTTP and starts the daemon's work in the background: migrating
// and reading back the store (waiting out an outage), then consuming. It
// returns once the HTTP listener is open, so that an unreachable ClickHouse or
// Kafka leaves the process alive and saying why it is not ready.
func (d *Daemon) Start(context.Context) error {
	opts := d.opts.Pipeline
	opts.Writer, opts.WriteBehind = d.opts.Store, true
	opts.SharedWindows = d.opts.Publish != nil || d.opts.Check != nil
	sides, err := pipeline.NewSides(withUnknownPartitions(opts))
	if err != nil {
		return err
	}
	if d.opts.Listen != "" {
		if err := d.serve(); err != nil {
			return err
		}
	}
	runCtx, abort := context.WithCancel(context.Background())
	d.abort = abort
	go func() {
		defer close(d.done)
		err := d.run(runCtx, sides)
		d.errMu.Lock()
		d.err = err
		d.errMu.Unlock()
		if err != nil {
			d.log.Error("pipeline stopped", "err", err)
		}
	}()
	addr := ""
	if d.web != nil {
		addr = d.web.Addr().String()
	}
	d.log.Info("sentinel started", "models", len(opts.Models), "addr", addr)
	return nil
}

// withUnknownPartitions sizes the checker for no partition: until the events
// topic's partitions are known, no window can be complete.
func withUnknownPartitions(o pipeline.Options) pipeline.Options {
	o.Partitions = 0
	return o
}

// Done is closed when the daemon has stopped, after Stop or on a failure; Err
// then says why.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Err returns the error that stopped the daemon, nil after a clean Stop.
func (d *Daemon) Err() error {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	return d.err
}

// Addr is the HTTP address served, once started.
func (d *Daemon) Addr() net.Addr {
	if d.web == nil {
		return nil
	}
	return d.web.Addr()
}

// Stop drains: it stops fetching, hands every share to the checker, closes and
// writes every open window, commits the offsets behind them and stops serving.
// If ctx ends first (a write stuck on a store outage), it abandons the drain;
// uncommitted messages are read again by the next instance. Calls after the
// first return what the first did.
func (d *Daemon) Stop(ctx context.Context) error {
	if d.abort == nil {
		return errors.New("stopping a daemon that was not started")
	}
	d.stopOnce.Do(func() { d.stopErr = d.drain(ctx) })
	return d.stopErr
}

func (d *Daemon) drain(ctx context.Context) error {
	select {
	case d.stop <- ctx:
	case <-d.done:
	case <-ctx.Done():
	}
	select {
	case <-d.done:
	case <-ctx.Done():
		d.abort()
		<-d.done
	}
	d.abort()
	var errs []error
	if err := d.Err(); err != nil {
		errs = append(errs, err)
	}
	if d.web != nil {
		if err := d.web.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping the HTTP server: %w", err))
		}
	}
	return errors.Join(errs...)
}

// run owns the work: it prepares the store, then runs the checker and the
// group until Stop (a drain) or a failure.
func (d *Daemon) run(ctx context.Context, sides *pipeline.Sides) error {
	if stopped, err := d.prepareUnlessStopped(ctx, sides); stopped || err != nil {
		return err
	}
	close(d.restored)
	checkerCtx, stopChecker := context.WithCancel(ctx)
	defer stopChecker()
	checkerDone := make(chan error, 1)
	if d.opts.Publish == nil || d.opts.Check != nil {
		go func() {
			defer close(d.checkerGone)
			checkerDone <- d.runChecker(checkerCtx, sides.Checker)
		}()
	} else {
		// The profile stage alone checks nothing: the check stage does, from
		// the partials topic.
		go func() {
			defer close(d.checkerGone)
			<-checkerCtx.Done()
			checkerDone <- nil
		}()
	}
	checkCtx, stopCheck := context.WithCancel(ctx)
	checkDone := make(chan struct{})
	if d.opts.Check != nil {
		go func() {
			defer close(checkDone)
			// It returns when checkCtx ends: it retries Kafka until then.
			_ = d.opts.Check.Group.Run(checkCtx, func(genCtx context.Context, gen *ingest.Generation) {
				d.checkGeneration(genCtx, sides, gen)
			})
		}()
	} else {
		close(checkDone)
	}
	// The check stage stops first at any end: what it has not written is
	// read again from the partials topic.
	defer func() {
		stopCheck()
		<-checkDone
	}()
	groupCtx, stopGroup := context.WithCancel(ctx)
	groupDone := make(chan error, 1)
	go func() {
		groupDone <- d.opts.Group.Run(groupCtx, func(genCtx context.Context, gen *ingest.Generation) {
			d.generation(genCtx, sides, gen)
		})
	}()
	select {
	case stopCtx := <-d.stop:
		// The generation in progress drains as it ends: its workers hand over
		// every share, the checker writes every window, offsets are committed.
		d.draining.Store(true)
		d.drainCtx.Store(&stopCtx)
		stopGroup()
		<-groupDone
		if d.opts.Publish == nil {
			d.askChecker(stopCtx, request{kind: flushRequest})
		}
		// The check stage's last generation stores what it checked before
		// the checker stops.
		stopCheck()
		<-checkDone
		stopChecker()
		return <-checkerDone
	case err := <-checkerDone:
		stopGroup()
		<-groupDone
		return err
	case <-ctx.Done():
		stopGroup()
		<-groupDone
		return ctx.Err()
	}
}

// prepareUnlessStopped prepares the store, and gives up when Stop is called
// meanwhile: nothing has been read yet, so there is nothing to drain, and a
// SIGTERM while ClickHouse is unreachable at start must not wait out the
// whole shutdown timeout (Kubernetes' grace period would end in a SIGKILL).
func (d *Daemon) prepareUnlessStopped(ctx context.Context, sides *pipeline.Sides) (stopped bool, err error) {
	prepCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	prepared, watched := make(chan struct{}), make(chan bool, 1)
	go func() {
		select {
		case <-d.stop:
			cancel()
			watched <- true
		case <-prepared:
			watched <- false
		}
	}()
	err = d.prepare(prepCtx, sides)
	close(prepared)
	if <-watched {
		d.log.Info("stopped before the store was prepared: nothing to drain")
		return true, nil
	}
	return false, err
}

// prepare makes sure the partials topic exists, migrates the store and
// reads back what it holds, retrying while Kafka or ClickHouse is
// unreachable: /readyz says so meanwhile.
func (d *Daemon) prepare(ctx context.Context, sides *pipeline.Sides) error {
	if err := d.ensurePartials(ctx); err != nil {
		return err
	}
	backoff := time.Second
	for {
		err := d.opts.Store.Migrate(ctx)
		if err == nil {
			err = sides.Checker.Restore(ctx, d.opts.Store)
		}
		if err == nil {
			d.status.set("store", nil)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.status.set("store", fmt.Errorf("preparing clickhouse: %w", err))
		d.log.Warn("store unavailable at start; retrying", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// alive says whether the process is alive: working, or not yet failed.
func (d *Daemon) alive() error {
	select {
	case <-d.done:
		if err := d.Err(); err != nil {
			return fmt.Errorf("stopped: %w", err)
		}
		return errors.New("stopped")
	default:
		return nil
	}
}

// ready says whether the daemon can do its job: the store prepared and
// reachable, the group joined with partitions, every partition of the events
// topic read by someone who reports. The reasons go to the log; callers are
// told only which part is not ready.
func (d *Daemon) ready(ctx context.Context) error {
	var errs []error
	if err := d.status.get("store"); err != nil {
		errs = append(errs, err)
	} else if err := d.opts.Store.Ping(ctx); err != nil {
		errs = append(errs, fmt.Errorf("clickhouse: %w", err))
	}
	if err := d.opts.Group.Ready(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kafka: %w", err))
	}
	if err := d.status.get("partitions"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (d *Daemon) serve() error {
	h, err := web.Handler(web.Options{Gatherer: d.opts.Gatherer, Alive: d.alive, Ready: d.ready, Logger: d.log,
		Status: d.opts.Status})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", d.opts.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", d.opts.Listen, err)
	}
	d.web = web.Serve(ln, h)
	return nil
}

// status holds the reasons the daemon is not ready, by part.
type status struct {
	mu      sync.Mutex
	reasons map[string]error
}

func (s *status) set(part string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reasons == nil {
		s.reasons = make(map[string]error)
	}
	s.reasons[part] = err
}

func (s *status) get(part string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reasons[part]
}

// ensurePartials makes sure the partials topic exists with the partition
// count every replica was given, retrying while Kafka is unreachable.
func (d *Daemon) ensurePartials(ctx context.Context) error {
	cs := d.opts.Check
	if cs == nil || cs.Ensure == nil {
		return nil
	}
	backoff := time.Second
	for {
		n, err := cs.Ensure(ctx)
		if err == nil {
			d.status.set("partials", nil)
			if n != cs.Partitions {
				return fmt.Errorf("the partials topic has %d partitions, kafka.partials.partitions says %d: "+
					"the count decides each model's partition, so every replica and the topic must agree", n, cs.Partitions)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.status.set("partials", fmt.Errorf("preparing the partials topic: %w", err))
		d.log.Warn("kafka unavailable for the partials topic at start; retrying", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
