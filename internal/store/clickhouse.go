package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sentinel-ml/sentinel/internal/tracing"
)

// ClickHouse is the store on a ClickHouse server, over the native protocol.
// It is safe for concurrent use.
type ClickHouse struct {
	tracer  trace.Tracer
	conn    driver.Conn
	db      string
	opts    Options
	metrics metrics
}

var (
	_ Writer  = (*ClickHouse)(nil)
	_ History = (*ClickHouse)(nil)
)

type metrics struct {
	writeDuration prometheus.Histogram
	retries       *prometheus.CounterVec
	rows          *prometheus.CounterVec
	registerer    prometheus.Registerer
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		writeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sentinel_store_write_duration_seconds",
			Help:    "Time a Write took to make a batch durable, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentinel_store_write_retries_total",
			Help: "INSERTs that failed with a transient error and were tried again.",
		}, []string{"table"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentinel_store_rows_written_total",
			Help: "Rows durably written, by table.",
		}, []string{"table"}),
		registerer: reg,
	}
	if reg == nil {
		reg = prometheus.NewRegistry() // counted, but exported nowhere
		m.registerer = reg
	}
	var registered []prometheus.Collector
	for _, c := range []prometheus.Collector{m.writeDuration, m.retries, m.rows} {
		if err := reg.Register(c); err != nil {
			for _, r := range registered {
				reg.Unregister(r)
			}
			return metrics{}, fmt.Errorf("store: registering metrics: %w", err)
		}
		registered = append(registered, c)
	}
	// Series for every table from the start, so rate() sees the first write.
	for _, t := range allTables() {
		m.retries.WithLabelValues(t.name)
		m.rows.WithLabelValues(t.name)
	}
	return m, nil
}

func (m metrics) unregister() {
	m.registerer.Unregister(m.writeDuration)
	m.registerer.Unregister(m.retries)
	m.registerer.Unregister(m.rows)
}

// Open connects to ClickHouse and runs Migrate, retrying while the server is
// unreachable until ctx ends. Callers that must not wait for the server bound
// ctx.
func Open(ctx context.Context, opts Options) (*ClickHouse, error) {
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	if err := c.Migrate(ctx); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// New builds the store without touching the network: the driver dials on
// first use, and Migrate prepares the schema.
func New(opts Options) (*ClickHouse, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	chOpts, err := clickhouse.ParseDSN(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("store: parsing DSN: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	conn, err := clickhouse.Open(chOpts)
	if err != nil {
		m.unregister()
		return nil, fmt.Errorf("store: opening connection pool: %w", err)
	}
	return &ClickHouse{tracer: tracing.Tracer(opts.TracerProvider), conn: conn, db: opts.Database, opts: opts, metrics: m}, nil
}

// Close releases the connections and unregisters the metrics, so that a new
// store can be opened on the same registry.
func (c *ClickHouse) Close() error {
	c.metrics.unregister()
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("store: closing connections: %w", err)
	}
	return nil
}

// Ping reports whether the server answers, for readiness probes.
func (c *ClickHouse) Ping(ctx context.Context) error {
	if err := c.conn.Ping(ctx); err != nil {
		return fmt.Errorf("store: pinging ClickHouse: %w", err)
	}
	return nil
}

// Drop drops the database and everything in it, for a demonstration that
// starts afresh each run: history left by an earlier run would be restored as
// the new run's past.
func (c *ClickHouse) Drop(ctx context.Context) error {
	if err := c.conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS `%s`", c.db)); err != nil {
		return fmt.Errorf("store: dropping database %s: %w", c.db, err)
	}
	return nil
}

// Migrate creates the database and brings its tables to the latest schema.
// Every step is idempotent, so running it again, or from two instances at
// once, changes nothing. Transient failures are retried until ctx ends.
func (c *ClickHouse) Migrate(ctx context.Context) error {
	exec := func(what, sql string) error {
		return c.retry(ctx, what, nil, func(ctx context.Context) error { return c.conn.Exec(ctx, sql) })
	}
	if err := exec("creating database "+c.db, createDatabaseSQL(c.db)); err != nil {
		return err
	}
	if err := exec("creating table schema_migrations", createMigrationsSQL(c.db)); err != nil {
		return err
	}
	var current uint32
	err := c.retry(ctx, "reading the schema version", nil, func(ctx context.Context) error {
		return c.conn.QueryRow(ctx, fmt.Sprintf("SELECT max(version) FROM `%s`.schema_migrations", c.db)).Scan(&current)
	})
	if err != nil {
		return err
	}
	for _, m := range migrations(c.db) {
		if m.version <= current {
			continue
		}
		for _, sql := range m.statements {
			err := exec(fmt.Sprintf("applying schema version %d", m.version), sql)
			if err != nil && !alreadyApplied(sql, err) {
				return err
			}
		}
		err := c.retry(ctx, fmt.Sprintf("recording schema version %d", m.version), nil, func(ctx context.Context) error {
			return c.sendRows(ctx, fmt.Sprintf("INSERT INTO `%s`.schema_migrations (version, applied_at)", c.db),
				[]any{[]uint32{m.version}, []time.Time{c.opts.Now().UTC()}})
		})
		if err != nil {
			return err
		}
		c.opts.Logger.Info("store: applied schema version", "database", c.db, "version", m.version)
	}
	return nil
}

// alreadyApplied reports whether a step failed because another instance,
// migrating at the same time, applied it first: 18.16 knows no IF NOT EXISTS
// for columns nor IF EXISTS for renames.
func alreadyApplied(sql string, err error) bool {
	msg := err.Error()
	switch {
	case strings.HasPrefix(sql, "ALTER TABLE"):
		return strings.Contains(msg, "already exists")
	case strings.HasPrefix(sql, "RENAME TABLE"):
		return strings.Contains(msg, "already exists") || strings.Contains(msg, "doesn't exist")
	}
	return false
}

// Write makes b durable: one INSERT per non-empty table, each retried on
// transient failures with exponential backoff and jitter until ctx ends. A
// table already written is not written again when a later one is retried.
// All rows carry the same version, the write time, so a later Write of the
// same windows replaces them.
func (c *ClickHouse) Write(ctx context.Context, b Batch) (err error) {
	if b.Empty() {
		return nil
	}
	ctx, span := c.tracer.Start(ctx, tracing.SpanStoreWrite)
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "write failed")
		}
		span.End()
	}()
	start := time.Now()
	ins, err := inserts(b, uint64(c.opts.Now().UnixNano()))
	if err != nil {
		return fmt.Errorf("store: converting batch: %w", err)
	}
	for _, in := range ins {
		span.SetAttributes(attribute.Int("sentinel.rows."+in.table.name, in.rows))
		what := fmt.Sprintf("writing %d rows to %s", in.rows, in.table.name)
		err := c.retry(ctx, what, c.metrics.retries.WithLabelValues(in.table.name), func(ctx context.Context) error {
			return c.sendRows(ctx, in.table.insertSQL(c.db), in.columns)
		})
		if err != nil {
			return err
		}
		c.metrics.rows.WithLabelValues(in.table.name).Add(float64(in.rows))
	}
	c.metrics.writeDuration.Observe(time.Since(start).Seconds())
	return nil
}

