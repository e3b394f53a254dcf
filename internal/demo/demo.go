// Package demo shows the whole system on one machine: an in-process Kafka
// broker, traffic of two models with a compressed daily cycle and incidents
// injected on a schedule, Sentinel's own daemon reading it, and the alerts it
// raises printed as they fire and resolve, then a scorecard.
package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sentinel-ml/sentinel/internal/alerts"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/daemon"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/status"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// Options configure a demonstration.
type Options struct {
	// Duration is how long the demonstration runs, warm-up included.
	Duration time.Duration
	// Speed compresses time: windows last a minute divided by Speed.
	Speed float64
	// Seed makes the traffic repeatable.
	Seed uint64
	// Listen serves /metrics, /healthz and /readyz; empty serves nothing.
	Listen string
	// DSN is a ClickHouse to store in; when it does not answer, results are
	// kept in memory.
	DSN string
	// Database is the ClickHouse database, emptied at the start; default
	// sentinel_demo.
	Database string
	// Out is the terminal: the schedule, the alerts and the scorecard.
	Out io.Writer
	// Logger receives the daemon's log; nil discards.
	Logger *slog.Logger
}

// Validate reports every problem of the options.
func (o *Options) Validate() error {
	var errs []error
	if o.Speed < 1 {
		errs = append(errs, fmt.Errorf("speed %v: at least 1 (windows of a minute)", o.Speed))
	}
	if o.Out == nil {
		errs = append(errs, errors.New("no output"))
	}
	if o.Duration < o.minimum() {
		errs = append(errs, fmt.Errorf("duration %s: at least %s at speed %v, for the warm-up and every incident", o.Duration, o.minimum(), o.Speed))
	}
	return errors.Join(errs...)
}

// window is the demonstration's window size.
func (o *Options) window() time.Duration { return time.Duration(float64(time.Minute) / o.Speed) }

// warmup is the clean traffic before the first incident: long enough for the
// anomaly detector's first fit and the drift references.
func (o *Options) warmup() time.Duration { return warmupWindows * o.window() }

const warmupWindows = 20

// referenceWindows is the drift reference period, in windows.
const referenceWindows = 10

// minimum is the shortest demonstration that holds every incident, and the
// detection of the last: label decline is seen through labels two windows
// late, then its alerts wait out their for, and was found 7.3 s into its 8 s.
func (o *Options) minimum() time.Duration {
	incidents := Schedule(o.warmup(), o.window())
	return incidents[len(incidents)-1].End + 8*o.window()
}

