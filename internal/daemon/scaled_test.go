package daemon

import (
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
)

// The proof of issue #11: a scaled-out Sentinel, three processes running
// both stages over twelve partitions, stores what one process replaying the
// same events stores (replay_equal_test.go).

// fleetPartials is the partials topic's partition count.
const fleetPartials = 6

// stagedWait bounds the waits for the windows of three staged processes,
// which a loaded machine (make test runs packages side by side) was seen to
// take over a minute to write; they take some fifteen seconds on a quiet one.
const stagedWait = 3 * time.Minute

// stagedHarness is fleetHarness with the partials topic. Three staged
// processes keep some ninety fetches parked on idle partitions of the one
// in-process broker, which then answers some later than kafka-go's margin
// of a quarter of the wait (each such read reconnects): a wait of 2 s gets
// a margin of a second.
func stagedHarness(t *testing.T, models []*model.Model) *harness {
	h := fleetHarness(t, models, kafkatest.Topic{Name: "partials", Partitions: fleetPartials})
	h.maxWait = 2 * time.Second
	return h
}

// fleetStaged starts a staged process of the fleet; its writer is closed
// at a crash.
func (h *harness) fleetStaged(models []*model.Model) (*instance, *ingest.PartialsWriter) {
	return h.stagedWith(fleetPartials, func(o *Options) {
		o.Pipeline.Models = models
		o.Pipeline.Labels = &labels.JoinerConfig{MaxDelay: time.Minute, MaxPending: 1 << 20}
		anomaly := fleetAnomaly
		o.Pipeline.Anomaly = &anomaly
	})
}

// TestScaledOutMatchesReplay: three processes in one group, each running
// both stages, store every profile, check result and anomaly verdict that
// one replay of the same events stores.
//
// The events are there before the processes start, as a backlog is when a
// deployment scales out. Produced after, they would arrive at partitions
// that had reported themselves idle (caught up and nothing read, as a new
// reader of a quiet partition is at once), and windows the others passed
// would be checked without them first, then updated: a partition waking
// from idleness costs that, live and here, and replay knows no idleness.
func TestScaledOutMatchesReplay(t *testing.T) {
	models := fleetModels(t)
	s := newFleetStream(models)
	h := stagedHarness(t, models)
	h.produceMinutes(s, 0, len(s.events))
	var live []*instance
	for range 3 {
		i, _ := h.fleetStaged(models)
		live = append(live, i)
	}
	waitFor(t, "the three to share the partitions", func() bool {
		for _, i := range live {
			if len(i.group.Assigned()) == 0 {
				return false
			}
		}
		return true
	})
	waitForWithin(t, stagedWait, "every window written", func() bool { return h.closedWindows(s.end) >= fleetSize*fleetMinutes })
	for _, i := range live {
		i.stop(t)
	}
	h.compareWithReplay(models, s)
}

// TestScaledOutCrashAndJoin is TestScaledOutMatchesReplay with one process
// killed and another started between the halves of the stream.
func TestScaledOutCrashAndJoin(t *testing.T) {
	models := fleetModels(t)
	s := newFleetStream(models)
	h := stagedHarness(t, models)
	var live []*instance
	var doomed *ingest.PartialsWriter
	for k := range 3 {
		i, w := h.fleetStaged(models)
		live = append(live, i)
		if k == 2 {
			doomed = w
		}
	}
	const half = fleetMinutes / 2
	h.produceMinutes(s, 0, half)
	// The watermark of the first half (its last event less the lateness)
	// closes the windows of its first twelve minutes.
	const closable = half - 3
	waitForWithin(t, stagedWait, "the first half's windows written", func() bool {
		return h.closedWindows(t0.Add(closable*time.Minute)) >= fleetSize*closable
	})
	live[2].crash(t)
	doomed.Close()
	joined, _ := h.fleetStaged(models)
	live = append(live[:2], joined)
	h.produceMinutes(s, half, len(s.events))
	waitForWithin(t, stagedWait, "every window written", func() bool { return h.closedWindows(s.end) >= fleetSize*fleetMinutes })
	for _, i := range live {
		i.stop(t)
	}
	h.compareWithReplay(models, s)
}
