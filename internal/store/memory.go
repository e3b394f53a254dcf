package store

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// Memory is a store in memory, with the semantics of the ClickHouse tables read
// with FINAL: a row written again under the same key replaces the earlier one.
// It holds everything for the life of the process: for tests, and for a demo
// with no ClickHouse to reach. It is safe for concurrent use.
type Memory struct {
	mu         sync.Mutex
	profiles   map[profileKey]WindowProfile
	results    map[resultKey]check.Result
	verdicts   map[verdictKey]check.Verdict
	rejected   map[rejectedKey]RejectedCount
	references map[referenceKey]ReferenceSummary
}

type profileKey struct {
	model, feature string
	start          int64
	partition      int32
}

type resultKey struct {
	model           string
	start           int64
	kind            check.Kind
	feature, metric string
}

type verdictKey struct {
	model string
	start int64
}

type rejectedKey struct {
	model, reason, topic string
	start                int64
	partition            int32
}

type referenceKey struct {
	model, feature string
	start          int64
}

var (
	_ Writer  = (*Memory)(nil)
	_ History = (*Memory)(nil)
)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{profiles: make(map[profileKey]WindowProfile), results: make(map[resultKey]check.Result),
		verdicts: make(map[verdictKey]check.Verdict), rejected: make(map[rejectedKey]RejectedCount),
		references: make(map[referenceKey]ReferenceSummary)}
}

// Write keeps the batch; it never fails.
func (m *Memory) Write(_ context.Context, b Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range b.Profiles {
		p.State = bytes.Clone(p.State) // the batch's memory is reused (Writer)
		m.profiles[profileKey{p.Model, p.Feature, p.WindowStart.UnixNano(), p.Partition}] = p
	}
	for _, r := range b.Results {
		m.results[resultKey{r.Model, r.WindowStart.UnixNano(), r.Kind, r.Feature, r.Metric}] = r
	}
	for _, v := range b.Anomalies {
		m.verdicts[verdictKey{v.Model, v.WindowStart.UnixNano()}] = v
	}
	for _, r := range b.Rejected {
		m.rejected[rejectedKey{r.Model, r.Reason, r.Topic, r.WindowStart.UnixNano(), r.Partition}] = r
	}
	for _, r := range b.References {
		m.references[referenceKey{r.Model, r.Feature, r.PeriodStart.UnixNano()}] = r
	}
	return nil
}

// Migrate has nothing to prepare.
func (m *Memory) Migrate(context.Context) error { return nil }

// Ping always succeeds.
func (m *Memory) Ping(context.Context) error { return nil }

// ClosedWindows returns, per model, the end of the latest window with profiles.
func (m *Memory) ClosedWindows(context.Context) (map[string]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]time.Time)
	for _, p := range m.profiles {
		if p.WindowEnd.After(out[p.Model]) {
			out[p.Model] = p.WindowEnd
		}
	}
	return out, nil
}

// Results returns a model's results from since on, ordered as ClickHouse
// orders them.
func (m *Memory) Results(_ context.Context, model string, since time.Time) ([]check.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []check.Result
	for _, r := range m.results {
		if r.Model == model && !r.WindowStart.Before(since) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b check.Result) int {
		return cmp.Or(a.WindowStart.Compare(b.WindowStart), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Feature, b.Feature), cmp.Compare(a.Metric, b.Metric))
	})
	return out, nil
}

// Profiles returns a model's window profiles from since on, ordered by window,
// feature and partition.
func (m *Memory) Profiles(_ context.Context, model string, since time.Time) ([]WindowProfile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []WindowProfile
	for _, p := range m.profiles {
		if p.Model == model && !p.WindowStart.Before(since) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b WindowProfile) int {
		return cmp.Or(a.WindowStart.Compare(b.WindowStart), cmp.Compare(a.Feature, b.Feature), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

// Counted returns every model's model-level rows from since on.
func (m *Memory) Counted(_ context.Context, since time.Time) ([]WindowProfile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []WindowProfile
	for _, p := range m.profiles {
		if p.Feature == "" && !p.WindowStart.Before(since) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b WindowProfile) int {
		return cmp.Or(cmp.Compare(a.Model, b.Model), a.WindowStart.Compare(b.WindowStart))
	})
	return out, nil
}

// Window returns the rows of a model's window starting at start.
func (m *Memory) Window(_ context.Context, model string, start time.Time) ([]WindowProfile, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []WindowProfile
	for _, p := range m.profiles {
		if p.Model == model && p.WindowStart.Equal(start) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b WindowProfile) int {
		return cmp.Or(cmp.Compare(a.Feature, b.Feature), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

// References returns a model's reference summaries of periods from since on,
// ordered by period and feature.
func (m *Memory) References(_ context.Context, model string, since time.Time) ([]ReferenceSummary, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ReferenceSummary
	for _, r := range m.references {
		if r.Model == model && !r.PeriodStart.Before(since) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b ReferenceSummary) int {
		return cmp.Or(a.PeriodStart.Compare(b.PeriodStart), cmp.Compare(a.Feature, b.Feature))
	})
	return out, nil
}

// Verdicts returns a model's anomaly verdicts in window order.
func (m *Memory) Verdicts(model string) []check.Verdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []check.Verdict
	for _, v := range m.verdicts {
		if v.Model == model {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b check.Verdict) int { return a.WindowStart.Compare(b.WindowStart) })
	return out
}

// Rejections returns the counts of a topic-partition from since on, and the
// highest offset any of its rows counts (-1 when none).
func (m *Memory) Rejections(_ context.Context, topic string, partition int32, since time.Time) ([]RejectedCount, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []RejectedCount
	var through int64 = -1
	for _, r := range m.rejected {
		if r.Topic != topic || r.Partition != partition {
			continue
		}
		through = max(through, r.Through)
		if !r.WindowStart.Before(since) {
			out = append(out, r)
		}
	}
	return out, through, nil
}

// Rejected returns every rejected count kept.
func (m *Memory) Rejected() []RejectedCount {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]RejectedCount, 0, len(m.rejected))
	for _, r := range m.rejected {
		out = append(out, r)
	}
	return out
}
