package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sentinel-ml/sentinel/internal/anomaly"
)

func runBacktest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("backtest", "backtest --input metrics.csv --period P [--train N] [--format json|text]", stderr)
	input := fs.String("input", "", "CSV with a timestamp column (RFC 3339) and one numeric column per metric; an empty cell is missing")
	period := fs.Int("period", 0, "rows per season, e.g. 24 for hourly windows with a daily cycle")
	train := fs.Int("train", 0, "rows to fit on (default: the larger of three periods and 60% of the rows)")
	format := fs.String("format", "json", "output format: json (every scored row), or text (what the score and the threshold mean, then each flagged row\n"+
		"with its score and the metrics to blame: value, expected value, deviation and contribution, the metric's share of the score)")
	varianceShare := fs.Float64("variance-share", 0.9, "share of variance the principal components must explain")
	falseAlarms := fs.Float64("false-alarm-rate", 0.002, "share of healthy rows that may be flagged; it sets the score threshold.\n"+
		"A score is -log10 of the estimated chance that a healthy row looks as unusual, capped at 300")
	refitEvery := fs.Int("refit-every", 0, "refit the model after this many scored rows, as the daemon does on a schedule (0: never)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	switch {
	case *input == "":
		return usageError(fs, "--input is required")
	case *period == 0:
		return usageError(fs, "--period is required")
	case *format != "json" && *format != "text":
		return usageError(fs, fmt.Sprintf("--format %q: want json or text", *format))
	case *train < 0:
		return usageError(fs, fmt.Sprintf("--train %d: must not be negative", *train))
	}
	cfg := anomaly.Config{Period: *period, VarianceShare: *varianceShare, FalseAlarmRate: *falseAlarms, RefitEvery: *refitEvery}
	if err := cfg.Validate(); err != nil {
		return fail(stderr, "backtest", err)
	}
	f, err := os.Open(*input)
	if err != nil {
		return fail(stderr, "backtest", err)
	}
	defer f.Close()
	tab, err := anomaly.ReadCSV(f)
	if err != nil {
		return fail(stderr, "backtest", fmt.Errorf("%s: %w", *input, err))
	}
	rep, err := anomaly.Backtest(ctx, tab, cfg, *train)
	if err != nil {
		return fail(stderr, "backtest", fmt.Errorf("%s: %w", *input, err))
	}
	if *format == "text" {
		err = rep.WriteText(stdout)
	} else {
		err = rep.WriteJSON(stdout)
	}
	if err != nil {
		// The report could not be written: no findings to act on, an error.
		return fail(stderr, "backtest", err)
	}
	// Flagged rows are the backtest's measurement, not findings: it exits 0.
	return exitOK
}
