package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/sentinel-ml/sentinel/internal/alerts"
	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/daemon"
	"github.com/sentinel-ml/sentinel/internal/event"
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
	if err == nil && *check {
		err = checkClients(cfg, w)
	}
	if err != nil {
		return fail(stderr, "run", w.secrets.error(fmt.Errorf("%s: %w", *configPath, err)))
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
	log := slog.New(redactingHandler{Handler: newLogger(stderr, lvl).Handler(), secrets: w.secrets})
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
	// secrets are the credentials resolved, kept out of the log and of
	// error messages.
	secrets secrets
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
		w.secrets.add(w.password)
	}
	if w.dsn, err = resolveDSN(cfg); err != nil {
		errs = append(errs, err)
	}
	w.secrets.addDSN(w.dsn)
	return w, errors.Join(errs...)
}

// checkClients builds, without connecting, every client the daemon would
// use, so that --check-config parses every DSN and address and loads every
// TLS file it names: an unparsable DSN fails here, not at 3 a.m.
func checkClients(cfg *config.Daemon, w *wiring) error {
	var errs []error
	if _, err := net.ResolveTCPAddr("tcp", cfg.Listen.HTTP); err != nil {
		errs = append(errs, fmt.Errorf("listen.http: %w", err))
	}
	c, err := newClients(cfg, w, nil, nil, nil)
	if err != nil {
		errs = append(errs, err)
	} else {
		c.Close()
	}
	return errors.Join(errs...)
}

// clients are what the daemon connects with: the store, the consumer group
// and the dead-letter writer. Built, they have not connected yet.
type clients struct {
	st    *store.ClickHouse
	group *ingest.Group
	dl    *ingest.KafkaDeadLetters
	// partials and check are the two stages' clients, with
	// kafka.topics.partials: the partials topic's writer and the check
	// stage's group.
	partials *ingest.PartialsWriter
	check    *ingest.Group
}

