package store

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/store/storetest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// testClock hands out strictly increasing times, so each Write's version is
// later than the one before even when the wall clock's resolution is coarse.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time {
	return time.Unix(0, c.ns.Add(int64(time.Millisecond))+1_800_000_000_000_000_000)
}

// testOptions names a database of the test's own, so tests and parallel runs
// never see each other's rows.
func testOptions(tb testing.TB, reg prometheus.Registerer) Options {
	tb.Helper()
	return Options{
		DSN:          storetest.DSN(tb),
		Database:     fmt.Sprintf("sentinel_test_%016x", rand.Uint64()),
		RetryInitial: 10 * time.Millisecond,
		RetryMax:     200 * time.Millisecond,
		Registerer:   reg,
		Logger:       slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Now:          new(testClock).Now,
	}
}

// openTestStore opens a store on a database of its own, dropped when the test
// ends.
func openTestStore(tb testing.TB) (*ClickHouse, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, testOptions(tb, reg))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	dropOnCleanup(tb, s)
	return s, reg
}

// dropOnCleanup drops s's database and closes s when the test ends.
func dropOnCleanup(tb testing.TB, s *ClickHouse) {
	tb.Helper()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS `%s`", s.db)); err != nil {
			tb.Errorf("dropping test database %s: %v", s.db, err)
		}
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func queryUint64(t *testing.T, s *ClickHouse, sql string) uint64 {
	t.Helper()
	var n uint64
	if err := s.conn.QueryRow(testContext(t), fmt.Sprintf(sql, "`"+s.db+"`")).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	s, _ := openTestStore(t) // Open has migrated once
	ctx := testContext(t)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if n, want := queryUint64(t, s, "SELECT count() FROM %s.schema_migrations"), uint64(len(migrations(s.db))); n != want {
		t.Errorf("schema_migrations has %d rows, want %d: the second Migrate re-applied a step", n, want)
	}
	want := []string{"alerts", "anomalies", "check_results", "reference_summaries", "rejected_counts", "rejected_counts_v1", "schema_migrations", "window_profiles"}
	if names := tableNames(t, s); !reflect.DeepEqual(names, want) {
		t.Errorf("tables %v, want %v", names, want)
	}
}