// sendRows runs one columnar INSERT.
func (c *ClickHouse) sendRows(ctx context.Context, sql string, columns []any) error {
	batch, err := c.conn.PrepareBatch(ctx, sql)
	if err != nil {
		return fmt.Errorf("preparing INSERT: %w", err)
	}
	defer batch.Close()
	for i, col := range columns {
		if err := batch.Column(i).Append(col); err != nil {
			// The server is not to blame: retrying cannot help.
			return permanentError{fmt.Errorf("appending column %d: %w", i, err)}
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("sending INSERT: %w", err)
	}
	return nil
}

// permanentError marks a failure that retrying would only repeat.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// transient reports whether err may go away by itself: a network failure, an
// overloaded or restarting server. A statement the server rejects (unknown
// table, type mismatch, syntax) would fail again, so it is returned instead.
func transient(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return false
	}
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return true
	}
	switch ex.Code {
	case 3, // UNEXPECTED_END_OF_FILE
		32,  // ATTEMPT_TO_READ_AFTER_EOF
		159, // TIMEOUT_EXCEEDED
		173, // CANNOT_ALLOCATE_MEMORY
		202, // TOO_MANY_SIMULTANEOUS_QUERIES
		203, // NO_FREE_CONNECTION
		209, // SOCKET_TIMEOUT
		210, // NETWORK_ERROR
		225, // NO_ZOOKEEPER
		236, // ABORTED
		241, // MEMORY_LIMIT_EXCEEDED
		242, // TABLE_IS_READ_ONLY
		243, // NOT_ENOUGH_SPACE
		252, // TOO_MANY_PARTS
		319, // UNKNOWN_STATUS_OF_INSERT
		394, // QUERY_WAS_CANCELLED
		425, // SYSTEM_ERROR
		439, // CANNOT_SCHEDULE_TASK
		999: // KEEPER_EXCEPTION
		return true
	}
	return false
}

// retry runs op until it succeeds, fails permanently or ctx ends. Backoff
// doubles from RetryInitial to RetryMax; each wait is drawn from its upper
// half so that instances that failed together do not retry together.
func (c *ClickHouse) retry(ctx context.Context, what string, retries prometheus.Counter, op func(context.Context) error) error {
	backoff := c.opts.RetryInitial
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("store: %s: gave up after %d attempts: %w (last error: %w)", what, attempt, ctx.Err(), err)
		}
		if !transient(err) {
			return fmt.Errorf("store: %s: %w", what, err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if retries != nil {
			retries.Inc()
		}
		c.opts.Logger.Warn("store: retrying", "op", what, "attempt", attempt, "wait", wait, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("store: %s: gave up after %d attempts: %w (last error: %w)", what, attempt, ctx.Err(), err)
		case <-timer.C:
		}
		backoff = min(2*backoff, c.opts.RetryMax)
	}
}

// sinceWindow holds for windows starting at or after the seconds and
// milliseconds of sinceArgs (the seconds twice).
const sinceWindow = "window_start >= toDateTime(?) AND (window_start > toDateTime(?) OR window_start_ms >= ?)"

// sinceArgs splits a lower bound into the seconds and milliseconds columns,
// clamped to what DateTime holds.
func sinceArgs(since time.Time) (uint32, uint16) {
	secs := uint32(min(max(since.Unix(), 0), math.MaxUint32))
	ms := uint16(since.Nanosecond() / int(time.Millisecond))
	if since.Unix() < 0 {
		ms = 0
	}
	return secs, ms
}
