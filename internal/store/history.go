package store

// What a restart reads back: the windows written, their profiles, the check
// results the anomaly detector warms from and drift's reference summaries.

import (
	"context"
	"fmt"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// ClosedWindows returns, per model, the end of the latest window whose profiles
// were written. window_profiles is the table Write fills last, so a window it
// lists has all its rows durable; and only closed windows have profiles, unlike
// check results, which also hold the clock-driven staleness checks.
func (c *ClickHouse) ClosedWindows(ctx context.Context) (map[string]time.Time, error) {
	rows, err := c.conn.Query(ctx, fmt.Sprintf(
		"SELECT model, max(toUInt64(window_end) * 1000 + window_end_ms) FROM `%s`.%s GROUP BY model", c.db, tableProfiles))
	if err != nil {
		return nil, fmt.Errorf("store: querying closed windows: %w", err)
	}
	defer rows.Close()
	out := make(map[string]time.Time)
	for rows.Next() {
		var (
			model string
			endMS uint64
		)
		if err := rows.Scan(&model, &endMS); err != nil {
			return nil, fmt.Errorf("store: reading closed windows: %w", err)
		}
		out[model] = time.UnixMilli(int64(endMS)).UTC()
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading closed windows: %w", err)
	}
	return out, nil
}

// Profiles returns model's window profiles with window_start ≥ since, ordered by
// window and feature, with FINAL so that a rewritten window reads once.
func (c *ClickHouse) Profiles(ctx context.Context, model string, since time.Time) ([]WindowProfile, error) {
	secs, ms := sinceArgs(since)
	return c.profiles(ctx, fmt.Sprintf("profiles of model %q", model),
		"model = ? AND "+sinceWindow, model, secs, secs, ms)
}

// Window returns the rows of model's window starting at start.
func (c *ClickHouse) Window(ctx context.Context, model string, start time.Time) ([]WindowProfile, error) {
	secs, ms := sinceArgs(start)
	return c.profiles(ctx, fmt.Sprintf("profiles of model %q", model),
		"model = ? AND window_start = toDateTime(?) AND window_start_ms = ?", model, secs, ms)
}

// Counted returns every model's model-level rows from since on.
func (c *ClickHouse) Counted(ctx context.Context, since time.Time) ([]WindowProfile, error) {
	secs, ms := sinceArgs(since)
	return c.profiles(ctx, "the windows counted", "feature = '' AND "+sinceWindow, secs, secs, ms)
}

// profiles reads the window profiles where the condition holds, ordered by
// model, window, feature and partition; what names them in errors.
func (c *ClickHouse) profiles(ctx context.Context, what, where string, args ...any) ([]WindowProfile, error) {
	query := fmt.Sprintf("SELECT model, feature, window_start, window_start_ms, window_end, window_end_ms, kafka_partition, row_count, state"+
		" FROM `%s`.%s FINAL WHERE "+where+
		" ORDER BY model, window_start, window_start_ms, feature, kafka_partition", c.db, tableProfiles)
	rows, err := c.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: querying %s: %w", what, err)
	}
	defer rows.Close()
	var out []WindowProfile
	for rows.Next() {
		var (
			p              WindowProfile
			start, end     time.Time
			startMS, endMS uint16
			state          string
		)
		if err := rows.Scan(&p.Model, &p.Feature, &start, &startMS, &end, &endMS, &p.Partition, &p.Rows, &state); err != nil {
			return nil, fmt.Errorf("store: reading %s: %w", what, err)
		}
		p.WindowStart, p.WindowEnd, p.State = joinTime(start, startMS), joinTime(end, endMS), []byte(state)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading %s: %w", what, err)
	}
	return out, nil
}

