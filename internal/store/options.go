package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for the retry backoff when Options leaves it zero.
const (
	DefaultRetryInitial = 100 * time.Millisecond
	DefaultRetryMax     = 30 * time.Second
)

// Options configures Open.
type Options struct {
	// DSN is a clickhouse-go/v2 native-protocol address, for example
	// clickhouse://user:password@127.0.0.1:9000/default?dial_timeout=5s&compress=lz4.
	// Its database is only the one the connection starts in: it must exist
	// already. ClickHouse 18.16 does not speak clickhouse-go's HTTP protocol, so
	// http:// DSNs work with current servers only.
	DSN string
	// Database holds Sentinel's tables; Migrate creates it. A plain identifier,
	// because it is spliced into DDL.
	Database string
	// RetryInitial and RetryMax bound the exponential backoff between attempts
	// of a failed write; zero means DefaultRetryInitial and DefaultRetryMax.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// Registerer receives the store's metrics; nil registers nothing (never
	// the global registry).
	Registerer prometheus.Registerer
	// Logger receives retry warnings; nil discards them.
	Logger *slog.Logger
	// TracerProvider receives a span per batch written; nil traces nothing.
	TracerProvider trace.TracerProvider
	// Now stamps each write's version column, so that the later write of a
	// window wins; nil means time.Now.
	Now func() time.Time
}

// Validate reports every problem with o at once.
func (o Options) Validate() error {
	var errs []error
	if o.DSN == "" {
		errs = append(errs, errors.New("store: DSN is empty"))
	} else if _, err := clickhouse.ParseDSN(o.DSN); err != nil {
		errs = append(errs, fmt.Errorf("store: DSN: %w", err))
	}
	if !isIdentifier(o.Database) {
		errs = append(errs, fmt.Errorf("store: database %q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", o.Database))
	}
	if o.RetryInitial < 0 {
		errs = append(errs, fmt.Errorf("store: retry initial backoff %v is negative", o.RetryInitial))
	}
	if o.RetryMax < 0 {
		errs = append(errs, fmt.Errorf("store: retry max backoff %v is negative", o.RetryMax))
	}
	if o.RetryInitial > 0 && o.RetryMax > 0 && o.RetryInitial > o.RetryMax {
		errs = append(errs, fmt.Errorf("store: retry initial backoff %v exceeds max backoff %v", o.RetryInitial, o.RetryMax))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.RetryInitial == 0 {
		o.RetryInitial = min(DefaultRetryInitial, o.RetryMax)
		if o.RetryInitial == 0 {
			o.RetryInitial = DefaultRetryInitial
		}
	}
	if o.RetryMax == 0 {
		o.RetryMax = max(DefaultRetryMax, o.RetryInitial)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}