// Run runs the demonstration until its duration has passed or ctx ends,
// and returns its scorecard.
func Run(ctx context.Context, opts Options) (*Scorecard, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("demo options: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	window := opts.window()
	incidents := Schedule(opts.warmup(), window)
	sys, err := build(ctx, opts, log, incidents)
	if err != nil {
		return nil, err
	}
	defer sys.close()
	printSchedule(opts, sys.where, incidents)
	// The traffic's clock starts now. The status page reads the marks only
	// once the daemon serves it, after this.
	start := time.Now()
	sys.marks.start = start

	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	alertsCtx, stopAlerts := context.WithCancel(context.Background())
	alertsDone := make(chan error, 1)
	go func() { alertsDone <- sys.ev.Run(alertsCtx) }()
	defer func() {
		stopAlerts()
		<-alertsDone
	}()
	if err := sys.daemon.Start(runCtx); err != nil {
		return nil, err
	}
	if a := sys.daemon.Addr(); a != nil {
		fmt.Fprintf(opts.Out, "status page on http://%s/ (metrics on /metrics)\n\n", a)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	produceErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		produceErr <- produce(runCtx, sys.brokers, newTraffic(opts.Seed, window, incidents), start)
	}()
	var fired []Fired
	go func() {
		defer wg.Done()
		fired = watch(runCtx, opts.Out, sys.ev, start)
	}()
	wg.Wait()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	if err := sys.daemon.Stop(stopCtx); err != nil {
		return nil, fmt.Errorf("stopping the daemon: %w", err)
	}
	if err := <-produceErr; err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	card := score(incidents, fired, window, time.Since(start), sys.where)
	card.print(opts.Out)
	return card, nil
}

// system is the demonstration's running parts.
type system struct {
	brokers []string
	daemon  *daemon.Daemon
	ev      *alerts.Evaluator
	where   string // where the results are stored, for people
	marks   *incidentMarks
	closers []func()
}

func (s *system) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// build writes the models, starts the broker and assembles the daemon with
// its store, alert evaluator and status page.
func build(ctx context.Context, opts Options, log *slog.Logger, incidents []Incident) (_ *system, err error) {
	sys := &system{marks: &incidentMarks{incidents: incidents}}
	defer func() {
		if err != nil {
			sys.close()
		}
	}()
	dir, err := os.MkdirTemp("", "sentinel-demo-")
	if err != nil {
		return nil, err
	}
	sys.closers = append(sys.closers, func() { os.RemoveAll(dir) })
	window := opts.window()
	refs, err := writeModels(ctx, dir, window, opts.Seed)
	if err != nil {
		return nil, err
	}
	var models []*model.Model
	var contracts []*config.Contract
	var names []string
	for _, ref := range refs {
		m, err := model.Load(ref)
		if err != nil {
			return nil, err
		}
		models, contracts, names = append(models, m), append(contracts, m.Contract), append(names, m.Name())
	}
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "events", "labels"), kfake.SeedTopics(1, "dead"),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("starting the in-process Kafka broker: %w", err)
	}
	sys.closers = append(sys.closers, broker.Close)
	sys.brokers = broker.ListenAddrs()
	cfg := daemonConfig(sys.brokers, window, refs)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	st, where, closeStore := openStore(ctx, opts.DSN, cmp.Or(opts.Database, "sentinel_demo"), reg, log)
	sys.where = where
	sys.closers = append(sys.closers, closeStore)
	sev, err := alerts.NewSeverities(alerts.ContractSeverities(contracts))
	if err != nil {
		return nil, err
	}
	reg.MustRegister(sev)
	eo := alerts.EvaluatorOptionsFromConfig(cfg)
	// An alert's `for` counts windows; the demonstration compresses hours
	// into minutes, so its alerts wait a fifth as many.
	eo.ForScale, eo.Severities, eo.Registerer, eo.Logger = 0.2, sev, reg, log
	if sys.ev, err = alerts.NewEvaluator(eo); err != nil {
		return nil, err
	}
	group, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: ingest.KafkaConn{Brokers: sys.brokers}, GroupID: cfg.Kafka.GroupID,
		Topics: []string{"events", "labels"}, MaxWait: 100 * time.Millisecond, SessionTimeout: time.Second,
		HeartbeatInterval: 100 * time.Millisecond, RebalanceTimeout: time.Second, Registerer: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	sys.closers = append(sys.closers, func() { group.Close() })
	dl, err := ingest.NewKafkaDeadLetters(ingest.DeadLetterOptions{KafkaConn: ingest.KafkaConn{Brokers: sys.brokers},
		Topic: "dead", Reasons: pipeline.Reasons(), Registerer: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	sys.closers = append(sys.closers, func() { dl.Close() })
	rec := status.NewRecorder(st, status.Options{Models: names})
	board := &status.Board{Recorder: rec, Alerts: sys.ev, Annotations: sys.marks}
	popts := pipeline.OptionsFromConfig(cfg, models)
	popts.DeadLetters, popts.Now, popts.Registerer, popts.Logger = dl, time.Now, reg, log
	sys.daemon, err = daemon.New(daemon.Options{Pipeline: popts, Group: group, Store: observed{Store: st, w: sys.ev.Tee(rec)},
		Listen: opts.Listen, Gatherer: reg, Status: board, TickEvery: window / 2, CommitEvery: time.Second,
		Registerer: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	return sys, nil
}

// incidentMarks mark each incident on the status page's charts, from the
// traffic's start.
type incidentMarks struct {
	incidents []Incident
	start     time.Time
}

func (m *incidentMarks) Annotations() []status.Annotation {
	out := make([]status.Annotation, len(m.incidents))
	for i, in := range m.incidents {
		out[i] = status.Annotation{Model: in.Model, Start: m.start.Add(in.Start), End: m.start.Add(in.End), Text: "incident: " + in.What}
	}
	return out
}

// daemonConfig is sentinel.yaml for the demonstration: windows of the
// compressed minute, the detector fitted after the warm-up's first part.
func daemonConfig(brokers []string, window time.Duration, refs []config.ModelRef) *config.Daemon {
	cfg := config.DefaultDaemon()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Topics = config.Topics{Events: "events", Labels: "labels", DeadLetters: "dead"}
	cfg.Windows.Size, cfg.Windows.AllowedLateness = window, window/2
	cfg.Windows.MaxFutureSkew, cfg.Windows.MaxAge, cfg.Windows.LateHorizon = time.Minute, time.Hour, 10*window
	cfg.Drift.ReferencePeriod = referenceWindows * window
	cfg.Staleness.CheckInterval, cfg.Staleness.MaxSilence = window/2, 2*window
	cfg.Anomaly.FitAfter, cfg.Anomaly.HistoryWindows = warmupWindows-5, 10*dayLength
	cfg.Labels.MaxDelay = 20 * window
	cfg.Models = refs
	return cfg
}

// openStore stores in ClickHouse when one answers at dsn, in memory otherwise.
// The database is emptied first, and kept after the run for a look at the
// results.
func openStore(ctx context.Context, dsn, database string, reg prometheus.Registerer, log *slog.Logger) (daemon.Store, string, func()) {
	if dsn == "" {
		return store.NewMemory(), "memory (no ClickHouse given; results last as long as the demonstration)", func() {}
	}
	st, err := store.New(store.Options{DSN: dsn, Database: database, Registerer: reg, Logger: log})
	if err != nil {
		return store.NewMemory(), fmt.Sprintf("memory (%v; results last as long as the demonstration)", err), func() {}
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = st.Ping(pctx)
	cancel()
	if err == nil {
		// An earlier run's windows would be restored as this run's past,
		// and its reference period compared with this traffic. Dropping a
		// large database takes a while on a busy machine.
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = st.Drop(dctx)
		cancel()
	}
	if err != nil {
		st.Close()
		return store.NewMemory(), fmt.Sprintf("memory (ClickHouse at %s: %v; results last as long as the demonstration)",
			redact(dsn), err), func() {}
	}
	return st, "ClickHouse at " + redact(dsn) + ", database " + database, func() { st.Close() }
}

// redact drops a DSN's credentials for printing.
func redact(dsn string) string {
	if at := strings.LastIndex(dsn, "@"); at >= 0 {
		if scheme := strings.Index(dsn, "://"); scheme >= 0 && scheme < at {
			return dsn[:scheme+3] + "…" + dsn[at:]
		}
	}
	return dsn
}

// observed writes through a writer that also shows each batch to the alert
// evaluator.
type observed struct {
	daemon.Store
	w store.Writer
}

func (o observed) Write(ctx context.Context, b store.Batch) error { return o.w.Write(ctx, b) }
