package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"EOF mid-insert", fmt.Errorf("sending INSERT: %w", io.EOF), true},
		{"too many parts", fmt.Errorf("sending INSERT: %w", &clickhouse.Exception{Code: 252}), true},
		{"memory limit", &clickhouse.Exception{Code: 241}, true},
		{"unknown table", fmt.Errorf("preparing INSERT: %w", &clickhouse.Exception{Code: 60}), false},
		{"type mismatch", &clickhouse.Exception{Code: 53}, false},
		{"syntax error", &clickhouse.Exception{Code: 62}, false},
		{"append rejected by the driver", permanentError{errors.New("converting")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transient(tt.err); got != tt.want {
				t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// A ClickHouse outage must stall the writer, not lose the batch or fail it:
// Write keeps trying until its context ends and then says why it stopped.
func TestWriteRetriesUntilContextEnds(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			opts := validOptions()
			opts.DSN = "clickhouse://" + closedPort(t) + "/default?dial_timeout=1s"
			opts.RetryInitial, opts.RetryMax = 5*time.Millisecond, 20*time.Millisecond
			opts.Registerer = reg
			s, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()

			ctx, cancel := tt.ctx()
			defer cancel()
			began := time.Now()
			err = s.Write(ctx, sampleBatch())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Write() = %v, want an error wrapping %v", err, tt.want)
			}
			if took := time.Since(began); took < 250*time.Millisecond {
				t.Errorf("Write gave up after %v, before its context ended", took)
			}
			if n := counterSum(t, reg, "sentinel_store_write_retries_total"); n < 3 {
				t.Errorf("%v retries counted, want several", n)
			}
			if n := counterSum(t, reg, "sentinel_store_rows_written_total"); n != 0 {
				t.Errorf("%v rows counted as written to a closed port", n)
			}
		})
	}
}

func TestCloseUnregistersMetrics(t *testing.T) {
	opts := validOptions()
	for range 2 {
		s, err := New(opts)
		if err != nil {
			t.Fatalf("opening a store on a registry a closed store used: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := New(opts); err == nil {
		t.Error("two open stores on one registry: want a registration error")
	}
}
