package daemon

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// completeWindows reads back, with FINAL, the windows written complete.
func (h *harness) completeWindows() map[time.Time]uint64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := h.conn.Query(ctx, "SELECT window_start, row_count FROM "+h.db+
		".window_profiles FINAL WHERE model = 'fraud' AND feature = '' AND position(state, '\"complete\":true') > 0")
	if err != nil {
		if strings.Contains(err.Error(), "doesn't exist") {
			return map[time.Time]uint64{}
		}
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := map[time.Time]uint64{}
	for rows.Next() {
		var start time.Time
		var n uint64
		if err := rows.Scan(&start, &n); err != nil {
			h.t.Fatal(err)
		}
		out[start.UTC()] = n
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// twoLiveReplicas runs two daemons in one group, as a Deployment scaled to
// two does: each reads half the partitions. Neither may write a window whole
// from its half, and each says that the other's partitions report nothing to
// it.
func twoLiveReplicas(t *testing.T, h *harness, n, minutes int) (a, b *instance) {
	h.produce(0, 1000, n, minutes, false)
	a = h.daemon(nil)
	waitFor(t, "the first replica to read the first half", func() bool { return a.events(t) == 1000 })
	time.Sleep(time.Second)
	alone := h.completeWindows()

	b = h.daemon(nil)
	waitFor(t, "the replicas to share the partitions", func() bool {
		return len(a.group.Assigned()) == 2 && len(b.group.Assigned()) == 2
	})
	h.produce(1000, n, n, minutes, false)
	waitFor(t, "the replicas to read the second half", func() bool { return a.events(t)+b.events(t) >= float64(n) })
	time.Sleep(3 * time.Second)
	// No window is written whole from half the partitions.
	both := h.completeWindows()
	for start, c := range both {
		if _, ok := alone[start]; !ok {
			t.Errorf("window %s written complete with %d events while each replica reads half the partitions", start.Format("15:04"), c)
		}
	}
	for name, r := range map[string]*instance{"first": a, "second": b} {
		if u := counter(t, r.reg, "sentinel_partitions_unreported"); u != 2 {
			t.Errorf("the %s replica: sentinel_partitions_unreported = %v, want the other's 2", name, u)
		}
	}
	t.Logf("alone, the first replica wrote %d windows complete; with two replicas live, %d more (of %d due)",
		len(alone), len(both)-len(alone), minutes-len(alone)-1)
	return a, b
}

// TestTwoLiveReplicas: while two replicas share the partitions, no window is
// written whole from half of them, and each says which partitions it waits
// for.
func TestTwoLiveReplicas(t *testing.T) {
	h := newHarness(t, 4)
	a, b := twoLiveReplicas(t, h, 2000, 10)
	b.stop(t)
	a.stop(t)
}

// TestReplicaDrainedAway: when one of two live replicas is drained away (a
// scale-down, a rolling update), the other, given every partition, must end
// with every window once with exactly its events. It fails today, and so runs
// only when SENTINEL_KNOWN_LOSSES is set: the drained replica writes its
// shares under the same keys as the other's (every profile row has partition
// -1), the remaining replica holds those windows open itself and never reads
// the drained one's copy back, and its write replaces it — 500 of 2,000
// events lost over five windows, which are then written as complete. One
// model of partition ownership with the scale-out work is the fix.
func TestReplicaDrainedAway(t *testing.T) {
	if os.Getenv("SENTINEL_KNOWN_LOSSES") == "" {
		t.Skip("a known loss until the scale-out work: set SENTINEL_KNOWN_LOSSES=1 to run it")
	}
	h := newHarness(t, 4)
	const n, minutes = 2000, 10
	a, b := twoLiveReplicas(t, h, n, minutes)
	b.stop(t)
	waitFor(t, "the remaining replica to hold every partition", func() bool { return len(a.group.Assigned()) == 4 })
	a.settled(t, 0)
	a.stop(t)
	h.checkWindows(n, minutes)
}