func tableNames(t *testing.T, s *ClickHouse) []string {
	t.Helper()
	rows, err := s.conn.Query(testContext(t), "SELECT name FROM system.tables WHERE database = ? ORDER BY name", s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// A database an earlier release created, at schema version 1, gains
// reference_summaries and the skipped and model_version columns and keeps its
// rows; step 1 is not applied again.
func TestMigrateUpgradesFromVersion1(t *testing.T) {
	ctx := testContext(t)
	s, err := New(testOptions(t, prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	dropOnCleanup(t, s)
	// What Migrate did when step 1 was the last.
	setup := []string{createDatabaseSQL(s.db), createMigrationsSQL(s.db)}
	setup = append(setup, migrations(s.db)[0].statements...)
	for _, sql := range setup {
		if err := s.conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := s.sendRows(ctx, fmt.Sprintf("INSERT INTO `%s`.schema_migrations (version, applied_at)", s.db),
		[]any{[]uint32{1}, []time.Time{time.Unix(1_700_000_000, 0).UTC()}}); err != nil {
		t.Fatal(err)
	}
	// An old release wrote no skipped column: its result rows come back with
	// none after the upgrade.
	old := sampleBatch()
	old.References = nil
	oldResults := old.Results
	old.Results, old.Rejected = nil, nil
	ins, err := resultColumns(oldResults, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.sendRows(ctx, resultsTableV1().insertSQL(s.db), ins.columns[:len(resultsTableV1().columns)]); err != nil {
		t.Fatalf("results at version 1: %v", err)
	}
	if err := s.Write(ctx, old); err != nil {
		t.Fatalf("Write at version 1: %v", err)
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate from version 1: %v", err)
	}
	want := []string{"alerts", "anomalies", "check_results", "reference_summaries", "rejected_counts", "rejected_counts_v1", "schema_migrations", "window_profiles"}
	if names := tableNames(t, s); !reflect.DeepEqual(names, want) {
		t.Errorf("tables after the upgrade %v, want %v", names, want)
	}
	if n := queryUint64(t, s, "SELECT count() FROM %s.schema_migrations WHERE version = 1"); n != 1 {
		t.Errorf("schema_migrations has %d rows of version 1, want 1: step 1 was applied again", n)
	}
	if n, want := queryUint64(t, s, "SELECT toUInt64(max(version)) FROM %s.schema_migrations"), uint64(len(migrations(s.db))); n != want {
		t.Errorf("schema version %d after the upgrade, want %d", n, want)
	}
	start0, _ := sampleWindow()
	if got, err := s.Results(ctx, "fraud", start0.Add(-time.Hour)); err != nil || len(got) != len(oldResults) || got[0].Skipped != "" {
		t.Errorf("results written before the upgrade read back as %+v, %v", got, err)
	}
	if n := queryUint64(t, s, "SELECT count() FROM %s.window_profiles FINAL"); n != 1 {
		t.Errorf("window_profiles has %d rows after the upgrade, want the 1 written before it", n)
	}
	if err := s.Write(ctx, sampleBatch()); err != nil {
		t.Fatalf("Write after the upgrade: %v", err)
	}
	start, _ := sampleWindow()
	if got, err := s.References(ctx, "fraud", start); err != nil || len(got) != 1 {
		t.Errorf("References after the upgrade = %v, %v; want the one written", got, err)
	}
}

// TestModelVersionColumn: a result about one version of the model carries
// the version in model_version, beside the feature that keys it; the others
// have none.
func TestModelVersionColumn(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testContext(t)
	b := sampleBatch()
	r := b.Results[0]
	r.Kind, r.Feature, r.Metric = check.Canary, check.VersionFeature("2026-11-20"), check.PredictionDrift
	b.Results = append(b.Results, r)
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := queryUint64(t, s, "SELECT count() FROM %s.check_results FINAL WHERE model_version = '2026-11-20' AND feature = 'version:2026-11-20'"); n != 1 {
		t.Errorf("%d results of version 2026-11-20, want 1", n)
	}
	want := uint64(0)
	for _, r := range b.Results {
		if _, ok := check.VersionOf(r.Feature); ok {
			want++
		}
	}
	if n := queryUint64(t, s, "SELECT count() FROM %s.check_results FINAL WHERE model_version != ''"); n != want {
		t.Errorf("%d results with a version, want the %d about one", n, want)
	}
}

func TestWriteThenReadBack(t *testing.T) {
	s, reg := openTestStore(t)
	ctx := testContext(t)
	b := sampleBatch()
	start, end := sampleWindow()
	if err := s.Write(ctx, b); err != nil {
		t.Fatalf("Write: %v", err)
	}

	got, err := s.Results(ctx, "fraud", start)
	if err != nil {
		t.Fatal(err)
	}
	// Ordered by kind: drift before quality.
	if len(got) != 2 || !sameResult(got[0], b.Results[0]) || !sameResult(got[1], b.Results[1]) {
		t.Errorf("Results =\n%+v\nwant\n%+v", got, b.Results)
	}

	p := b.Profiles[0]
	var (
		kinds                      []string
		counts                     []uint64
		state                      string
		partition                  int32
		rows, nans                 uint64
		startMS                    uint16
		minV, maxV, mean, distinct float64
	)
	err = s.conn.QueryRow(ctx, fmt.Sprintf("SELECT violation_kinds, violation_counts, state, kafka_partition, row_count, nan_count, window_start_ms, min_value, max_value, mean, distinct_estimate FROM `%s`.window_profiles FINAL", s.db)).
		Scan(&kinds, &counts, &state, &partition, &rows, &nans, &startMS, &minV, &maxV, &mean, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	gotViolations := map[string]uint64{}
	for i, k := range kinds {
		gotViolations[k] = counts[i]
	}
	if !reflect.DeepEqual(gotViolations, p.Violations) || state != string(p.State) || partition != p.Partition ||
		rows != p.Rows || nans != p.NaN || startMS != 250 || minV != p.Min || maxV != p.Max || mean != p.Mean || distinct != p.Distinct {
		t.Errorf("profile read back as violations %v, state %q, partition %d, rows %d, nan %d, ms %d, min %v, max %v, mean %v, distinct %v; wrote %+v",
			gotViolations, state, partition, rows, nans, startMS, minV, maxV, mean, distinct, p)
	}

	var (
		metrics  []string
		expected []float64
		flagged  uint8
	)
	if err := s.conn.QueryRow(ctx, fmt.Sprintf("SELECT cause_metrics, cause_expected, is_anomaly FROM `%s`.anomalies FINAL", s.db)).Scan(&metrics, &expected, &flagged); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(metrics, []string{"amount/psi", "volume"}) || !reflect.DeepEqual(expected, []float64{0.01, 12}) || flagged != 1 {
		t.Errorf("anomaly read back as %v %v %d", metrics, expected, flagged)
	}
	if n := queryUint64(t, s, "SELECT sum(message_count) FROM %s.rejected_counts FINAL WHERE reason = 'malformed'"); n != 17 {
		t.Errorf("rejected count %d, want 17", n)
	}

	profiles, err := s.Profiles(ctx, "fraud", start)
	if err != nil {
		t.Fatal(err)
	}
	if len(profiles) != 1 || profiles[0].Feature != p.Feature || !profiles[0].WindowStart.Equal(start) || !profiles[0].WindowEnd.Equal(end) ||
		string(profiles[0].State) != string(p.State) || profiles[0].Rows != p.Rows || profiles[0].Partition != p.Partition {
		t.Errorf("Profiles = %+v, want the written profile %+v", profiles, p)
	}
	if later, err := s.Profiles(ctx, "fraud", start.Add(time.Millisecond)); err != nil || len(later) != 0 {
		t.Errorf("Profiles after the window start = %v, %v; want none", later, err)
	}

	closed, err := s.ClosedWindows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(closed, map[string]time.Time{"fraud": end}) {
		t.Errorf("ClosedWindows = %v, want fraud: %v", closed, end)
	}
	refs, err := s.References(ctx, "fraud", start)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(refs, b.References) {
		t.Errorf("References = %+v, want %+v", refs, b.References)
	}
	if n := counterSum(t, reg, "sentinel_store_rows_written_total"); n != 6 {
		t.Errorf("rows_written_total = %v, want 6", n)
	}
}

// sameResult compares results with NaN equal to NaN and times by instant.
func sameResult(a, b check.Result) bool {
	sameFloat := func(x, y float64) bool { return x == y || (math.IsNaN(x) && math.IsNaN(y)) }
	return a.Model == b.Model && a.WindowStart.Equal(b.WindowStart) && a.WindowEnd.Equal(b.WindowEnd) &&
		a.Kind == b.Kind && a.Feature == b.Feature && a.Metric == b.Metric &&
		sameFloat(a.Value, b.Value) && sameFloat(a.Threshold, b.Threshold) && a.Breached == b.Breached
}

func TestRewrittenWindowReplacesFirstCopy(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testContext(t)
	first := sampleBatch()
	if err := s.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The same windows again, as after a crash before the offsets were
	// committed, with values that changed in the replay.
	second := sampleBatch()
	second.Results[0].Value = 0.4
	second.Profiles[0].Rows = 11
	second.Anomalies[0].Score = 5
	second.Rejected[0].Count = 18
	second.References[0].State = []byte("replayed")
	if err := s.Write(ctx, second); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		table string
		want  uint64
	}{
		{"window_profiles", 1}, {"check_results", 2}, {"anomalies", 1}, {"rejected_counts", 1}, {"reference_summaries", 1},
	} {
		if n := queryUint64(t, s, "SELECT count() FROM %s."+tc.table+" FINAL"); n != tc.want {
			t.Errorf("%s FINAL has %d rows, want %d", tc.table, n, tc.want)
		}
	}
	if n := queryUint64(t, s, "SELECT any(row_count) FROM %s.window_profiles FINAL"); n != 11 {
		t.Errorf("profile row_count = %d, want the second write's 11", n)
	}
	if n := queryUint64(t, s, "SELECT any(message_count) FROM %s.rejected_counts FINAL"); n != 18 {
		t.Errorf("rejected message_count = %d, want the second write's 18", n)
	}
	start, _ := sampleWindow()
	got, err := s.Results(ctx, "fraud", start)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Value != 0.4 {
		t.Errorf("Results after a rewrite = %+v, want 2 rows with psi 0.4", got)
	}
}

func TestNaNAndInfinityRoundTrip(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testContext(t)
	start, end := sampleWindow()
	want := []check.Result{
		{Model: "m", WindowStart: start, WindowEnd: end, Kind: "numerical", Metric: "a", Value: math.Inf(1), Threshold: math.NaN()},
		{Model: "m", WindowStart: start, WindowEnd: end, Kind: "numerical", Metric: "b", Value: math.NaN(), Threshold: math.Inf(-1)},
		{Model: "m", WindowStart: start, WindowEnd: end, Kind: "numerical", Metric: "c", Value: math.MaxFloat64, Threshold: math.SmallestNonzeroFloat64},
	}
	if err := s.Write(ctx, Batch{Results: want}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Results(ctx, "m", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameResult(got[i], want[i]) {
			t.Errorf("result %d read back as %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestResultsSinceAndClosedWindowsPerModel(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testContext(t)
	base := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC) // windows span a month boundary, so two partitions
	window := func(model string, i int, ms int) check.Result {
		ws := base.Add(time.Duration(i)*30*time.Minute + time.Duration(ms)*time.Millisecond)
		return check.Result{Model: model, WindowStart: ws, WindowEnd: ws.Add(30 * time.Minute), Kind: "quality", Metric: "volume", Value: float64(i), Threshold: math.NaN()}
	}
	profile := func(r check.Result) WindowProfile {
		return WindowProfile{Model: r.Model, WindowStart: r.WindowStart, WindowEnd: r.WindowEnd, Partition: -1}
	}
	var b Batch
	for i := range 6 {
		b.Results = append(b.Results, window("fraud", i, 0))
	}
	b.Results = append(b.Results, window("churn", 0, 0), window("churn", 1, 500))
	for _, r := range b.Results {
		b.Profiles = append(b.Profiles, profile(r))
	}
	// A clock-driven check (staleness) of a later time closes no window.
	later := window("fraud", 40, 0)
	later.Kind = "staleness"
	b.Results = append(b.Results, later)
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}

	closed, err := s.ClosedWindows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{
		"fraud": base.Add(6 * 30 * time.Minute),
		"churn": base.Add(2*30*time.Minute + 500*time.Millisecond),
	}
	if !reflect.DeepEqual(closed, want) {
		t.Errorf("ClosedWindows = %v, want %v", closed, want)
	}

	tests := []struct {
		name      string
		model     string
		since     time.Time
		wantFirst float64
		wantN     int
	}{
		// The staleness row counts as a result, though it closed no window.
		{"all of fraud", "fraud", time.Time{}, 0, 7},
		{"from the third window", "fraud", base.Add(time.Hour), 2, 5},
		{"a millisecond after a window start excludes it", "fraud", base.Add(time.Hour + time.Millisecond), 3, 4},
		{"sub-second start included", "churn", base.Add(30*time.Minute + 500*time.Millisecond), 1, 1},
		{"sub-second start excluded", "churn", base.Add(30*time.Minute + 501*time.Millisecond), 0, 0},
		{"unknown model", "nobody", time.Time{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Results(ctx, tt.model, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantN {
				t.Fatalf("got %d results, want %d", len(got), tt.wantN)
			}
			for i := 1; i < len(got); i++ {
				if !got[i].WindowStart.After(got[i-1].WindowStart) {
					t.Errorf("results out of window order at %d", i)
				}
			}
			if tt.wantN > 0 && got[0].Value != tt.wantFirst {
				t.Errorf("first result is window %v, want %v", got[0].Value, tt.wantFirst)
			}
		})
	}

	// Counted: the model-level rows of every model, a feature's row not
	// among them, from a start to the millisecond.
	feature := profile(b.Results[3])
	feature.Feature = "amount"
	if err := s.Write(ctx, Batch{Profiles: []WindowProfile{feature}}); err != nil {
		t.Fatal(err)
	}
	for since, want := range map[time.Time][]string{
		base.Add(time.Hour):                             {"fraud 00:00", "fraud 00:30", "fraud 01:00", "fraud 01:30"},
		base.Add(30*time.Minute + 500*time.Millisecond): {"churn 23:30:00.5", "fraud 00:00", "fraud 00:30", "fraud 01:00", "fraud 01:30"},
		base.Add(30*time.Minute + 501*time.Millisecond): {"fraud 00:00", "fraud 00:30", "fraud 01:00", "fraud 01:30"},
	} {
		rows, err := s.Counted(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, r.Model+" "+strings.TrimSuffix(r.WindowStart.Format("15:04:05.999"), ":00"))
		}
		if !slices.Equal(got, want) {
			t.Errorf("Counted(%s) = %v, want %v", since.Format("15:04:05.999"), got, want)
		}
	}
}

// Reference summaries round-trip with their milliseconds, the later write of a
// (model, feature, period) wins, and since filters by period start.
func TestReferencesRoundTrip(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testContext(t)
	// Two daily periods either side of a month boundary, so two partitions,
	// and a third half a second after the second.
	p1 := time.Date(2026, 11, 30, 0, 0, 0, 250*int(time.Millisecond), time.UTC)
	p2 := p1.Add(24 * time.Hour)
	p3 := p2.Add(500 * time.Millisecond)
	ref := func(model, feature string, period time.Time, state string) ReferenceSummary {
		return ReferenceSummary{Model: model, Feature: feature, PeriodStart: period, State: []byte(state)}
	}
	first := Batch{References: []ReferenceSummary{
		ref("fraud", "amount", p1, "amount p1, first write"),
		ref("fraud", "prediction", p1, "prediction p1"),
		ref("churn", "amount", p1, "churn amount p1"),
		ref("fraud", "amount", p3, "amount p3"),
	}}
	second := Batch{References: []ReferenceSummary{
		ref("fraud", "amount", p1, "amount p1, second write\x00\xff"),
		ref("fraud", "amount", p2, "amount p2"),
	}}
	for _, b := range []Batch{first, second} {
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// Both copies of the rewritten row stay in the table until a merge; FINAL
	// must pick the later one, not the first found.
	if n := queryUint64(t, s, "SELECT count() FROM %s.reference_summaries"); n != 6 {
		t.Errorf("reference_summaries holds %d rows without FINAL, want 6", n)
	}

	wantFraud := []ReferenceSummary{
		second.References[0], // the later write of amount p1
		first.References[1],  // prediction sorts after amount within p1
		second.References[1],
		first.References[3],
	}
	tests := []struct {
		name  string
		model string
		since time.Time
		want  []ReferenceSummary
	}{
		{"all of fraud", "fraud", time.Time{}, wantFraud},
		{"since the first period's start", "fraud", p1, wantFraud},
		{"a millisecond after the first period's start", "fraud", p1.Add(time.Millisecond), wantFraud[2:]},
		{"sub-second period start included", "fraud", p3, wantFraud[3:]},
		{"sub-second period start excluded", "fraud", p3.Add(time.Millisecond), nil},
		{"another model", "churn", time.Time{}, []ReferenceSummary{first.References[2]}},
		{"unknown model", "nobody", time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.References(ctx, tt.model, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("References(%q, %v) =\n%s\nwant\n%s", tt.model, tt.since, formatRefs(got), formatRefs(tt.want))
			}
			for _, r := range got {
				if r.PeriodStart.Location() != time.UTC {
					t.Errorf("period start %v is not in UTC", r.PeriodStart)
				}
			}
		})
	}

	// Reference rows close no window: only profiles do.
	closed, err := s.ClosedWindows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(closed) != 0 {
		t.Errorf("ClosedWindows = %v after writing only reference summaries, want none", closed)
	}
}

func formatRefs(rs []ReferenceSummary) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  %s %s %s %q\n", r.Model, r.Feature, r.PeriodStart.Format(time.RFC3339Nano), r.State)
	}
	return b.String()
}

// manyResults makes n check results over n/100 one-minute windows.
func manyResults(n int, base time.Time) []check.Result {
	rs := make([]check.Result, n)
	for i := range rs {
		ws := base.Add(time.Duration(i/100) * time.Minute)
		rs[i] = check.Result{
			Model: "fraud", WindowStart: ws, WindowEnd: ws.Add(time.Minute), Kind: "drift",
			Feature: fmt.Sprintf("f%02d", i%100/4), Metric: []string{"psi", "js", "ks", "wasserstein"}[i%4],
			Value: float64(i), Threshold: 0.2, Breached: i%7 == 0,
		}
	}
	return rs
}

func TestLargeBatchInOneWrite(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := testContext(t)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const n = 100_000
	began := time.Now()
	if err := s.Write(ctx, Batch{Results: manyResults(n, base)}); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d check results in %v", n, time.Since(began))
	if got := queryUint64(t, s, "SELECT count() FROM %s.check_results FINAL"); got != n {
		t.Errorf("check_results FINAL has %d rows, want %d", got, n)
	}
	got, err := s.Results(ctx, "fraud", base)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("Results returned %d rows, want %d", len(got), n)
	}
}

func BenchmarkWrite(b *testing.B) {
	s, _ := openTestStore(b)
	ctx := testContext(b)
	const n = 10_000
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	batches := make([]Batch, 0, 16)
	for i := range cap(batches) {
		batches = append(batches, Batch{Results: manyResults(n, base.Add(time.Duration(i)*24*time.Hour))})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.Write(ctx, batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
}
