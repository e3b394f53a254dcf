package ingest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

// testOptions keeps group joins, rebalances and fetch waits short so that the
// integration tests, which open and close many members, run in seconds.
func testOptions(brokers []string, group string, topics ...string) KafkaOptions {
	return KafkaOptions{
		KafkaConn:         KafkaConn{Brokers: brokers, ClientID: "sentinel-test", DialTimeout: 2 * time.Second},
		GroupID:           group,
		Topics:            topics,
		MaxWait:           100 * time.Millisecond,
		SessionTimeout:    time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		RebalanceTimeout:  time.Second,
	}
}

// produceNumbered writes perPartition records to each partition; the value names
// its place ("events/1/7") so a test can check order and identity.
func produceNumbered(t *testing.T, c *kafkatest.Cluster, topic string, partitions, perPartition int) {
	t.Helper()
	var rs []kafkatest.Record
	for i := range perPartition {
		for p := range partitions {
			rs = append(rs, kafkatest.Record{
				Partition: int32(p),
				Key:       []byte(fmt.Sprintf("k%d", i)),
				Value:     []byte(fmt.Sprintf("%s/%d/%d", topic, p, i)),
			})
		}
	}
	c.Produce(t, topic, rs...)
}

type partitionKey struct {
	topic     string
	partition int
}

// checkOrdered checks that, per partition, msgs are exactly offsets from..to-1 in
// order with the values produceNumbered wrote, and returns the count per partition.
func checkOrdered(t *testing.T, msgs []Message, from map[partitionKey]int64) map[partitionKey]int {
	t.Helper()
	next := make(map[partitionKey]int64)
	counts := make(map[partitionKey]int)
	for _, m := range msgs {
		k := partitionKey{m.Topic, m.Partition}
		want, ok := next[k]
		if !ok {
			want = from[k]
		}
		if m.Offset != want {
			t.Fatalf("%s/%d: got offset %d, want %d", m.Topic, m.Partition, m.Offset, want)
		}
		if v := fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset); string(m.Value) != v {
			t.Fatalf("%s/%d@%d: value %q, want %q", m.Topic, m.Partition, m.Offset, m.Value, v)
		}
		if k := fmt.Sprintf("k%d", m.Offset); string(m.Key) != k {
			t.Fatalf("%s/%d@%d: key %q, want %q", m.Topic, m.Partition, m.Offset, m.Key, k)
		}
		if m.Time.IsZero() {
			t.Fatalf("%s/%d@%d: no broker timestamp", m.Topic, m.Partition, m.Offset)
		}
		next[k] = m.Offset + 1
		counts[k]++
	}
	return counts
}

