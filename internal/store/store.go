// Package store keeps Sentinel's results in ClickHouse: window profiles, check
// results, anomaly verdicts, rejected-message counts and drift references. Tables are ReplacingMergeTree
// keyed so that a window re-written after a crash replaces its first copy.
package store

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// WindowProfile is one feature's profile in one window. Feature "" is the
// model-level row (volume, prediction, latency).
type WindowProfile struct {
	Model       string
	Feature     string
	WindowStart time.Time
	WindowEnd   time.Time
	// Partition is the Kafka partition the profile covers, or -1 for a profile
	// merged over all the partitions one instance reads.
	Partition  int32
	Rows       uint64
	Nulls      uint64
	NaN        uint64
	PosInf     uint64
	NegInf     uint64
	Finite     uint64
	Min        float64
	Max        float64
	Mean       float64
	StdDev     float64
	Violations map[string]uint64
	Distinct   float64
	// State is the serialised mergeable profile, opaque to the store.
	State []byte
}

// RejectedCount is the count of messages of one topic-partition rejected
// (dead-lettered) by model (or "unknown") and reason over one minute of
// arrival, as it stands: a later row of the same key replaces an earlier one.
type RejectedCount struct {
	Model       string
	Reason      string
	Topic       string
	Partition   int32
	WindowStart time.Time
	Count       uint64
	// Through is the highest offset of the topic-partition whose rejection is
	// counted, in this row or another.
	Through int64
}

// ReferenceSummary is what drift keeps of one feature (or "prediction") over
// one reference period: written when the period completes, and for the period
// in progress at a shutdown, so that a restart compares against the reference
// at once instead of after one or two periods. A later row of the same model,
// feature and period replaces an earlier one.
type ReferenceSummary struct {
	Model       string
	Feature     string
	PeriodStart time.Time
	// State is the serialised summary, opaque to the store.
	State []byte
}

// Batch is what the pipeline writes when windows close.
type Batch struct {
	Profiles   []WindowProfile
	Results    []check.Result
	Anomalies  []check.Verdict
	Rejected   []RejectedCount
	References []ReferenceSummary
}

// Empty reports whether the batch holds nothing.
func (b *Batch) Empty() bool {
	return len(b.Profiles) == 0 && len(b.Results) == 0 && len(b.Anomalies) == 0 && len(b.Rejected) == 0 &&
		len(b.References) == 0
}

// Clone returns a copy of b whose slices, the profiles' states among them,
// share no memory with b's.
func (b Batch) Clone() Batch {
	c := Batch{Profiles: slices.Clone(b.Profiles), Results: slices.Clone(b.Results), Anomalies: slices.Clone(b.Anomalies),
		Rejected: slices.Clone(b.Rejected), References: slices.Clone(b.References)}
	for i := range c.Profiles {
		c.Profiles[i].State = bytes.Clone(c.Profiles[i].State)
	}
	return c
}

// Writer stores batches durably: when Write returns nil, the batch survives a
// crash of Sentinel. Write retries transient failures with backoff until ctx ends,
// so a ClickHouse outage stalls the pipeline (and so consumption) instead of
// buffering without bound. Write keeps nothing of b's slices, nor of the
// profiles' states, once it returns (a writer that keeps the batch keeps
// b.Clone()): the pipeline reuses their memory for the batches after it.
type Writer interface {
	Write(ctx context.Context, b Batch) error
}

// History reads back what was written, for restarts.
type History interface {
	// ClosedWindows returns, per model, the end of the latest window written.
	ClosedWindows(ctx context.Context) (map[string]time.Time, error)
	// Results returns a model's check results with window_start ≥ since, in
	// window order, one row per (window, kind, feature, metric).
	Results(ctx context.Context, model string, since time.Time) ([]check.Result, error)
	// Profiles returns a model's window profiles with window_start ≥ since,
	// with their state, so that windows written at a shutdown can be reopened.
	// Only the model, feature, window, partition, row count and state are read.
	Profiles(ctx context.Context, model string, since time.Time) ([]WindowProfile, error)
	// Window returns the rows of one window of a model, as Profiles does, for
	// events that arrive after it was written.
	Window(ctx context.Context, model string, start time.Time) ([]WindowProfile, error)
	// Counted returns every model's model-level rows (feature "", whose
	// state says what the window counted) of windows with window_start ≥
	// since, ordered by model and window: what a scaled-out process that
	// takes over partitions needs to know of the windows stored.
	Counted(ctx context.Context, since time.Time) ([]WindowProfile, error)
	// Rejections returns the rejection counts of a topic-partition from since
	// on, and the highest offset any of its rows counts (-1 when none).
	Rejections(ctx context.Context, topic string, partition int32, since time.Time) ([]RejectedCount, int64, error)
	// References returns a model's reference summaries of periods starting at
	// or after since, the latest row of each (feature, period), ordered by
	// period and feature.
	References(ctx context.Context, model string, since time.Time) ([]ReferenceSummary, error)
}

// Tee writes every batch to each writer in turn, stopping at the first error.
func Tee(writers ...Writer) Writer { return tee(writers) }

type tee []Writer

func (t tee) Write(ctx context.Context, b Batch) error {
	for _, w := range t {
		if err := w.Write(ctx, b); err != nil {
			return err
		}
	}
	return nil
}
