package store

// Alert history: every state change of an alert that Sentinel evaluates
// itself (package alerts), for postmortems and Grafana annotations.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// AlertRecord is one state change of one alert instance.
type AlertRecord struct {
	Model string
	Alert string
	// Fingerprint identifies the instance: the alert and its labels.
	Fingerprint string
	// At is when the state changed; rows are keyed by it.
	At time.Time
	// State is pending, firing, resolved, or inactive (a pending alert whose
	// condition ended before it fired).
	State    string
	Severity string
	Labels   map[string]string
	Value    float64
	// StartsAt is when the condition began to hold; EndsAt when a resolved
	// alert ended (zero before).
	StartsAt, EndsAt     time.Time
	Summary, Description string
}

const tableAlerts = "alerts"

// alertsTable keeps alert history. window_start is the time of the change,
// so that the table partitions, sorts and replaces like the others: the same
// change written twice (a window checked again after a crash) is one row.
func alertsTable() table {
	return table{
		name: tableAlerts,
		columns: concat(
			[]column{{"model", "String"}, {"alert", "String"}, {"fingerprint", "String"}},
			windowStartColumns(),
			[]column{
				{"state", "String"},
				{"severity", "String"},
				{"label_names", "Array(String)"},
				{"label_values", "Array(String)"},
				{"value", "Float64"},
				{"starts_at", "DateTime"},
				{"starts_at_ms", "UInt16"},
				{"ends_at", "DateTime"},
				{"ends_at_ms", "UInt16"},
				{"summary", "String"},
				{"description", "String"},
				{"version", "UInt64"},
			},
		),
		orderBy: []string{"model", "alert", "fingerprint", "window_start", "window_start_ms", "state"},
	}
}

func alertColumns(rs []AlertRecord, version uint64) (insert, error) {
	n := len(rs)
	var (
		model, alert, fp     = make([]string, n), make([]string, n), make([]string, n)
		at, starts, ends     = newTimeColumn(n), newTimeColumn(n), newTimeColumn(n)
		state, severity      = make([]string, n), make([]string, n)
		names, values        = make([][]string, n), make([][]string, n)
		value                = make([]float64, n)
		summary, description = make([]string, n), make([]string, n)
		versions             = make([]uint64, n)
	)
	for i, r := range rs {
		if err := at.add("alerts: change time", r.At); err != nil {
			return insert{}, err
		}
		if err := starts.add("alerts: starts_at", r.StartsAt); err != nil {
			return insert{}, err
		}
		end := r.EndsAt
		if end.IsZero() {
			end = time.Unix(0, 0) // still active
		}
		if err := ends.add("alerts: ends_at", end); err != nil {
			return insert{}, err
		}
		model[i], alert[i], fp[i], state[i], severity[i] = r.Model, r.Alert, r.Fingerprint, r.State, r.Severity
		names[i] = slices.Sorted(maps.Keys(r.Labels))
		values[i] = make([]string, len(names[i]))
		for j, k := range names[i] {
			values[i][j] = r.Labels[k]
		}
		value[i], summary[i], description[i], versions[i] = r.Value, r.Summary, r.Description, version
	}
	return insert{table: alertsTable(), rows: n, columns: []any{
		model, alert, fp, at.secs, at.ms, state, severity, names, values, value,
		starts.secs, starts.ms, ends.secs, ends.ms, summary, description, versions,
	}}, nil
}

// WriteAlerts makes alert state changes durable, retrying transient failures
// until ctx ends.
func (c *ClickHouse) WriteAlerts(ctx context.Context, rs []AlertRecord) error {
	if len(rs) == 0 {
		return nil
	}
	in, err := alertColumns(rs, uint64(c.opts.Now().UnixNano()))
	if err != nil {
		return fmt.Errorf("store: converting alert history: %w", err)
	}
	err = c.retry(ctx, fmt.Sprintf("writing %d rows to %s", in.rows, tableAlerts), c.metrics.retries.WithLabelValues(tableAlerts),
		func(ctx context.Context) error { return c.sendRows(ctx, in.table.insertSQL(c.db), in.columns) })
	if err != nil {
		return err
	}
	c.metrics.rows.WithLabelValues(tableAlerts).Add(float64(in.rows))
	return nil
}

// Alerts returns a model's alert state changes at or after since, in time
// order, for postmortems and tests.
func (c *ClickHouse) Alerts(ctx context.Context, model string, since time.Time) ([]AlertRecord, error) {
	secs, ms := sinceArgs(since)
	query := fmt.Sprintf("SELECT alert, fingerprint, window_start, window_start_ms, state, severity, label_names, label_values, value,"+
		" starts_at, starts_at_ms, ends_at, ends_at_ms, summary, description"+
		" FROM `%s`.%s FINAL"+
		" WHERE model = ? AND "+sinceWindow+
		" ORDER BY window_start, window_start_ms, alert, fingerprint", c.db, tableAlerts)
	rows, err := c.conn.Query(ctx, query, model, secs, secs, ms)
	if err != nil {
		return nil, fmt.Errorf("store: querying alerts of model %q: %w", model, err)
	}
	defer rows.Close()
	var out []AlertRecord
	for rows.Next() {
		var (
			r                      = AlertRecord{Model: model}
			at, starts, ends       time.Time
			atMS, startsMS, endsMS uint16
			names, values          []string
		)
		if err := rows.Scan(&r.Alert, &r.Fingerprint, &at, &atMS, &r.State, &r.Severity, &names, &values, &r.Value,
			&starts, &startsMS, &ends, &endsMS, &r.Summary, &r.Description); err != nil {
			return nil, fmt.Errorf("store: reading alerts of model %q: %w", model, err)
		}
		r.At, r.StartsAt = joinTime(at, atMS), joinTime(starts, startsMS)
		if e := joinTime(ends, endsMS); e.Unix() != 0 {
			r.EndsAt = e
		}
		r.Labels = make(map[string]string, len(names))
		for i, k := range names {
			if i < len(values) {
				r.Labels[k] = values[i]
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: reading alerts of model %q: %w", model, err)
	}
	return out, nil
}