func equalCounts(a, b map[partitionKey]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// waitReady polls ready until it succeeds: the group join happens in the background.
func waitReady(t *testing.T, ready func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// member runs a group member in the background; gens receives each generation,
// and the member's handler holds it until release is called or it ends.
type member struct {
	g       *Group
	gens    chan *Generation
	release chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

func startMember(t *testing.T, opts KafkaOptions) *member {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	g, err := NewGroup(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{g: g, gens: make(chan *Generation, 8), release: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		g.Run(ctx, func(ctx context.Context, gen *Generation) {
			m.gens <- gen
			select {
			case <-ctx.Done():
			case <-m.release:
			}
		})
	}()
	t.Cleanup(m.stop)
	return m
}

func (m *member) stop() {
	m.cancel()
	<-m.done
	m.g.Close()
}

func (m *member) next(t *testing.T) *Generation {
	t.Helper()
	select {
	case gen := <-m.gens:
		return gen
	case <-time.After(20 * time.Second):
		t.Fatal("no generation within 20s")
		return nil
	}
}

// readN reads n messages of partition number k.
func readN(t *testing.T, gen *Generation, k, n int) []Message {
	t.Helper()
	r := gen.Reader(k)
	defer r.Close()
	var out []Message
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case f := <-r.C():
			if f.Err != nil {
				t.Fatal(f.Err)
			}
			out = append(out, f.Msg)
		case <-timeout:
			t.Fatalf("read %d of %d messages", len(out), n)
		}
	}
	return out
}

// TestGroupReadsCoPartitionedTopics: a member reads partition k of every topic
// together, each topic in order, and resumes after the offsets it committed.
func TestGroupReadsCoPartitionedTopics(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 2}, kafkatest.Topic{Name: "labels", Partitions: 2})
	produceNumbered(t, c, "events", 2, 10)
	produceNumbered(t, c, "labels", 2, 5)
	opts := testOptions(c.Brokers(), "g", "events", "labels")
	first := startMember(t, opts)
	gen := first.next(t)
	if len(gen.Partitions) != 2 {
		t.Fatalf("partitions %v, want both", gen.Partitions)
	}
	msgs := readN(t, gen, 1, 15)
	counts := checkOrdered(t, msgs, nil)
	if want := map[partitionKey]int{{"events", 1}: 10, {"labels", 1}: 5}; !equalCounts(counts, want) {
		t.Errorf("partition 1 of both topics: %v, want %v", counts, want)
	}
	if err := gen.Commit([]Message{{Topic: "events", Partition: 1, Offset: 6}, {Topic: "labels", Partition: 1, Offset: 4}}); err != nil {
		t.Fatal(err)
	}
	first.stop()

	second := startMember(t, opts)
	gen = second.next(t)
	rest := readN(t, gen, 1, 3)
	if counts := checkOrdered(t, rest, map[partitionKey]int64{{"events", 1}: 7}); !equalCounts(counts, map[partitionKey]int{{"events", 1}: 3}) {
		t.Errorf("after the commit, read %v, want events 1 from offset 7", counts)
	}
}

// TestCommitMarked: what readers mark is committed in one request for every
// partition; a mark that failed to commit waits for the next commit unless
// marked again, and the next member resumes after what was committed.
func TestCommitMarked(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 2})
	produceNumbered(t, c, "events", 2, 10)
	opts := testOptions(c.Brokers(), "g", "events")
	first := startMember(t, opts)
	gen := first.next(t)
	gen.Mark([]Message{{Topic: "events", Partition: 0, Offset: 2}})
	gen.Mark([]Message{{Topic: "events", Partition: 1, Offset: 3}, {Topic: "events", Partition: 0, Offset: 4}})
	if n := gen.Marked(); n != 2 {
		t.Fatalf("Marked() = %d, want 2", n)
	}
	if err := gen.CommitMarked(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(gen.g.metrics.commits); n != 1 {
		t.Errorf("%v commits, want both partitions in one", n)
	}
	if n := gen.Marked(); n != 0 {
		t.Fatalf("Marked() after a commit = %d, want 0", n)
	}
	gen.Mark([]Message{{Topic: "events", Partition: 1, Offset: 8}})
	first.stop()
	if err := gen.CommitMarked(); err == nil {
		t.Fatal("a commit after the member left succeeded")
	}
	if n := gen.Marked(); n != 1 {
		t.Errorf("Marked() after a failed commit = %d, want the mark kept", n)
	}

	second := startMember(t, opts)
	gen = second.next(t)
	for k, from := range []int64{5, 4} {
		rest := readN(t, gen, k, 1)
		if rest[0].Offset != from {
			t.Errorf("partition %d resumed at offset %d, want %d", k, rest[0].Offset, from)
		}
	}
}

