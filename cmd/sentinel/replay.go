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
	"github.com/sentinel-ml/sentinel/internal/drift"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("replay", "replay --input events.jsonl (--config C [--store] | --contract C --baseline B [--window 1m]) [--output findings.jsonl]", stderr)
	input := fs.String("input", "", "recorded events, one JSON envelope per line (required)")
	configPath := fs.String("config", "", "sentinel.yaml: its models, windows and lateness")
	contractPath := fs.String("contract", "", "one model's contract (with --baseline, instead of --config)")
	baselinePath := fs.String("baseline", "", "that model's baseline")
	window := fs.Duration("window", time.Minute, "window size with --contract")
	lateness := fs.Duration("lateness", 30*time.Second, "allowed lateness with --contract")
	output := fs.String("output", "-", "where to write findings as JSON lines (- for standard output)")
	fitAfter := fs.Int("fit-after", 0, "windows of history before the anomaly detector scores (default: the configuration's anomaly.fit_after, 60)")
	noAnomaly := fs.Bool("no-anomaly", false, "do not run the anomaly detector")
	toStore := fs.Bool("store", false, "also write the results to the configuration's ClickHouse (with --config); off by default, since replayed windows replace the stored ones")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *input == "" || (*configPath == "") == (*contractPath == "") || (*contractPath != "") != (*baselinePath != "") {
		return usageError(fs, "--input and either --config or --contract with --baseline are required")
	}
	d := config.DefaultDaemon()
	var refs []config.ModelRef
	if *configPath != "" {
		var err error
		if d, err = config.LoadDaemon(*configPath); err != nil {
			return fail(stderr, "replay", err)
		}
		refs = d.Models
	} else {
		d.Windows.Size, d.Windows.AllowedLateness = *window, *lateness
		if d.Drift.ReferencePeriod < *window {
			d.Drift.ReferencePeriod = *window
		}
		refs = []config.ModelRef{{Contract: *contractPath, Baseline: *baselinePath}}
	}
	if *toStore && *configPath == "" {
		return fail(stderr, "replay", errors.New("--store needs --config, which says where ClickHouse is"))
	}
	if *fitAfter > 0 {
		d.Anomaly.FitAfter = *fitAfter
		d.Anomaly.HistoryWindows = max(d.Anomaly.HistoryWindows, *fitAfter)
	}
	var anomalyOpts *pipeline.AnomalyOptions
	if d.Anomaly.Enabled && !*noAnomaly {
		anomalyOpts = &pipeline.AnomalyOptions{FitAfter: d.Anomaly.FitAfter, HistoryWindows: d.Anomaly.HistoryWindows,
			RefitEvery: d.Anomaly.RefitEvery, FalseAlarmRate: d.Anomaly.FalseAlarmRate}
	}
	models := make([]*pipeline.Model, 0, len(refs))
	for _, ref := range refs {
		m, err := pipeline.LoadModel(ref)
		if err != nil {
			return fail(stderr, "replay", err)
		}
		models = append(models, m)
	}
	out := stdout
	if *output != "-" {
		f, err := os.Create(*output)
		if err != nil {
			return fail(stderr, "replay", fmt.Errorf("creating output: %w", err))
		}
		defer f.Close()
		out = f
	}
	findings := pipeline.NewFindingsWriter(out)
	var writer store.Writer = findings
	if *toStore {
		dsn := d.ClickHouse.DSN
		if dsn == "" {
			var err error
			if dsn, err = d.ClickHouse.DSNSecret.Resolve(); err != nil {
				return fail(stderr, "replay", fmt.Errorf("clickhouse.dsn_from: %w", err))
			}
		}
		st, err := store.Open(ctx, store.Options{DSN: dsn, Database: d.ClickHouse.Database, Registerer: prometheus.NewRegistry(),
			Logger: slog.New(slog.NewJSONHandler(stderr, nil))})
		if err != nil {
			return fail(stderr, "replay", err)
		}
		defer st.Close()
		writer = store.Tee(st, findings)
	}
	p, err := pipeline.New(pipeline.Options{
		Models: models, Window: d.Windows.Size, Lateness: d.Windows.AllowedLateness,
		ReferencePeriod: d.Drift.ReferencePeriod, MinSamples: d.Drift.MinSamples, MaxMessageBytes: d.Kafka.MaxMessageBytes,
		Labels:  &drift.JoinerConfig{MaxDelay: d.Labels.MaxDelay, MaxPending: d.Labels.MaxPending},
		Anomaly: anomalyOpts,
		Writer:  writer, Now: time.Now, Registerer: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewJSONHandler(stderr, nil)),
	})
	if err != nil {
		return fail(stderr, "replay", err)
	}
	// One byte over the message limit: longer lines arrive truncated to it and
	// are rejected as oversized, like a message over the limit on Kafka.
	src, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: *input, MaxLineBytes: d.Kafka.MaxMessageBytes + 1})
	if err != nil {
		return fail(stderr, "replay", err)
	}
	defer src.Close()
	start := time.Now()
	if err := pipeline.Replay(ctx, src, p); err != nil {
		return fail(stderr, "replay", fmt.Errorf("%s: %w", *input, err))
	}
	elapsed := time.Since(start).Seconds()
	st := p.Stats()
	if st.Messages == 0 {
		return fail(stderr, "replay", fmt.Errorf("%s: no events", *input))
	}
	summary := map[string]any{"kind": "summary", "events_read": st.Messages, "events": st.Events, "labels": st.Labels,
		"rejected": st.Rejected, "late": st.Late, "windows": st.Windows, "findings": findings.Findings,
		"seconds": elapsed, "events_per_second": float64(st.Messages) / elapsed}
	if err := errors.Join(json.NewEncoder(findingsOut{findings}).Encode(summary), findings.Flush()); err != nil {
		return fail(stderr, "replay", err)
	}
	return exitOK
}

// findingsOut lets the summary line follow the findings through one buffer.
type findingsOut struct{ f *pipeline.FindingsWriter }

func (o findingsOut) Write(b []byte) (int, error) { return o.f.WriteRaw(b) }
