package store

import (
	"fmt"
	"strings"
)

// The schema keeps to DDL that ClickHouse 18.16 (Debian's package) and current
// releases both accept: no DateTime64, Map, LowCardinality, Bool or Nullable.
// So a time is two columns, a DateTime in UTC for humans, Grafana and
// partitioning, and a UInt16 with its milliseconds (0–999) so that sub-second
// window bounds survive; both are part of the key. Booleans are UInt8.
// Column names avoid words the parsers treat specially (nan, rows, distinct,
// partition), so hand-written queries need no quoting.

// column is one column of a table: its name and ClickHouse type.
type column struct {
	name, typ string
}

// table is one of the store's tables. Every table is a ReplacingMergeTree
// whose version column is the write time, partitioned by the month of
// window_start, so a window written twice keeps only its later copy.
type table struct {
	name    string
	columns []column
	orderBy []string
}

// Table names, as the metrics label them.
const (
	tableProfiles   = "window_profiles"
	tableResults    = "check_results"
	tableAnomalies  = "anomalies"
	tableRejected   = "rejected_counts"
	tableReferences = "reference_summaries"
)

func windowStartColumns() []column {
	return []column{{"window_start", "DateTime"}, {"window_start_ms", "UInt16"}}
}

func windowColumns() []column {
	return append(windowStartColumns(), column{"window_end", "DateTime"}, column{"window_end_ms", "UInt16"})
}