// newClients builds every client, as serve and --check-config both do, and
// reports every one that cannot be built (a DSN that does not parse, a
// broker address without a port, a TLS file that cannot be read).
func newClients(cfg *config.Daemon, w *wiring, reg prometheus.Registerer, log *slog.Logger, tp trace.TracerProvider) (*clients, error) {
	c := &clients{}
	var errs []error
	sto := storeOptions(cfg, w, reg, log)
	sto.TracerProvider = tp
	var err error
	if c.st, err = store.New(sto); err != nil {
		errs = append(errs, fmt.Errorf("clickhouse: %w", err))
	}
	if c.group, err = ingest.NewGroup(groupOptions(cfg, w, reg, log)); err != nil {
		errs = append(errs, err)
	}
	if c.dl, err = ingest.NewKafkaDeadLetters(deadLetterOptions(cfg, w, reg, log)); err != nil {
		errs = append(errs, err)
	}
	if topic := cfg.Kafka.Topics.Partials; topic != "" {
		if c.partials, err = ingest.NewPartialsWriter(ingest.PartialsOptions{KafkaConn: kafkaConn(cfg, w), Topic: topic,
			Partitions: cfg.Kafka.Partials.Partitions, CheckGroup: checkGroup(cfg), Logger: log, Registerer: reg}); err != nil {
			errs = append(errs, err)
		}
		// The group's metrics are the events group's: registered once.
		if c.check, err = ingest.NewGroup(ingest.KafkaOptions{KafkaConn: kafkaConn(cfg, w), GroupID: checkGroup(cfg),
			Topics: []string{topic}, Logger: log}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		c.Close()
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Close closes the clients built, the dead-letter writer first and the store
// last, as they were opened.
func (c *clients) Close() {
	if c.check != nil {
		c.check.Close()
	}
	if c.partials != nil {
		c.partials.Close()
	}
	if c.dl != nil {
		c.dl.Close()
	}
	if c.group != nil {
		c.group.Close()
	}
	if c.st != nil {
		c.st.Close()
	}
}

func kafkaConn(cfg *config.Daemon, w *wiring) ingest.KafkaConn {
	conn := ingest.KafkaConn{Brokers: cfg.Kafka.Brokers, ClientID: cfg.Kafka.ClientID}
	if t := cfg.Kafka.TLS; t != nil {
		conn.TLS = &ingest.TLSOptions{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	if s := cfg.Kafka.SASL; s != nil {
		conn.SASL = &ingest.SASLOptions{Mechanism: s.Mechanism, Username: s.Username, Password: w.password}
	}
	return conn
}

// checkGroup is the check stage's consumer group.
func checkGroup(cfg *config.Daemon) string { return cfg.Kafka.GroupID + "-check" }

// stages returns the daemon's two-stage options, none without
// kafka.topics.partials.
func (c *clients) stages(cfg *config.Daemon, w *wiring) (daemon.Publisher, *daemon.CheckStage) {
	if c.partials == nil {
		return nil, nil
	}
	conn, topic, p := kafkaConn(cfg, w), cfg.Kafka.Topics.Partials, cfg.Kafka.Partials
	return c.partials, &daemon.CheckStage{Group: c.check, Partitions: p.Partitions,
		Ensure: func(ctx context.Context) (int, error) {
			return ingest.EnsureTopic(ctx, conn, topic, p.Partitions, p.Retention)
		}}
}

func storeOptions(cfg *config.Daemon, w *wiring, reg prometheus.Registerer, log *slog.Logger) store.Options {
	return store.Options{DSN: w.dsn, Database: cfg.ClickHouse.Database, Registerer: reg, Logger: log}
}

func groupOptions(cfg *config.Daemon, w *wiring, reg prometheus.Registerer, log *slog.Logger) ingest.KafkaOptions {
	topics := []string{cfg.Kafka.Topics.Events}
	for _, t := range []string{cfg.Kafka.Topics.Labels, cfg.Kafka.Topics.Features} {
		if t != "" {
			topics = append(topics, t)
		}
	}
	return ingest.KafkaOptions{KafkaConn: kafkaConn(cfg, w), GroupID: cfg.Kafka.GroupID, Topics: topics,
		MaxBytes: cfg.Kafka.MaxMessageBytes, EventTime: event.TimeReader, Registerer: reg, Logger: log}
}

func deadLetterOptions(cfg *config.Daemon, w *wiring, reg prometheus.Registerer, log *slog.Logger) ingest.DeadLetterOptions {
	return ingest.DeadLetterOptions{KafkaConn: kafkaConn(cfg, w), Topic: cfg.Kafka.Topics.DeadLetters,
		Reasons: pipeline.Reasons(), Registerer: reg, Logger: log}
}

// loadModels loads every model, reporting every one that fails.
func loadModels(refs []config.ModelRef) ([]*model.Model, error) {
	var errs []error
	models := make([]*model.Model, 0, len(refs))
	var l model.Loader
	for _, ref := range refs {
		m, err := l.Load(ref)
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
	c, err := newClients(cfg, w, reg, log, tp)
	if err != nil {
		return err
	}
	defer c.Close()
	st, group, dl := c.st, c.group, c.dl
	results, board, stopAlerts, err := observers(cfg, w, st, reg, log)
	if err != nil {
		return err
	}
	// Deferred before the daemon stops, so run after it: the last windows'
	// alerts are evaluated before the evaluator flushes and stops.
	defer stopAlerts()
	popts := pipeline.OptionsFromConfig(cfg, w.models)
	popts.DeadLetters, popts.Now, popts.Registerer, popts.Logger, popts.TracerProvider = dl, time.Now, reg, log, tp
	publish, check := c.stages(cfg, w)
	d, err := daemon.New(daemon.Options{Pipeline: popts, Group: group, Store: results, Listen: cfg.Listen.HTTP, Gatherer: reg,
		Status: board, TickEvery: cfg.Staleness.CheckInterval, CommitEvery: time.Second, Registerer: reg, Logger: log,
		Publish: publish, Check: check})
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
	began := time.Now()
	if err := d.Stop(stopCtx); err != nil {
		return err
	}
	// The last line an operator reads after a SIGTERM: without it, a drain
	// that finished and one cut short by the kill look alike.
	log.Info("drained and stopped", "took", time.Since(began).Round(time.Millisecond).String())
	return nil
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

// secrets are credentials the configuration resolved to: the SASL password
// and the ClickHouse DSN's password (and the DSN whole). None of the
// libraries underneath is known to print them, but an error that quoted a
// connection string would; the daemon's log and the errors it prints pass
// through here. Secrets shorter than minSecret are left alone: masking every
// "ab" in the log would garble it and hide little.
type secrets struct {
	values []string
}

const minSecret = 4

func (s *secrets) add(v string) {
	if len(v) >= minSecret {
		s.values = append(s.values, v)
	}
}

// addDSN adds a DSN's password, and the DSN itself when it carries one.
func (s *secrets) addDSN(dsn string) {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return
	}
	if p, ok := u.User.Password(); ok && p != "" {
		s.add(dsn)
		s.add(p)
		if esc := url.QueryEscape(p); esc != p {
			s.add(esc)
		}
	}
}

// redact replaces every secret in text.
func (s secrets) redact(text string) string {
	for _, v := range s.values {
		text = strings.ReplaceAll(text, v, "xxxxx")
	}
	return text
}

// error redacts an error's text; nil stays nil.
func (s secrets) error(err error) error {
	if err == nil || len(s.values) == 0 {
		return err
	}
	return errors.New(s.redact(err.Error()))
}

// redactingHandler masks secrets in a record's message and attributes,
// errors included, before its handler formats it.
type redactingHandler struct {
	slog.Handler
	secrets secrets
}

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	if len(h.secrets.values) == 0 {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, h.secrets.redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.secrets.redact(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, len(attrs))
		for i, g := range attrs {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.secrets.redact(err.Error()))
		}
		// Other values keep their form (a list of partitions stays a JSON
		// list) unless their text holds a secret.
		if text := fmt.Sprint(v.Any()); h.secrets.redact(text) != text {
			return slog.String(a.Key, h.secrets.redact(text))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return redactingHandler{Handler: h.Handler.WithAttrs(red), secrets: h.secrets}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{Handler: h.Handler.WithGroup(name), secrets: h.secrets}
}
