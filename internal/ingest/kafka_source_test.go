package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

// testSourceOptions keeps group joins, rebalances and fetch waits short so that the
// integration tests, which open and close many members, run in seconds.
func testSourceOptions(brokers []string, group string, topics ...string) KafkaOptions {
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

func newTestSource(t *testing.T, opts KafkaOptions) (*KafkaSource, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	s, err := NewKafkaSource(opts)
	if err != nil {
		t.Fatalf("NewKafkaSource: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, reg
}

// fetchN fetches n messages or fails the test.
func fetchN(t *testing.T, s Source, n int) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs := make([]Message, 0, n)
	for range n {
		m, err := s.Fetch(ctx)
		if err != nil {
			t.Fatalf("Fetch after %d of %d messages: %v", len(msgs), n, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// expectNoMore fails if a message arrives within d.
func expectNoMore(t *testing.T, s Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if m, err := s.Fetch(ctx); err == nil {
		t.Fatalf("Fetch returned an unexpected message %s/%d@%d %q", m.Topic, m.Partition, m.Offset, m.Value)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch: %v, want a deadline error", err)
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

func TestKafkaSourceConsumesSeveralTopicsInPartitionOrder(t *testing.T) {
	c := kafkatest.Start(t,
		kafkatest.Topic{Name: "events", Partitions: 3},
		kafkatest.Topic{Name: "labels", Partitions: 2},
		kafkatest.Topic{Name: "features", Partitions: 1})
	produceNumbered(t, c, "events", 3, 50)
	produceNumbered(t, c, "labels", 2, 20)
	produceNumbered(t, c, "features", 1, 5)

	s, reg := newTestSource(t, testSourceOptions(c.Brokers(), "g", "events", "labels", "features"))
	msgs := fetchN(t, s, 3*50+2*20+5)
	counts := checkOrdered(t, msgs, nil)
	for k, n := range counts {
		want := map[string]int{"events": 50, "labels": 20, "features": 5}[k.topic]
		if n != want {
			t.Errorf("%s/%d: %d messages, want %d", k.topic, k.partition, n, want)
		}
	}
	if len(counts) != 6 {
		t.Errorf("messages from %d partitions, want 6: %v", len(counts), counts)
	}
	expectNoMore(t, s, 300*time.Millisecond)

	for topic, want := range map[string]float64{"events": 150, "labels": 40, "features": 5} {
		if got := testutil.ToFloat64(s.perTopic[topic].messages); got != want {
			t.Errorf("sentinel_ingest_messages_total{topic=%q} = %v, want %v", topic, got, want)
		}
	}
	// "events/0/7" is 10 bytes and its key "k7" 2: 12 bytes for one-digit indices.
	if got, want := testutil.ToFloat64(s.perTopic["features"].bytes), float64(5*(len("features/0/0")+len("k0"))); got != want {
		t.Errorf(`sentinel_ingest_bytes_total{topic="features"} = %v, want %v`, got, want)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sentinel_ingest_lag Messages behind the high-water mark, summed over this member's partitions of the topic, as of the last message fetched from each since the last rebalance; partitions that delivered nothing since are missing.
# TYPE sentinel_ingest_lag gauge
sentinel_ingest_lag{topic="events"} 0
sentinel_ingest_lag{topic="features"} 0
sentinel_ingest_lag{topic="labels"} 0
# HELP sentinel_ingest_rebalances_total Consumer group generations this member joined.
# TYPE sentinel_ingest_rebalances_total counter
sentinel_ingest_rebalances_total 1
`), "sentinel_ingest_lag", "sentinel_ingest_rebalances_total"); err != nil {
		t.Error(err)
	}
}

func TestKafkaSourceResumesAfterLastCommit(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 3})
	produceNumbered(t, c, "events", 3, 20)
	opts := testSourceOptions(c.Brokers(), "g", "events")

	first, _ := newTestSource(t, opts)
	msgs := fetchN(t, first, 60)
	checkOrdered(t, msgs, nil)
	// The pipeline commits the last durable message per partition: partition 0 up
	// to offset 9, partition 1 in full, partition 2 not at all. An older message of
	// partition 1 in the same call must not move it back.
	ctx := context.Background()
	if err := first.Commit(ctx,
		Message{Topic: "events", Partition: 0, Offset: 9},
		Message{Topic: "events", Partition: 1, Offset: 19},
		Message{Topic: "events", Partition: 1, Offset: 4},
	); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := testutil.ToFloat64(first.commits); got != 1 {
		t.Errorf("sentinel_ingest_commits_total = %v, want 1", got)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := first.Fetch(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("Fetch after Close: %v, want io.EOF", err)
	}

	second, _ := newTestSource(t, opts)
	rest := fetchN(t, second, 10+20)
	counts := checkOrdered(t, rest, map[partitionKey]int64{{"events", 0}: 10})
	if want := map[partitionKey]int{{"events", 0}: 10, {"events", 2}: 20}; !equalCounts(counts, want) {
		t.Errorf("redelivered %v, want %v", counts, want)
	}
	expectNoMore(t, second, 300*time.Millisecond)
}

// A member that dies (no Close, no LeaveGroup, no commit) keeps its partitions
// until its session expires; then everything it had not committed goes to the next
// member.
func TestKafkaSourceRedeliversAfterCrash(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 2})
	produceNumbered(t, c, "events", 2, 10)

	var network netSwitch
	crashing := testSourceOptions(c.Brokers(), "g", "events")
	crashing.dial = network.dial
	doomed, _ := newTestSource(t, crashing)

	fetchCtx, cancelFetch := context.WithCancel(context.Background())
	for range 20 {
		if _, err := doomed.Fetch(fetchCtx); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
	}
	if err := doomed.Commit(fetchCtx, Message{Topic: "events", Partition: 0, Offset: 4}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	// The crash: the pipeline stops mid-window, and no byte leaves the process any
	// more, so kafka-go can neither commit nor leave the group. (Cancelling the
	// context alone is no crash: kafka-go's own goroutines would keep heartbeating.)
	cancelFetch()
	network.cut()

	start := time.Now()
	survivor, _ := newTestSource(t, testSourceOptions(c.Brokers(), "g", "events"))
	rest := fetchN(t, survivor, 5+10)
	t.Logf("survivor got the dead member's partitions after %v", time.Since(start).Round(time.Millisecond))
	counts := checkOrdered(t, rest, map[partitionKey]int64{{"events", 0}: 5})
	if want := map[partitionKey]int{{"events", 0}: 5, {"events", 1}: 10}; !equalCounts(counts, want) {
		t.Errorf("redelivered %v, want %v", counts, want)
	}
	expectNoMore(t, survivor, 300*time.Millisecond)
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

// netSwitch dials TCP until cut, then closes every connection it made and refuses
// new ones.
type netSwitch struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func (n *netSwitch) dial(ctx context.Context, network, address string) (net.Conn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return nil, fmt.Errorf("dial %s: network cut by test", address)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err == nil {
		n.conns = append(n.conns, conn)
	}
	return conn, err
}

func (n *netSwitch) cut() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = true
	for _, c := range n.conns {
		_ = c.Close()
	}
}

func TestKafkaSourceReady(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 2}, kafkatest.Topic{Name: "labels", Partitions: 1})

	t.Run("joined", func(t *testing.T) {
		s, _ := newTestSource(t, testSourceOptions(c.Brokers(), "ready", "events", "labels"))
		waitReady(t, s.Ready)
	})
	t.Run("more members than partitions", func(t *testing.T) {
		// Two members share the one partition of "labels": one reads it and is
		// ready, the other has nothing to read and is not, until the first
		// leaves and the partition moves to it.
		a, _ := newTestSource(t, testSourceOptions(c.Brokers(), "ready-spare", "labels"))
		waitReady(t, a.Ready)
		b, _ := newTestSource(t, testSourceOptions(c.Brokers(), "ready-spare", "labels"))
		deadline := time.Now().Add(10 * time.Second)
		for {
			errA, errB := a.Ready(context.Background()), b.Ready(context.Background())
			if (errA == nil) != (errB == nil) && b.assigned.Load() >= 0 {
				spare := errB
				if errA != nil {
					spare = errA
				}
				if !strings.Contains(spare.Error(), "no partitions are assigned") {
					t.Errorf("spare member: Ready() = %v, want no partitions assigned", spare)
				}
				if errA != nil {
					a, b = b, a
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10s: Ready() = %v and %v, want exactly one member ready", errA, errB)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		waitReady(t, b.Ready)
	})
	t.Run("missing topic", func(t *testing.T) {
		s, _ := newTestSource(t, testSourceOptions(c.Brokers(), "ready-missing", "events", "nope"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err == nil || !strings.Contains(err.Error(), `topic "nope"`) {
			t.Errorf("Ready() = %v, want an error naming topic \"nope\"", err)
		}
	})
	t.Run("closed port", func(t *testing.T) {
		s, _ := newTestSource(t, testSourceOptions([]string{closedPort(t)}, "ready-closed", "events"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err == nil {
			t.Error("Ready() = nil against a closed port")
		}
	})
}

func TestKafkaSourceSASL(t *testing.T) {
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
			opts := testSourceOptions(c.Brokers(), "sasl-"+strings.ReplaceAll(tt.name, " ", "-"), "events")
			opts.SASL = &SASLOptions{Mechanism: SASLScramSHA256, Username: "sentinel", Password: tt.password}
			s, _ := newTestSource(t, opts)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if !tt.ok {
				if err := s.Ready(ctx); err == nil {
					t.Error("Ready() = nil with a wrong password")
				}
				return
			}
			// Ready needs both a metadata answer and a group join, each over an
			// authenticated connection.
			waitReady(t, s.Ready)
		})
	}
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
