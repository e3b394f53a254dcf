package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sentinel-ml/sentinel/internal/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "demo [--duration 3m] [--speed 30] [--seed 1] [--listen 127.0.0.1:9090] [--clickhouse DSN]", stderr)
	duration := fs.Duration("duration", 3*time.Minute, "how long the demonstration runs, warm-up included")
	speed := fs.Float64("speed", 30, "time compression: windows last a minute divided by this")
	seed := fs.Uint64("seed", 1, "seed of the traffic")
	listen := fs.String("listen", "127.0.0.1:9090", "address of /metrics, /healthz and /readyz; empty serves nothing")
	dsn := fs.String("clickhouse", defaultDemoDSN(), "ClickHouse to store in (database sentinel_demo, emptied at start and kept after); when it does not answer, results stay in memory")
	verbose := fs.Bool("verbose", false, "print the daemon's log (JSON) to standard error")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = newLogger(stderr, slog.LevelInfo)
	}
	card, err := demo.Run(ctx, demo.Options{Duration: *duration, Speed: *speed, Seed: *seed, Listen: *listen, DSN: *dsn,
		Out: stdout, Logger: log})
	if err != nil {
		return fail(stderr, "demo", err)
	}
	if missed := card.Missed(); len(missed) > 0 {
		fmt.Fprintf(stdout, "\nmissed: %s\n", strings.Join(missed, ", "))
		return exitFindings
	}
	return exitOK
}

// defaultDemoDSN is the ClickHouse `make test` and `make demo` start, unless
// the environment names another.
func defaultDemoDSN() string {
	if dsn := os.Getenv("SENTINEL_CLICKHOUSE_DSN"); dsn != "" {
		return dsn
	}
	return "clickhouse://127.0.0.1:19000/default"
}
