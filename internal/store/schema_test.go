package store

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sentinel-ml/sentinel/internal/golden"
)

// The golden file is the schema as a reviewer reads it: a change to the DDL
// shows up as a diff of testdata/schema.sql.
func TestSchemaGolden(t *testing.T) {
	var b strings.Builder
	b.WriteString(createDatabaseSQL("sentinel") + ";\n\n" + createMigrationsSQL("sentinel") + ";\n")
	for _, m := range migrations("sentinel") {
		fmt.Fprintf(&b, "\n-- schema version %d\n", m.version)
		for _, s := range m.statements {
			fmt.Fprintf(&b, "\n%s;\n", s)
		}
	}
	golden.Check(t, filepath.Join("testdata", "schema.sql"), []byte(b.String()))
}

// ClickHouse 18.16 has none of these types; current releases would accept
// them, so only this test stops them creeping in.
func TestSchemaRunsOn1816(t *testing.T) {
	forbidden := []string{"DateTime64", "Map(", "LowCardinality", "Nullable", "Bool", "JSON", "UUID"}
	for _, tb := range allTables() {
		t.Run(tb.name, func(t *testing.T) {
			names := map[string]bool{}
			for _, c := range tb.columns {
				if names[c.name] {
					t.Errorf("column %s appears twice", c.name)
				}
				names[c.name] = true
				for _, f := range forbidden {
					if strings.Contains(c.typ, f) {
						t.Errorf("column %s has type %s, which ClickHouse 18.16 lacks", c.name, c.typ)
					}
				}
			}
			for _, k := range tb.orderBy {
				if !names[k] {
					t.Errorf("ORDER BY names %s, which is not a column", k)
				}
			}
			for _, must := range []string{"version", "window_start", "window_start_ms", "model"} {
				if !names[must] {
					t.Errorf("no %s column", must)
				}
			}
			if !slices.Contains(tb.orderBy, "window_start_ms") {
				t.Error("window_start_ms is not in the key: windows a fraction of a second apart would replace each other")
			}
		})
	}
}

func TestInsertSQLNamesEveryColumn(t *testing.T) {
	tests := []struct {
		table table
		want  string
	}{
		{resultsTable(), "INSERT INTO `db`.`check_results` (model, window_start, window_start_ms, window_end, window_end_ms, kind, feature, metric, value, threshold, breached, version, skipped, model_version)"},
		{referencesTable(), "INSERT INTO `db`.`reference_summaries` (model, feature, window_start, window_start_ms, state, version)"},
	}
	for _, tt := range tests {
		if got := tt.table.insertSQL("db"); got != tt.want {
			t.Errorf("insertSQL =\n%s\nwant\n%s", got, tt.want)
		}
	}
	// Every table's INSERT names all its columns, in order, so that the
	// server never fills one with a default.
	for _, tb := range allTables() {
		names := make([]string, len(tb.columns))
		for i, c := range tb.columns {
			names[i] = c.name
		}
		if got, want := tb.insertSQL("db"), "("+strings.Join(names, ", ")+")"; !strings.HasSuffix(got, want) {
			t.Errorf("%s: insertSQL = %s, want it to end with %s", tb.name, got, want)
		}
	}
}

// Migrations are append-only and numbered in order from 1, so that Migrate,
// which applies the steps above the recorded max(version), never skips one.
func TestMigrationVersionsAscend(t *testing.T) {
	created := map[string]bool{}
	for i, m := range migrations("db") {
		if m.version != uint32(i+1) {
			t.Errorf("migration %d has version %d, want %d", i, m.version, i+1)
		}
		for _, s := range m.statements {
			created[s] = true
		}
	}
	// Each table is created with a prefix of its columns, and the others are
	// added after, in order.
	for _, tb := range allTables() {
		ok := false
		for k := len(tb.columns); k > 0 && !ok; k-- {
			first := tb
			first.columns = tb.columns[:k]
			if !created[first.createSQL("db")] {
				continue
			}
			ok = true
			for _, c := range tb.columns[k:] {
				if !created[addColumnSQL("db", tb.name, c)] {
					ok = false
				}
			}
		}
		if !ok {
			t.Errorf("no migrations create %s as its table definition says", tb.name)
		}
	}
}
