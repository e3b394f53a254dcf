package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sentinel-ml/sentinel/internal/alerts"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/daemon"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/status"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/tracing"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run --config sentinel.yaml [--check-config]", stderr)
	configPath := fs.String("config", "", "the daemon's configuration (required)")
	check := fs.Bool("check-config", false, "validate the configuration, its contracts, baselines and secrets, print the configuration in effect (defaults filled in, secrets masked), then exit")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *configPath == "" {
		return usageError(fs, "--config is required")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fail(stderr, "run", fmt.Errorf("--log-level %q: want debug, info, warn or error", *level))
	}
	cfg, err := config.LoadDaemon(*configPath)
	if err != nil {
		return fail(stderr, "run", err)
	}
	w, err := wire(cfg)
	if err != nil {
		return fail(stderr, "run", fmt.Errorf("%s: %w", *configPath, err))
	}
	if *check {
		eff, err := cfg.Effective()
		if err != nil {
			return fail(stderr, "run", err)
		}
		// A comment, so that what is printed is YAML the daemon reads.
		fmt.Fprintf(stdout, "# %s: ok (%d models); the configuration in effect, defaults filled in, secrets masked:\n%s",
			*configPath, len(w.models), eff)
		return exitOK
	}
	log := newLogger(stderr, lvl)
	if err := serve(ctx, cfg, w, log); err != nil {
		log.Error("sentinel stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

// wiring is what the configuration resolves to before anything connects.
type wiring struct {
	models   []*model.Model
	password string
	dsn      string
}

// wire loads the models and resolves the secrets, reporting every problem.
func wire(cfg *config.Daemon) (*wiring, error) {
	w := &wiring{}
	var errs []error
	var err error
	if w.models, err = loadModels(cfg.Models); err != nil {
		errs = append(errs, err)
	}
	if s := cfg.Kafka.SASL; s != nil {
		if w.password, err = s.Password.Resolve(); err != nil {
			errs = append(errs, fmt.Errorf("kafka.sasl.password: %w", err))
		}
	}
	if w.dsn, err = resolveDSN(cfg); err != nil {
		errs = append(errs, err)
	}
	return w, errors.Join(errs...)
}

// loadModels loads every model, reporting every one that fails.
func loadModels(refs []config.ModelRef) ([]*model.Model, error) {
	var errs []error
	models := make([]*model.Model, 0, len(refs))
	for _, ref := range refs {
		m, err := model.Load(ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		models = append(models, m)
	}
	return models, errors.Join(errs...)
}

// resolveDSN returns the ClickHouse DSN, from the file or from its secret.
func resolveDSN(cfg *config.Daemon) (string, error) {
	if cfg.ClickHouse.DSN != "" {
		return cfg.ClickHouse.DSN, nil
	}
	dsn, err := cfg.ClickHouse.DSNSecret.Resolve()
	if err != nil {
		return "", fmt.Errorf("clickhouse.dsn_from: %w", err)
	}
	return dsn, nil
}

// serve runs the daemon until ctx ends (SIGTERM) or it fails, then drains it
// within the configured shutdown timeout.
func serve(ctx context.Context, cfg *config.Daemon, w *wiring, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo())
	conn := ingest.KafkaConn{Brokers: cfg.Kafka.Brokers, ClientID: cfg.Kafka.ClientID}
	if t := cfg.Kafka.TLS; t != nil {
		conn.TLS = &ingest.TLSOptions{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	if s := cfg.Kafka.SASL; s != nil {
		conn.SASL = &ingest.SASLOptions{Mechanism: s.Mechanism, Username: s.Username, Password: w.password}
	}
	topics := []string{cfg.Kafka.Topics.Events}
	for _, t := range []string{cfg.Kafka.Topics.Labels, cfg.Kafka.Topics.Features} {
		if t != "" {
			topics = append(topics, t)
		}
	}
	tp, err := tracing.FromEnv(ctx, os.Getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(shutdown); err != nil {
			log.Warn("flushing the last spans", "err", err)
		}
	}()
	// Nothing connects before the daemon serves /healthz: an unreachable
	// ClickHouse or Kafka is waited out, not a failed start.
	st, err := store.New(store.Options{DSN: w.dsn, Database: cfg.ClickHouse.Database, Registerer: reg, Logger: log,
		TracerProvider: tp})
	if err != nil {
		return err
	}
	defer st.Close()
	group, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: conn, GroupID: cfg.Kafka.GroupID, Topics: topics,
		MaxBytes: cfg.Kafka.MaxMessageBytes, Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	defer group.Close()
	dl, err := ingest.NewKafkaDeadLetters(ingest.DeadLetterOptions{KafkaConn: conn, Topic: cfg.Kafka.Topics.DeadLetters,
		Reasons: pipeline.Reasons(), Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	defer dl.Close()
	results, board, stopAlerts, err := observers(cfg, w, st, reg, log)
	if err != nil {
		return err
	}
	// Deferred before the daemon stops, so run after it: the last windows'
	// alerts are evaluated before the evaluator flushes and stops.
	defer stopAlerts()
	popts := pipeline.OptionsFromConfig(cfg, w.models)
	popts.DeadLetters, popts.Now, popts.Registerer, popts.Logger, popts.TracerProvider = dl, time.Now, reg, log, tp
	d, err := daemon.New(daemon.Options{Pipeline: popts, Group: group, Store: results, Listen: cfg.Listen.HTTP, Gatherer: reg,
		Status: board, TickEvery: cfg.Staleness.CheckInterval, CommitEvery: time.Second, Registerer: reg, Logger: log})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("draining", "timeout", cfg.ShutdownTimeout)
	case <-d.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return d.Stop(stopCtx)
}

// observers wraps the store in what watches the results: the status page's
// recorder, which shows what was stored, and the alert evaluator when
// Sentinel posts to Alertmanager itself. stop stops the evaluator.
func observers(cfg *config.Daemon, w *wiring, st *store.ClickHouse, reg prometheus.Registerer, log *slog.Logger) (
	results daemon.Store, board *status.Board, stop func(), err error) {
	// The contracts' severity overrides are exported for the rules, and used
	// by the evaluator.
	contracts := make([]*config.Contract, len(w.models))
	modelNames := make([]string, len(w.models))
	for i, m := range w.models {
		contracts[i], modelNames[i] = m.Contract, m.Name()
	}
	sev, err := alerts.NewSeverities(alerts.ContractSeverities(contracts))
	if err != nil {
		return nil, nil, nil, err
	}
	reg.MustRegister(sev)
	rec := status.NewRecorder(st, status.Options{Models: modelNames})
	board = &status.Board{Recorder: rec}
	if !cfg.Alertmanager.Enabled() {
		return observedStore{Store: st, w: rec}, board, func() {}, nil
	}
	eo := alerts.EvaluatorOptionsFromConfig(cfg)
	eo.Severities, eo.History, eo.Registerer, eo.Logger = sev, st, reg, log
	ev, err := alerts.NewEvaluator(eo)
	if err != nil {
		return nil, nil, nil, err
	}
	board.Alerts = ev
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ev.Run(ctx) }()
	stop = func() {
		cancel()
		<-done
	}
	return observedStore{Store: st, w: ev.Tee(rec)}, board, stop, nil
}

// observedStore writes through a writer that also shows every batch to the
// alert evaluator.
type observedStore struct {
	daemon.Store
	w store.Writer
}

func (s observedStore) Write(ctx context.Context, b store.Batch) error { return s.w.Write(ctx, b) }
