package daemon

import (
	"testing"
	"time"
)

// completeWindows reads back, with FINAL, the windows written complete.
func (h *harness) completeWindows() map[time.Time]uint64 {
	h.t.Helper()
	return h.windowsWhere(`position(state, '"complete":true') > 0`)
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
	// Neither replica reads to the end: with windows held open by partitions
	// read elsewhere, a partition that leads the checker's watermark by the
	// allowed lead pauses, which keeps memory bounded while they wait.
	waitFor(t, "each replica to see the other's partitions unreported and to read its own", func() bool {
		return counter(t, a.reg, "sentinel_partitions_unreported") == 2 &&
			counter(t, b.reg, "sentinel_partitions_unreported") == 2 && b.events(t) > 0
	})
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
// scale-down, a rolling update), the other, given every partition, ends with
// every window once with exactly its events: the drained one, reading only
// some partitions, writes none of its open windows (their key would replace
// the other's copy) and commits nothing behind them, so the remaining one
// reads those events again.
func TestReplicaDrainedAway(t *testing.T) {
	h := newHarness(t, 4)
	const n, minutes = 2000, 10
	a, b := twoLiveReplicas(t, h, n, minutes)
	b.stop(t)
	waitFor(t, "the remaining replica to hold every partition", func() bool { return len(a.group.Assigned()) == 4 })
	a.settled(t, 0)
	a.stop(t)
	h.checkWindows(n, minutes)
}

// TestFirstReplicaDrainedAway: as TestReplicaDrainedAway, but the replica
// that was there first, whose checkpoint at the second's joining is the
// stored copy of the open windows, is the one drained away.
func TestFirstReplicaDrainedAway(t *testing.T) {
	h := newHarness(t, 4)
	const n, minutes = 2000, 10
	a, b := twoLiveReplicas(t, h, n, minutes)
	a.stop(t)
	waitFor(t, "the remaining replica to hold every partition", func() bool { return len(b.group.Assigned()) == 4 })
	b.settled(t, 0)
	b.stop(t)
	h.checkWindows(n, minutes)
}
