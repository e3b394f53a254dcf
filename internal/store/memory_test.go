package store

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/check"
)

// TestMemoryReplaces: a row written again under its key replaces the first, as
// the ClickHouse tables read with FINAL do, and reads come back in key order.
func TestMemoryReplaces(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	result := func(at time.Time, v float64) check.Result {
		return check.Result{Model: "fraud", WindowStart: at, WindowEnd: at.Add(time.Minute), Kind: check.Quality,
			Metric: check.Events, Value: v, Threshold: math.NaN()}
	}
	profile := func(at time.Time, rows uint64) WindowProfile {
		return WindowProfile{Model: "fraud", WindowStart: at, WindowEnd: at.Add(time.Minute), Partition: -1, Rows: rows}
	}
	for _, b := range []Batch{
		{Results: []check.Result{result(t0.Add(time.Minute), 5), result(t0, 1)}, Profiles: []WindowProfile{profile(t0, 1)}},
		{Results: []check.Result{result(t0, 2)}, Profiles: []WindowProfile{profile(t0, 2), profile(t0.Add(time.Minute), 5)}},
	} {
		if err := m.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := m.Results(ctx, "fraud", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Value != 2 || rs[1].Value != 5 {
		t.Errorf("results %+v, want 10:00 rewritten to 2, then 10:01", rs)
	}
	ps, err := m.Profiles(ctx, "fraud", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Rows != 5 {
		t.Errorf("profiles since 10:01: %+v", ps)
	}
	closed, err := m.ClosedWindows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !closed["fraud"].Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("closed windows %v", closed)
	}
}
