package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
)

// TestAhead: a partition read more than MaxLead ahead of the slowest one is
// told to pause, the slowest never is, and the pause ends when the slowest
// catches up; a partition that never reported holds every other one back.
func TestAhead(t *testing.T) {
	opts := testOptions(exampleModel(t), &recorder{})
	opts.Partitions = 2
	s, err := NewSides(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var workers [2]*Worker
	offsets := [2]int64{}
	for k := range workers {
		if workers[k], err = s.NewWorker(k, s.Checker); err != nil {
			t.Fatal(err)
		}
	}
	feed := func(k int, at time.Duration) {
		t.Helper()
		offsets[k]++
		m := ingest.Message{Topic: "events", Partition: k, Offset: offsets[k], Value: ev(t0.Add(at), "1")}
		if err := workers[k].Process(ctx, m, t0); err != nil {
			t.Fatal(err)
		}
	}
	ahead := func(k int) bool {
		a, _ := s.Ahead(workers[k])
		return a
	}
	if ahead(0) {
		t.Error("a partition with no event yet is ahead")
	}
	feed(0, 5*time.Second)
	if !ahead(0) {
		t.Error("partition 0 is not ahead while partition 1 has never reported")
	}
	feed(1, 5*time.Second)
	if ahead(0) || ahead(1) {
		t.Error("partitions level in event time are ahead")
	}
	// Lateness is 10 s, the lead two one-minute windows: partition 1's
	// watermark is at -5 s.
	feed(0, 2*time.Minute)
	if ahead(0) {
		t.Error("partition 0 two minutes ahead is already paused")
	}
	feed(0, 2*time.Minute+30*time.Second)
	_, moved := s.Ahead(workers[0])
	if !ahead(0) || ahead(1) {
		t.Errorf("partition 0 over two minutes ahead: ahead %v, partition 1 ahead %v; want only 0", ahead(0), ahead(1))
	}
	feed(1, 80*time.Second)
	select {
	case <-moved:
	default:
		t.Error("the slowest partition moved past a window and the pause did not end")
	}
	if ahead(0) {
		t.Error("partition 0 still ahead once partition 1 caught up")
	}
}