// References returns model's reference summaries of periods starting at or
// after since, ordered by period and feature. FINAL keeps the latest row of
// each (feature, period).
func (c *ClickHouse) References(ctx context.Context, model string, since time.Time) ([]ReferenceSummary, error) {
	secs, ms := sinceArgs(since)
	query := fmt.Sprintf("SELECT feature, window_start, window_start_ms, state"+
		" FROM `%s`.%s FINAL"+
		" WHERE model = ? AND "+sinceWindow+
		" ORDER BY window_start, window_start_ms, feature", c.db, tableReferences)
	rows, err := c.conn.Query(ctx, query, model, secs, secs, ms)
	if err != nil {
		return nil, fmt.Errorf("store: querying reference summaries of model %q: %w", model, err)
	}
	defer rows.Close()
	var out []ReferenceSummary
	for rows.Next() {
		var (
			r       = ReferenceSummary{Model: model}
			start   time.Time
			startMS uint16
			state   string
		)
		if err := rows.Scan(&r.Feature, &start, &startMS, &state); err != nil {
			return nil, fmt.Errorf("store: reading reference summaries of model %q: %w", model, err)
		}
		r.PeriodStart, r.State = joinTime(start, startMS), []byte(state)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading reference summaries of model %q: %w", model, err)
	}
	return out, nil
}

// Results returns model's check results with window_start ≥ since, ordered by
// window, kind, feature and metric. FINAL collapses rows written more than
// once to the latest copy.
func (c *ClickHouse) Results(ctx context.Context, model string, since time.Time) ([]check.Result, error) {
	secs, ms := sinceArgs(since)
	query := fmt.Sprintf("SELECT window_start, window_start_ms, window_end, window_end_ms, kind, feature, metric, value, threshold, breached, skipped"+
		" FROM `%s`.%s FINAL"+
		" WHERE model = ? AND "+sinceWindow+
		" ORDER BY window_start, window_start_ms, kind, feature, metric", c.db, tableResults)
	rows, err := c.conn.Query(ctx, query, model, secs, secs, ms)
	if err != nil {
		return nil, fmt.Errorf("store: querying results of model %q: %w", model, err)
	}
	defer rows.Close()
	var out []check.Result
	for rows.Next() {
		var (
			r              = check.Result{Model: model}
			start, end     time.Time
			startMS, endMS uint16
			breached       uint8
			kind           string
		)
		if err := rows.Scan(&start, &startMS, &end, &endMS, &kind, &r.Feature, &r.Metric, &r.Value, &r.Threshold, &breached, &r.Skipped); err != nil {
			return nil, fmt.Errorf("store: reading results of model %q: %w", model, err)
		}
		r.Kind = check.Kind(kind)
		r.WindowStart, r.WindowEnd, r.Breached = joinTime(start, startMS), joinTime(end, endMS), breached != 0
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading results of model %q: %w", model, err)
	}
	return out, nil
}

// Rejections returns the rejection counts of a topic-partition with
// window_start ≥ since, and the highest offset any of its rows counts (-1
// when none), with FINAL.
func (c *ClickHouse) Rejections(ctx context.Context, topic string, partition int32, since time.Time) ([]RejectedCount, int64, error) {
	secs, ms := sinceArgs(since)
	query := fmt.Sprintf("SELECT model, reason, window_start, window_start_ms, message_count FROM `%s`.%s FINAL"+
		" WHERE topic = ? AND kafka_partition = ? AND "+sinceWindow,
		c.db, tableRejected)
	rows, err := c.conn.Query(ctx, query, topic, partition, secs, secs, ms)
	if err != nil {
		return nil, -1, fmt.Errorf("store: querying rejections of %s/%d: %w", topic, partition, err)
	}
	defer rows.Close()
	var out []RejectedCount
	for rows.Next() {
		var (
			r     = RejectedCount{Topic: topic, Partition: partition}
			start time.Time
			ms    uint16
		)
		if err := rows.Scan(&r.Model, &r.Reason, &start, &ms, &r.Count); err != nil {
			return nil, -1, fmt.Errorf("store: reading rejections of %s/%d: %w", topic, partition, err)
		}
		r.WindowStart = joinTime(start, ms)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, -1, fmt.Errorf("store: reading rejections of %s/%d: %w", topic, partition, err)
	}
	var through int64 = -1
	var n uint64
	query = fmt.Sprintf("SELECT count(), max(through_offset) FROM `%s`.%s WHERE topic = ? AND kafka_partition = ?", c.db, tableRejected)
	if err := c.conn.QueryRow(ctx, query, topic, partition).Scan(&n, &through); err != nil {
		return nil, -1, fmt.Errorf("store: reading rejections of %s/%d: %w", topic, partition, err)
	}
	if n == 0 {
		through = -1
	}
	return out, through, nil
}