func concat(parts ...[]column) []column {
	var out []column
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func profilesTable() table {
	return table{
		name: tableProfiles,
		columns: concat(
			[]column{{"model", "String"}, {"feature", "String"}},
			windowColumns(),
			[]column{
				{"kafka_partition", "Int32"},
				{"row_count", "UInt64"},
				{"null_count", "UInt64"},
				{"nan_count", "UInt64"},
				{"pos_inf_count", "UInt64"},
				{"neg_inf_count", "UInt64"},
				{"finite_count", "UInt64"},
				{"min_value", "Float64"},
				{"max_value", "Float64"},
				{"mean", "Float64"},
				{"stddev", "Float64"},
				{"violation_kinds", "Array(String)"},
				{"violation_counts", "Array(UInt64)"},
				{"distinct_estimate", "Float64"},
				{"state", "String"},
				{"version", "UInt64"},
			},
		),
		orderBy: []string{"model", "feature", "window_start", "window_start_ms", "kafka_partition"},
	}
}

func resultsTable() table {
	t := resultsTableV1()
	t.columns = append(t.columns, skippedColumn(), modelVersionColumn())
	return t
}

// skippedColumn says why a check was skipped ("" when it ran): added by
// migration 3.
func skippedColumn() column { return column{"skipped", "String"} }

// modelVersionColumn is the version label of a result about one version of
// the model ("" for the others): added by migration 6. The version is in the
// feature column too ("version:v2"), which the table's key holds.
func modelVersionColumn() column { return column{"model_version", "String"} }

// resultsTableV1 is check_results as migration 1 created it.
func resultsTableV1() table {
	return table{
		name: tableResults,
		columns: concat(
			[]column{{"model", "String"}},
			windowColumns(),
			[]column{
				{"kind", "String"},
				{"feature", "String"},
				{"metric", "String"},
				{"value", "Float64"},
				{"threshold", "Float64"},
				{"breached", "UInt8"},
				{"version", "UInt64"},
			},
		),
		orderBy: []string{"model", "window_start", "window_start_ms", "kind", "feature", "metric"},
	}
}

func anomaliesTable() table {
	return table{
		name: tableAnomalies,
		columns: concat(
			[]column{{"model", "String"}},
			windowColumns(),
			[]column{
				{"score", "Float64"},
				{"is_anomaly", "UInt8"},
				{"statistic", "String"},
				{"cause_metrics", "Array(String)"},
				{"cause_actual", "Array(Float64)"},
				{"cause_expected", "Array(Float64)"},
				{"cause_contribution", "Array(Float64)"},
				{"version", "UInt64"},
			},
		),
		orderBy: []string{"model", "window_start", "window_start_ms"},
	}
}

// rejectedTable counts rejected messages per model, reason, topic-partition
// and minute of arrival. A row holds the count so far, and through_offset the
// highest offset of the topic-partition whose rejection any row counts: after
// a restart, rejections read again at or below it were counted already.
func rejectedTable() table {
	return table{
		name: tableRejected,
		columns: concat(
			[]column{{"model", "String"}, {"reason", "String"}, {"topic", "String"}},
			windowStartColumns(),
			[]column{
				{"kafka_partition", "Int32"},
				{"message_count", "UInt64"},
				{"through_offset", "Int64"},
				{"version", "UInt64"},
			},
		),
		orderBy: []string{"model", "reason", "topic", "kafka_partition", "window_start", "window_start_ms"},
	}
}

// rejectedTableV1 is rejected_counts as migration 1 created it: keyed without
// the topic, and written as increments its engine replaced instead of adding.
// Migration 4 renames it rejected_counts_v1.
func rejectedTableV1() table {
	return table{
		name: tableRejected,
		columns: concat(
			[]column{{"model", "String"}, {"reason", "String"}},
			windowStartColumns(),
			[]column{
				{"kafka_partition", "Int32"},
				{"message_count", "UInt64"},
				{"version", "UInt64"},
			},
		),
		orderBy: []string{"model", "reason", "window_start", "window_start_ms", "kafka_partition"},
	}
}

// referencesTable holds drift's reference summaries. window_start is the
// period's start, so the table partitions and sorts like the others.
func referencesTable() table {
	return table{
		name: tableReferences,
		columns: concat(
			[]column{{"model", "String"}, {"feature", "String"}},
			windowStartColumns(),
			[]column{
				{"state", "String"},
				{"version", "UInt64"},
			},
		),
		orderBy: []string{"model", "feature", "window_start", "window_start_ms"},
	}
}

// allTables lists every table of the store, for the per-table metrics and the
// schema tests.
func allTables() []table {
	return []table{profilesTable(), resultsTable(), anomaliesTable(), rejectedTable(), referencesTable(), alertsTable()}
}

func (t table) createSQL(db string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS `%s`.`%s` (\n", db, t.name)
	for i, c := range t.columns {
		sep := ","
		if i == len(t.columns)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s %s%s\n", c.name, c.typ, sep)
	}
	fmt.Fprintf(&b, ") ENGINE = ReplacingMergeTree(version)\nPARTITION BY toYYYYMM(window_start)\nORDER BY (%s)", strings.Join(t.orderBy, ", "))
	return b.String()
}

func (t table) insertSQL(db string) string {
	names := make([]string, len(t.columns))
	for i, c := range t.columns {
		names[i] = c.name
	}
	return fmt.Sprintf("INSERT INTO `%s`.`%s` (%s)", db, t.name, strings.Join(names, ", "))
}

// migration is one step of the schema's history. Steps are append-only: a
// released step never changes, a schema change is a new step.
type migration struct {
	version    uint32
	statements []string
}

func migrations(db string) []migration {
	return []migration{
		{version: 1, statements: []string{
			profilesTable().createSQL(db),
			resultsTableV1().createSQL(db),
			anomaliesTable().createSQL(db),
			rejectedTableV1().createSQL(db),
		}},
		{version: 2, statements: []string{
			referencesTable().createSQL(db),
		}},
		{version: 3, statements: []string{
			addColumnSQL(db, tableResults, skippedColumn()),
		}},
		{version: 4, statements: []string{
			fmt.Sprintf("RENAME TABLE `%s`.`%s` TO `%s`.`%s_v1`", db, tableRejected, db, tableRejected),
			rejectedTable().createSQL(db),
		}},
		{version: 5, statements: []string{
			alertsTable().createSQL(db),
		}},
		{version: 6, statements: []string{
			addColumnSQL(db, tableResults, modelVersionColumn()),
		}},
	}
}

// addColumnSQL adds a column after a table was created. 18.16 knows no ADD
// COLUMN IF NOT EXISTS: Migrate treats "already exists" as done, for two
// instances migrating at once.
func addColumnSQL(db, table string, c column) string {
	return fmt.Sprintf("ALTER TABLE `%s`.`%s` ADD COLUMN %s %s", db, table, c.name, c.typ)
}

func createDatabaseSQL(db string) string {
	return fmt.Sprintf("CREATE DATABASE IF NOT EXISTS `%s`", db)
}

// Two instances migrating at once may both record a step; the duplicate row
// is harmless because only max(version) is read.
func createMigrationsSQL(db string) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS `%s`.schema_migrations (\n"+
		"    version UInt32,\n"+
		"    applied_at DateTime\n"+
		") ENGINE = ReplacingMergeTree()\nORDER BY version", db)
}
