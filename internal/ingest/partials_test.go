package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

// TestPartialsWriter: shares go to their key's partition, broadcasts to
// every partition, and each done is called once, in order, after its record
// is durable.
func TestPartialsWriter(t *testing.T) {
	const partitions = 3
	c := kafkatest.Start(t, kafkatest.Topic{Name: "partials", Partitions: partitions})
	reg := prometheus.NewRegistry()
	w, err := NewPartialsWriter(PartialsOptions{KafkaConn: KafkaConn{Brokers: c.Brokers(), DialTimeout: 2 * time.Second},
		Topic: "partials", Partitions: partitions, CheckGroup: "check", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	waitReady(t, w.Ready)
	ctx := context.Background()
	var (
		mu    sync.Mutex
		dones []string
	)
	done := func(name string) func() {
		return func() {
			mu.Lock()
			dones = append(dones, name)
			mu.Unlock()
		}
	}
	models := []string{"fraud", "churn", "ranker", "eta"}
	for i, m := range models {
		if err := w.Share(ctx, m, []byte(fmt.Sprintf("share %d", i)), done(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Broadcast(ctx, []byte("report"), done("report")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if got, want := fmt.Sprint(dones), fmt.Sprint(append(models, "report")); got != want {
		t.Errorf("dones %s, want %s", got, want)
	}
	mu.Unlock()
	reports := map[int32]bool{}
	for _, r := range c.Read(t, "partials", len(models)+partitions) {
		if string(r.Value) == "report" {
			reports[r.Partition] = true
			continue
		}
		if want := PartitionOf(string(r.Key), partitions); int(r.Partition) != want {
			t.Errorf("share of %s in partition %d, want %d", r.Key, r.Partition, want)
		}
	}
	if len(reports) != partitions {
		t.Errorf("the report reached partitions %v, want all %d", reports, partitions)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`
# HELP sentinel_partials_queued_records Partials records enqueued and not yet durable; at the queue's bound the profile stage stops reading.
# TYPE sentinel_partials_queued_records gauge
sentinel_partials_queued_records 0
# HELP sentinel_partials_records_total Records of the partials topic made durable: window shares, partition reports and releases.
# TYPE sentinel_partials_records_total counter
sentinel_partials_records_total %d
# HELP sentinel_partials_write_failures_total Rounds of partials records that failed to write, each retried: the source offsets behind them wait.
# TYPE sentinel_partials_write_failures_total counter
sentinel_partials_write_failures_total 0
`, len(models)+partitions))); err != nil {
		t.Error(err)
	}
	// Close lets the metrics go, for a writer built again to register.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("%d series left registered after Close (err %v)", n, err)
	}
}

// TestPartialsWriterOutage: records enqueued while the broker is down are
// written once it is back, none lost, their dones in order.
func TestPartialsWriterOutage(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "partials", Partitions: 2})
	reg := prometheus.NewRegistry()
	w, err := NewPartialsWriter(PartialsOptions{KafkaConn: KafkaConn{Brokers: c.Brokers(), DialTimeout: time.Second},
		Topic: "partials", Partitions: 2, CheckGroup: "check", WriteTimeout: time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	waitReady(t, w.Ready)
	ctx := context.Background()
	c.Outage(true)
	var n int
	var mu sync.Mutex
	for i := range 20 {
		if err := w.Share(ctx, fmt.Sprint(i), []byte("x"), func() {
			mu.Lock()
			if n != i {
				t.Errorf("done of record %d after %d others", i, n)
			}
			n++
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sentinel_partials_queued_records Partials records enqueued and not yet durable; at the queue's bound the profile stage stops reading.
# TYPE sentinel_partials_queued_records gauge
sentinel_partials_queued_records 20
`), "sentinel_partials_queued_records"); err != nil {
		t.Errorf("during the outage: %v", err)
	}
	c.Outage(false)
	flushCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := w.Flush(flushCtx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 20 {
		t.Errorf("%d of 20 records durable", n)
	}
	if got := c.Read(t, "partials", 20); len(got) < 20 {
		t.Errorf("%d records read back", len(got))
	}
	if f := testutil.ToFloat64(w.failures); f < 1 {
		t.Errorf("%v failed rounds counted through the outage, want at least one", f)
	}
	if n := testutil.ToFloat64(w.written); n != 20 {
		t.Errorf("%v records counted durable, want 20", n)
	}
}

// TestEnsureTopic: the partials topic is created with the partitions and
// retention asked for, once; an existing topic keeps its count.
func TestEnsureTopic(t *testing.T) {
	c := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 2})
	conn := KafkaConn{Brokers: c.Brokers()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		topic      string
		partitions int
		want       int
	}{
		{"partials", 6, 6},
		{"partials", 3, 6}, // exists: kept as it is
		{"events", 5, 2},
	} {
		n, err := EnsureTopic(ctx, conn, tc.topic, tc.partitions, 48*time.Hour)
		if err != nil || n != tc.want {
			t.Errorf("EnsureTopic(%s, %d) = %d, %v; want %d", tc.topic, tc.partitions, n, err, tc.want)
		}
	}
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers()...), Transport: transport}
	resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "partials", ConfigNames: []string{"retention.ms"}}}})
	if err != nil || len(resp.Resources) != 1 || len(resp.Resources[0].ConfigEntries) != 1 ||
		resp.Resources[0].ConfigEntries[0].ConfigValue != "172800000" {
		t.Errorf("the partials topic's retention.ms: %+v, %v; want 172800000", resp, err)
	}
	if _, err := EnsureTopic(ctx, conn, "none", 0, time.Hour); err == nil {
		t.Error("a topic of no partitions: no error")
	}
}

// TestRound: a round gives each partition at most one batch, so that no
// record of a partition can land after a later one of it.
func TestRound(t *testing.T) {
	rec := func(partition, bytes int) partialRecord {
		return partialRecord{msg: kafka.Message{Value: make([]byte, bytes)}, partition: partition}
	}
	size := recordBytes(rec(0, 100).msg) // of a 100-byte record
	tests := []struct {
		name       string
		queue      []partialRecord
		maxRecords int
		maxBytes   int
		want       int
	}{
		{"empty", nil, 2, 10 * size, 0},
		{"all fit", []partialRecord{rec(0, 100), rec(1, 100), rec(0, 100)}, 2, 10 * size, 3},
		{"a partition's records past the count", []partialRecord{rec(0, 100), rec(0, 100), rec(1, 100), rec(0, 100)}, 2, 10 * size, 3},
		{"a partition's records past the bytes", []partialRecord{rec(0, 100), rec(1, 100), rec(0, 100), rec(1, 100)}, 10, size, 2},
		{"a record bigger than a batch goes alone", []partialRecord{rec(1, 10_000), rec(1, 100)}, 10, 10 * size, 1},
		{"other partitions fill before the stop", []partialRecord{rec(0, 100), rec(1, 100), rec(2, 100), rec(0, 100), rec(1, 100)}, 1, 10 * size, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := round(tt.queue, tt.maxRecords, tt.maxBytes); got != tt.want {
				t.Errorf("round() = %d, want %d", got, tt.want)
			}
		})
	}
}
