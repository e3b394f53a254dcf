package store

import (
	"context"
	"fmt"
	"github.com/sentinel-ml/sentinel/internal/store/storetest"
	"log/slog"
	"math"
	"math/rand/v2"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// testClock hands out strictly increasing times, so each Write's version is
// later than the one before even when the wall clock's resolution is coarse.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) Now() time.Time {
	return time.Unix(0, c.ns.Add(int64(time.Millisecond))+1_800_000_000_000_000_000)
}

// openTestStore opens a store on a database of its own, dropped when the test
// ends, so tests and parallel runs never see each other's rows.
func openTestStore(tb testing.TB) (*ClickHouse, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	opts := Options{
		DSN:          storetest.DSN(tb),
		Database:     fmt.Sprintf("sentinel_test_%016x", rand.Uint64()),
		RetryInitial: 10 * time.Millisecond,
		RetryMax:     200 * time.Millisecond,
		Registerer:   reg,
		Logger:       slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Now:          new(testClock).Now,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
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
	return s, reg
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
	if n := queryUint64(t, s, "SELECT count() FROM %s.schema_migrations"); n != 1 {
		t.Errorf("schema_migrations has %d rows, want 1: the second Migrate re-applied a step", n)
	}
	rows, err := s.conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? ORDER BY name", s.db)
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
	want := []string{"anomalies", "check_results", "rejected_counts", "schema_migrations", "window_profiles"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("tables %v, want %v", names, want)
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
	if n := counterSum(t, reg, "sentinel_store_rows_written_total"); n != 5 {
		t.Errorf("rows_written_total = %v, want 5", n)
	}
}

// sameResult compares results with NaN equal to NaN and times by instant.
func sameResult(a, b CheckResult) bool {
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
	if err := s.Write(ctx, second); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		table string
		want  uint64
	}{
		{"window_profiles", 1}, {"check_results", 2}, {"anomalies", 1}, {"rejected_counts", 1},
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
	want := []CheckResult{
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
	window := func(model string, i int, ms int) CheckResult {
		ws := base.Add(time.Duration(i)*30*time.Minute + time.Duration(ms)*time.Millisecond)
		return CheckResult{Model: model, WindowStart: ws, WindowEnd: ws.Add(30 * time.Minute), Kind: "quality", Metric: "volume", Value: float64(i), Threshold: math.NaN()}
	}
	profile := func(r CheckResult) WindowProfile {
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
}

// manyResults makes n check results over n/100 one-minute windows.
func manyResults(n int, base time.Time) []CheckResult {
	rs := make([]CheckResult, n)
	for i := range rs {
		ws := base.Add(time.Duration(i/100) * time.Minute)
		rs[i] = CheckResult{
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
