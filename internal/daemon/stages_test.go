package daemon

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// counting counts the records a publisher was given.
type counting struct {
	*ingest.PartialsWriter
	partitions int
	records    atomic.Int64
}

func (c *counting) Share(ctx context.Context, key string, value []byte, done func()) error {
	c.records.Add(1)
	return c.PartialsWriter.Share(ctx, key, value, done)
}

func (c *counting) Broadcast(ctx context.Context, value []byte, done func()) error {
	c.records.Add(int64(c.partitions))
	return c.PartialsWriter.Broadcast(ctx, value, done)
}

type batches struct{ b []store.Batch }

func (r *batches) Write(_ context.Context, b store.Batch) error {
	r.b = append(r.b, b.Clone())
	return nil
}

// TestProfileStagePublishes: a daemon of the profile stage checks nothing
// and writes nothing to ClickHouse; its shares and reports, read from the
// model's partition of the partials topic by a checker elsewhere, give every
// window with exactly its events.
func TestProfileStagePublishes(t *testing.T) {
	const partials = 3
	h := newHarness(t, 4, kafkatest.Topic{Name: "partials", Partitions: partials})
	w, err := ingest.NewPartialsWriter(ingest.PartialsOptions{KafkaConn: ingest.KafkaConn{Brokers: h.cluster.Brokers()},
		Topic: "partials", Partitions: partials, CheckGroup: "sentinel-check"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pub := &counting{PartialsWriter: w, partitions: partials}
	const n, minutes = 4000, 8
	h.produce(0, n, n, minutes, false)
	d := h.daemonWith(func(o *Options) { o.Publish = pub })
	d.settled(t, n)
	d.stop(t)
	if got := h.windows(); len(got) != 0 {
		t.Errorf("the profile stage wrote %d windows to ClickHouse", len(got))
	}

	// The model's partition holds its shares and every report, in the order
	// they were published.
	mine := int32(ingest.PartitionOf(h.model.Name(), partials))
	rec := &batches{}
	s, err := pipeline.NewSides(pipeline.Options{Models: []*model.Model{h.model}, Window: time.Minute, Lateness: 2 * time.Minute,
		ReferencePeriod: time.Hour, MinSamples: 10, MaxMessageBytes: 1 << 20, Partitions: h.partitions, Writer: rec, Now: time.Now,
		Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	shares := 0
	for _, r := range h.cluster.Read(t, "partials", int(pub.records.Load())) {
		if r.Partition != mine {
			continue
		}
		delta, progress, err := s.ReadRecord(r.Value, func() {})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case delta != nil:
			shares++
			err = s.Checker.Deliver(ctx, delta)
		case progress != nil: // not a release, for the next reader
			err = s.Checker.Progress(ctx, progress)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Checker.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[time.Time]uint64{}
	for _, b := range rec.b {
		for _, r := range b.Profiles {
			if r.Feature == "" {
				got[r.WindowStart] = r.Rows
			}
		}
	}
	var total uint64
	for start, c := range got {
		total += c
		if want := uint64(n / minutes); c != want {
			t.Errorf("window %s holds %d events, want %d", start.Format("15:04"), c, want)
		}
	}
	if len(got) != minutes || total != n {
		t.Errorf("%d windows holding %d events from %d shares, want %d holding %d", len(got), total, shares, minutes, n)
	}
}

// stagedDaemon starts a daemon that runs both stages: its workers publish to
// the partials topic, and its checker checks the models of the partitions
// of it that the check group assigns.
func (h *harness) stagedDaemon(partials int) *instance {
	i, _ := h.stagedDaemonWriter(partials)
	return i
}

// stagedDaemonWriter is stagedDaemon, with its partials writer, which a
// crash closes: a killed process publishes nothing more.
func (h *harness) stagedDaemonWriter(partials int) (*instance, *ingest.PartialsWriter) {
	return h.stagedWith(partials, func(*Options) {})
}

// stagedWith is stagedDaemonWriter, with the options set changes.
func (h *harness) stagedWith(partials int, set func(*Options)) (*instance, *ingest.PartialsWriter) {
	h.t.Helper()
	w, err := ingest.NewPartialsWriter(ingest.PartialsOptions{KafkaConn: ingest.KafkaConn{Brokers: h.cluster.Brokers()},
		Topic: "partials", Partitions: partials, CheckGroup: "sentinel-check"})
	if err != nil {
		h.t.Fatal(err)
	}
	group, err := ingest.NewGroup(ingest.KafkaOptions{
		KafkaConn: ingest.KafkaConn{Brokers: h.cluster.Brokers(), ClientID: "sentinel-test-check"},
		GroupID:   "sentinel-check", Topics: []string{"partials"}, MaxWait: h.maxWait,
		SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, RebalanceTimeout: time.Second,
		Logger: logger(h.t),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		group.Close()
		w.Close()
	})
	return h.daemonWith(func(o *Options) {
		o.Publish = w
		o.Check = &CheckStage{Group: group, Partitions: partials}
		// A killed process's partitions are waited for this long.
		o.HandoverWait = 3 * time.Second
		set(o)
	}), w
}

// TestTwoStages: two processes running both stages, as two replicas of a
// scaled-out Sentinel do, write every window once with exactly its events,
// checked by the one process that owns its model.
func TestTwoStages(t *testing.T) {
	const partials = 3
	h := newHarness(t, 4, kafkatest.Topic{Name: "partials", Partitions: partials})
	const n, minutes = 4000, 8
	h.produce(0, n, n, minutes, false)
	// Every window closes by the watermark: by idleness, it would take a
	// window and the lateness of wall time after a partition's last new
	// message, which a partition taken over and read afresh has just had.
	h.produceClosing(minutes)
	a := h.stagedDaemon(partials)
	b := h.stagedDaemon(partials)
	waitFor(t, "every event read by one of the two", func() bool { return a.events(t)+b.events(t) >= n })
	waitFor(t, "the windows to be written", func() bool { return len(h.completeWindows()) >= minutes })
	// The check stage reports how far behind the partials topic it is,
	// over the partitions each process checks: nothing left, in the end.
	waitFor(t, "the partials topic's lag to be reported, at zero", func() bool {
		la, oka := partialsLag(t, a)
		lb, okb := partialsLag(t, b)
		return oka && okb && la+lb == 0
	})
	b.stop(t)
	a.stop(t)
	h.checkWindows(n, minutes)
	t.Logf("events read: %v and %v", a.events(t), b.events(t))
}

// partialsLag is the instance's sentinel_ingest_lag of the partials topic,
// and whether it reports one.
func partialsLag(t *testing.T, i *instance) (float64, bool) {
	t.Helper()
	mfs, err := i.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sentinel_ingest_lag" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" && l.GetValue() == "partials" {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestStageSkipsGarbage: a record of the partials topic that is not one
// (anything a stray producer wrote there) is skipped, and the records after
// it are read: every window is still written with exactly its events.
func TestStageSkipsGarbage(t *testing.T) {
	const partials = 3
	h := newHarness(t, 4, kafkatest.Topic{Name: "partials", Partitions: partials})
	var garbage []kafkatest.Record
	for p := range partials {
		garbage = append(garbage, kafkatest.Record{Partition: int32(p), Value: []byte("not a record")})
	}
	h.cluster.Produce(t, "partials", garbage...)
	const n, minutes = 2000, 6
	h.produce(0, n, n, minutes, false)
	h.produceClosing(minutes)
	a := h.stagedDaemon(partials)
	waitFor(t, "the windows to be written", func() bool { return len(h.completeWindows()) >= minutes })
	a.stop(t)
	h.checkWindows(n, minutes)
}

// TestTwoStagesCrash: of two staged processes, one is killed mid-stream (no
// drain, nothing written or published after); the other, given everything,
// ends with every window once with exactly its events.
func TestTwoStagesCrash(t *testing.T) {
	const partials = 3
	h := newHarness(t, 4, kafkatest.Topic{Name: "partials", Partitions: partials})
	const n, minutes = 4000, 8
	h.produce(0, n/2, n, minutes, false)
	a, aw := h.stagedDaemonWriter(partials)
	b := h.stagedDaemon(partials)
	waitFor(t, "the first half read", func() bool { return a.events(t)+b.events(t) >= n/2 })
	a.crash(t)
	aw.Close()
	h.produce(n/2, n, n, minutes, false)
	// The last event, at 08:07:59, takes the watermark (2 minutes' lateness)
	// past the windows through 08:04; a staged process's drain writes no
	// open window (the check stage reads their shares again at its next
	// start), so those five are the ones to check.
	const closable = 5
	waitFor(t, "the windows the watermark passed to be written", func() bool { return len(h.completeWindows()) >= closable })
	b.stop(t)
	h.checkFirstWindows(n, minutes, closable)
}

// checkFirstWindows checks that the windows written are the first closable
// of the stream's minutes, each with its n/minutes events.
func (h *harness) checkFirstWindows(n, minutes, closable int) {
	h.t.Helper()
	got := h.windows()
	for k := range closable {
		start := t0.Add(time.Duration(k) * time.Minute)
		if got[start] != uint64(n/minutes) {
			h.t.Errorf("window %s holds %d events, want %d", start.Format("15:04"), got[start], n/minutes)
		}
	}
	if len(got) != closable {
		h.t.Errorf("%d windows written, want %d: %v", len(got), closable, got)
	}
}

// TestStageAdded: a second staged process joins mid-stream, as a scale-up
// does: the windows the watermark passes are written once with exactly
// their events, whichever process read and checked them.
func TestStageAdded(t *testing.T) {
	const partials = 3
	h := newHarness(t, 4, kafkatest.Topic{Name: "partials", Partitions: partials})
	const n, minutes = 4000, 8
	h.produce(0, n/2, n, minutes, false)
	a := h.stagedDaemon(partials)
	waitFor(t, "the first half read", func() bool { return a.events(t) >= n/2 })
	b := h.stagedDaemon(partials)
	waitFor(t, "the second process to take partitions", func() bool { return len(b.group.Assigned()) > 0 })
	h.produce(n/2, n, n, minutes, false)
	const closable = 5
	waitFor(t, "the windows the watermark passed to be written", func() bool { return len(h.completeWindows()) >= closable })
	b.stop(t)
	a.stop(t)
	h.checkFirstWindows(n, minutes, closable)
}

// TestPartialsTopicPrepared: a staged process makes sure of the partials
// topic before it reads anything, waits while Kafka cannot say, and refuses
// to start when the topic's partition count is not the one it was given,
// which decides each model's partition.
func TestPartialsTopicPrepared(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fails int // answers "unreachable" this many times first
		count int
		want  string
	}{
		{"agrees", 1, 3, ""},
		{"another count", 0, 5, "the partials topic has 5 partitions, kafka.partials.partitions says 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 2, kafkatest.Topic{Name: "partials", Partitions: 3})
			var asked atomic.Int32
			i, _ := h.stagedWith(3, func(o *Options) {
				o.Check.Ensure = func(context.Context) (int, error) {
					if asked.Add(1) <= int32(tc.fails) {
						return 0, errors.New("kafka is away")
					}
					return tc.count, nil
				}
			})
			if tc.want == "" {
				select {
				case <-i.restored:
				case <-time.After(10 * time.Second):
					t.Fatal("the store was not prepared")
				}
				i.stop(t)
				if n := asked.Load(); n != int32(tc.fails+1) {
					t.Errorf("asked %d times, want %d", n, tc.fails+1)
				}
				return
			}
			select {
			case <-i.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("a process given another count than its partials topic's still runs")
			}
			if err := i.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("stopped with %v, want %q", err, tc.want)
			}
		})
	}
}
