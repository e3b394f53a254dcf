package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("replay", "replay --input events.jsonl [--features offline.jsonl] (--config C [--store] | --contract C --baseline B [--window 1m]) [--output findings.jsonl]", stderr)
	var f replayFlags
	fs.StringVar(&f.input, "input", "", "recorded events (and labels), one JSON envelope per line (required)")
	fs.StringVar(&f.features, "features", "", "recorded offline feature values of the same requests, for keyed skew (the features topic)")
	fs.StringVar(&f.config, "config", "", "sentinel.yaml: its models, windows and every check setting")
	fs.StringVar(&f.contract, "contract", "", "one model's contract (with --baseline, instead of --config)")
	fs.StringVar(&f.baseline, "baseline", "", "that model's baseline")
	fs.DurationVar(&f.window, "window", time.Minute, "window size with --contract")
	fs.DurationVar(&f.lateness, "lateness", 30*time.Second, "allowed lateness with --contract")
	fs.StringVar(&f.output, "output", "-", "where to write findings as JSON lines (- for standard output)")
	fs.IntVar(&f.fitAfter, "fit-after", 0, "windows of history before the anomaly detector scores (default: the configuration's anomaly.fit_after, else a season)")
	fs.BoolVar(&f.noAnomaly, "no-anomaly", false, "do not run the anomaly detector")
	fs.TextVar(&f.logLevel, "log-level", slog.LevelWarn, "the pipeline's log on standard error: debug, info (a line per window), warn or error")
	fs.BoolVar(&f.store, "store", false, "also write the results to the configuration's ClickHouse (with --config); off by default, since replayed windows replace the stored ones")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if f.input == "" || (f.config == "") == (f.contract == "") || (f.contract != "") != (f.baseline != "") {
		return usageError(fs, "--input and either --config or --contract with --baseline are required")
	}
	if f.store && f.config == "" {
		return fail(stderr, "replay", errors.New("--store needs --config, which says where ClickHouse is"))
	}
	d, err := f.daemonConfig()
	if err != nil {
		return fail(stderr, "replay", err)
	}
	if err := replay(ctx, &f, d, stdout, stderr); err != nil {
		return fail(stderr, "replay", err)
	}
	return exitOK
}

// replayFlags are replay's command line.
type replayFlags struct {
	input, features, config, contract, baseline, output string
	window, lateness                                    time.Duration
	fitAfter                                            int
	noAnomaly, store                                    bool
	logLevel                                            slog.Level
}

// daemonConfig is the configuration replay runs with: --config's, or the
// defaults around --contract and --baseline, with the flags applied.
func (f *replayFlags) daemonConfig() (*config.Daemon, error) {
	d := config.DefaultDaemon()
	if f.config != "" {
		var err error
		if d, err = config.LoadDaemon(f.config); err != nil {
			return nil, err
		}
	} else {
		d.Windows.Size, d.Windows.AllowedLateness = f.window, f.lateness
		if d.Drift.ReferencePeriod < f.window {
			d.Drift.ReferencePeriod = f.window
		}
		d.Models = []config.ModelRef{{Contract: f.contract, Baseline: f.baseline}}
	}
	if f.fitAfter > 0 {
		d.Anomaly.FitAfter = f.fitAfter
		d.Anomaly.HistoryWindows = max(d.Anomaly.HistoryWindows, f.fitAfter)
	}
	if f.noAnomaly {
		d.Anomaly.Enabled = false
	}
	if f.features != "" && d.Kafka.Topics.Features == "" {
		d.Kafka.Topics.Features = "features"
	}
	return d, nil
}

// replay runs the daemon's pipeline over the recording and prints the
// findings, then a summary line.
func replay(ctx context.Context, f *replayFlags, d *config.Daemon, stdout, stderr io.Writer) error {
	models, err := loadModels(d.Models)
	if err != nil {
		return err
	}
	out := stdout
	if f.output != "-" {
		file, err := os.Create(f.output)
		if err != nil {
			return fmt.Errorf("creating output: %w", err)
		}
		defer file.Close()
		out = file
	}
	log := newLogger(stderr, f.logLevel)
	findings := pipeline.NewFindingsWriter(out)
	var writer store.Writer = findings
	if f.store {
		dsn, err := resolveDSN(d)
		if err != nil {
			return err
		}
		st, err := store.Open(ctx, store.Options{DSN: dsn, Database: d.ClickHouse.Database, Logger: log})
		if err != nil {
			return err
		}
		defer st.Close()
		writer = store.Tee(st, findings)
	}
	opts := pipeline.ReplayOptions(d, models)
	rejected := newRejectedLines()
	opts.Writer, opts.Registerer, opts.Logger, opts.DeadLetters = writer, prometheus.NewRegistry(), log, rejected
	p, err := pipeline.New(opts)
	if err != nil {
		return err
	}
	src, err := replaySource(f.input, f.features, d)
	if err != nil {
		return err
	}
	defer src.Close()
	start := time.Now()
	if err := pipeline.Replay(ctx, src, p); err != nil {
		return fmt.Errorf("%s: %w", f.input, err)
	}
	elapsed := time.Since(start).Seconds()
	st := p.Stats()
	rejected.write(stderr)
	if st.Messages == 0 {
		return fmt.Errorf("%s: no events", f.input)
	}
	// A file mostly unreadable is the wrong file or the wrong format, not a
	// recording with a few bad lines: its findings would mean nothing.
	if 2*st.Rejected > st.Messages {
		return fmt.Errorf("%s: %d of %d lines rejected (above): is it a recording of event envelopes, one JSON object per line?",
			f.input, st.Rejected, st.Messages)
	}
	summary := map[string]any{"kind": "summary", "events_read": st.Messages, "events": st.Events, "labels": st.Labels,
		"rejected": st.Rejected, "late": st.Late, "windows": st.Windows, "findings": findings.Findings,
		"seconds": elapsed, "events_per_second": float64(st.Messages) / elapsed}
	return errors.Join(json.NewEncoder(findingsOut{findings}).Encode(summary), findings.Flush())
}

// findingsOut lets the summary line follow the findings through one buffer.
type findingsOut struct{ f *pipeline.FindingsWriter }

func (o findingsOut) Write(b []byte) (int, error) { return o.f.WriteRaw(b) }

// replaySource reads the recorded events, merged in event time with the
// recorded offline values when there are any.
func replaySource(input, features string, d *config.Daemon) (ingest.Source, error) {
	// One byte over the message limit: longer lines arrive truncated to it and
	// are rejected as oversized, like a message over the limit on Kafka.
	limit := d.Kafka.MaxMessageBytes + 1
	events, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: input, MaxLineBytes: limit, Topic: d.Kafka.Topics.Events})
	if err != nil || features == "" {
		return events, err
	}
	offline, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: features, MaxLineBytes: limit, Topic: d.Kafka.Topics.Features})
	if err != nil {
		return nil, errors.Join(err, events.Close())
	}
	return ingest.Merge(event.TimeReader(), events, offline), nil
}
