package pipeline

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/window"
)

// TestLoadCounted: with shared windows, once the index has loaded what the
// stored windows counted, a partition that opens a window asks the store
// nothing: a stored window's counts, a learnt share's and a window nobody
// wrote are all answered from memory. Before, each was a read of the whole
// window.
func TestLoadCounted(t *testing.T) {
	m := exampleModel(t)
	ctx := context.Background()
	mem := &windowReads{Memory: store.NewMemory()}
	w, err := window.New(m, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	events0 := ingest.TopicPartition{Topic: "events", Partition: 0}
	rows, _ := w.AppendRows(nil, nil, m, []window.Offset{{Topic: "events", Partition: 0, Offset: 41}}, true, slog.New(slog.DiscardHandler))
	if err := mem.Write(ctx, store.Batch{Profiles: rows}); err != nil {
		t.Fatal(err)
	}
	idx := newCountedIndex([]*model.Model{m}, time.Minute, time.Hour, true)
	closed, err := mem.ClosedWindows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idx.restored(mem, closed)
	if _, _, err := idx.lookup(ctx, m.Name(), t0.Add(5*time.Minute)); err != nil || mem.reads != 1 {
		t.Fatalf("before loading, a lookup read the store %d times (err %v), want once", mem.reads, err)
	}
	if err := idx.load(ctx); err != nil {
		t.Fatal(err)
	}
	idx.add(m.Name(), t0.Add(2*time.Minute), []window.Offset{{Topic: "events", Partition: 0, Offset: 60}})
	for _, tc := range []struct {
		start  time.Time
		status windowStatus
		offset int64
	}{
		{t0, written, 41},
		{t0.Add(time.Minute), notWritten, -1},
		{t0.Add(2 * time.Minute), written, 60},
	} {
		reads := mem.reads
		counts, status, err := idx.lookup(ctx, m.Name(), tc.start)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := counts[events0]
		if !ok {
			got = -1
		}
		if status != tc.status || got != tc.offset || mem.reads != reads {
			t.Errorf("window %s: status %d, offset %d, %d store reads; want %d, %d, none", tc.start.Format("15:04"), status, got,
				mem.reads-reads, tc.status, tc.offset)
		}
	}
}