// TestGroupRefusesTopicsPartitionedOtherwise: labels that cannot meet their
// predictions in one worker are refused, with what to change.
func TestGroupRefusesTopicsPartitionedOtherwise(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 2}, kafkatest.Topic{Name: "labels", Partitions: 1})
	m := startMember(t, testOptions(c.Brokers(), "g", "events", "labels"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := m.g.Ready(context.Background())
		if err != nil && strings.Contains(err.Error(), `give "labels" 2 partitions`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready() = %v, want the co-partitioning refused", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGroupReady(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 1})
	t.Run("joined", func(t *testing.T) {
		m := startMember(t, testOptions(c.Brokers(), "ready", "events"))
		waitReady(t, m.g.Ready)
	})
	t.Run("more members than partitions", func(t *testing.T) {
		a := startMember(t, testOptions(c.Brokers(), "ready-spare", "events"))
		waitReady(t, a.g.Ready)
		b := startMember(t, testOptions(c.Brokers(), "ready-spare", "events"))
		deadline := time.Now().Add(10 * time.Second)
		for {
			errA, errB := a.g.Ready(context.Background()), b.g.Ready(context.Background())
			if (errA == nil) != (errB == nil) {
				spare := errB
				if errA != nil {
					spare = errA
				}
				if strings.Contains(spare.Error(), "no partitions are assigned") {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10s: Ready() = %v and %v, want exactly one member ready", errA, errB)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("missing topic", func(t *testing.T) {
		m := startMember(t, testOptions(c.Brokers(), "ready-missing", "events", "nope"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.g.Ready(ctx); err == nil || !strings.Contains(err.Error(), `topic "nope"`) {
			t.Errorf("Ready() = %v, want an error naming topic \"nope\"", err)
		}
	})
	t.Run("closed port", func(t *testing.T) {
		m := startMember(t, testOptions([]string{closedPort(t)}, "ready-closed", "events"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.g.Ready(ctx); err == nil {
			t.Error("Ready() = nil against a closed port")
		}
	})
}

func TestGroupSASL(t *testing.T) {
	c := kafkatest.StartWith(t,
		[]kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "sentinel", "s3cret")},
		kafkatest.Topic{Name: "events", Partitions: 1})
	tests := []struct {
		name     string
		password string
		ok       bool
	}{
		{"right password", "s3cret", true},
		{"wrong password", "guess", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(c.Brokers(), "sasl-"+strings.ReplaceAll(tt.name, " ", "-"), "events")
			opts.SASL = &SASLOptions{Mechanism: SASLScramSHA256, Username: "sentinel", Password: tt.password}
			m := startMember(t, opts)
			if !tt.ok {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := m.g.Ready(ctx); err == nil {
					t.Error("Ready() = nil with a wrong password")
				}
				return
			}
			// Ready needs both a metadata answer and a group join, each over an
			// authenticated connection.
			waitReady(t, m.g.Ready)
		})
	}
}

// TestReaderMergesByEventTime: with an event time reader, a partition's
// topics come merged by it, whichever topic the broker serves first (here
// every label is produced before any event).
func TestReaderMergesByEventTime(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 1}, kafkatest.Topic{Name: "labels", Partitions: 1})
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	const n = 300
	var events, labels []kafkatest.Record
	for k := range n {
		labels = append(labels, kafkatest.Record{Value: fmt.Appendf(nil, `{"model":"m","request_id":"r%d","timestamp":%q,"label":1}`,
			k, t0.Add(time.Duration(2*k+1)*time.Second).Format(time.RFC3339))})
		events = append(events, kafkatest.Record{Value: fmt.Appendf(nil, `{"model":"m","request_id":"r%d","timestamp":%q,"features":{"x":1},"prediction":0.5}`,
			k, t0.Add(time.Duration(2*k)*time.Second).Format(time.RFC3339))})
	}
	c.Produce(t, "labels", labels...)
	c.Produce(t, "events", events...)
	opts := testOptions(c.Brokers(), "g", "events", "labels")
	// Small fetches: each topic arrives in many pieces, as a backlog does.
	opts.MaxBytes = 1 << 10
	opts.EventTime = event.TimeReader
	gen := startMember(t, opts).next(t)
	timeOf := event.TimeReader()
	var last time.Time
	for k, m := range readN(t, gen, 0, 2*n) {
		at := timeOf(m.Value)
		if want := t0.Add(time.Duration(k) * time.Second); !at.Equal(want) {
			t.Fatalf("message %d (%s offset %d) at %s, want %s: after %s", k, m.Topic, m.Offset, at.Format(time.TimeOnly), want.Format(time.TimeOnly), last.Format(time.TimeOnly))
		}
		last = at
	}
}
