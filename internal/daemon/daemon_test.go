package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/event"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/store/storetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(brokerProcess) != "" {
		os.Exit(serveBroker())
	}
	goleak.VerifyTestMain(m)
}

// logLevel is the test daemons' log level: Info shows the generations and
// windows closed, to follow a rebalance.
var logLevel = slog.LevelWarn

func logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewJSONHandler(tb.Output(), &slog.HandlerOptions{Level: logLevel}))
}

// buildModel returns the model of a contract with a baseline of 2,000 rows
// written by row, a CSV line per call (header excluded).
func buildModel(tb testing.TB, contract string, row func(r *rand.Rand, csv *strings.Builder)) *model.Model {
	tb.Helper()
	return modeltest.Rows(tb, contract, 2000, rand.New(rand.NewPCG(1, 2)), row)
}

// testModel is a two-feature model.
func testModel(tb testing.TB) *model.Model {
	return buildModel(tb, "model: fraud\nprediction: {kind: probability}\nfeatures:\n"+
		"  - {name: amount, type: numeric, min: 0}\n  - {name: country, type: categorical, categories: [DE, FR, US]}\n",
		func(r *rand.Rand, csv *strings.Builder) {
			fmt.Fprintf(csv, "%.2f,%s", r.ExpFloat64()*50, []string{"DE", "FR", "US"}[r.IntN(3)])
		})
}

var t0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

// crashable is the store of one daemon: once crashed, it writes nothing, as
// a process that died would not.
type crashable struct {
	*store.ClickHouse
	dead atomic.Bool
}

func (c *crashable) Write(ctx context.Context, b store.Batch) error {
	if c.dead.Load() {
		return errors.New("crashed")
	}
	return c.ClickHouse.Write(ctx, b)
}

type harness struct {
	t          *testing.T
	cluster    *kafkatest.Cluster
	dsn        string
	conn       clickhouse.Conn
	db         string
	model      *model.Model
	partitions int
	// referencePeriod is drift's, an hour unless a test shortens it.
	referencePeriod time.Duration
	// started counts the daemons started, which name themselves by it in
	// the log.
	started int
	// joined are the topics read with the events, co-partitioned (labels).
	joined []string
	// maxWait is the consumers' longest fetch wait: a broker busy with many
	// consumers answers an idle fetch later than kafka-go's margin of a
	// quarter of it allows, and each read that times out reconnects.
	maxWait time.Duration
	// closing is the window of the events produceClosing produced, which
	// checkWindows leaves out; zero when none was.
	closing time.Time
}

// produceClosing produces on every partition an event past the lateness of
// the last of minutes' windows, so that every one of them closes by the
// watermark rather than by the partitions going idle (a window and the
// lateness of wall time).
func (h *harness) produceClosing(minutes int) {
	h.closing = t0.Add(time.Duration(minutes+3) * time.Minute)
	var records []kafkatest.Record
	for p := range h.partitions {
		v := fmt.Sprintf(`{"model": "fraud", "request_id": "close-%d", "timestamp": %q, "features": {"amount": 1.5, "country": "DE"}, "prediction": 0.5}`,
			p, h.closing.Format(time.RFC3339Nano))
		records = append(records, kafkatest.Record{Partition: int32(p), Value: []byte(v)})
	}
	h.cluster.Produce(h.t, "events", records...)
}

func newHarness(t *testing.T, partitions int, extra ...kafkatest.Topic) *harness {
	t.Helper()
	dsn := storetest.DSN(t)
	topics := append([]kafkatest.Topic{{Name: "events", Partitions: partitions}, {Name: "dead", Partitions: 1}}, extra...)
	h := &harness{t: t, cluster: kafkatest.Start(t, topics...),
		dsn: dsn, db: fmt.Sprintf("sentinel_daemon_test_%016x", rand.Uint64()), model: testModel(t), partitions: partitions,
		referencePeriod: time.Hour, maxWait: 100 * time.Millisecond}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if h.conn, err = clickhouse.Open(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A loaded machine was seen to take 49 s over a drop after the
		// staged tests.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := h.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+h.db); err != nil {
			t.Errorf("dropping %s: %v", h.db, err)
		}
		h.conn.Close()
	})
	return h
}

// instance is one daemon of the harness, with its store and registry.
type instance struct {
	*Daemon
	store *crashable
	reg   *prometheus.Registry
	group *ingest.Group
}

// daemon starts a daemon in the harness's group.
func (h *harness) daemon(anomaly *analyze.AnomalyOptions) *instance {
	h.t.Helper()
	return h.daemonWith(func(o *Options) { o.Pipeline.Anomaly = anomaly })
}

// daemonWith starts a daemon in the harness's group with the options set
// changes.
func (h *harness) daemonWith(set func(*Options)) *instance {
	h.t.Helper()
	h.started++
	log := logger(h.t).With("instance", h.started)
	reg := prometheus.NewRegistry()
	st, err := store.New(store.Options{DSN: h.dsn, Database: h.db, RetryInitial: 10 * time.Millisecond,
		RetryMax: 100 * time.Millisecond, Registerer: reg, Logger: log})
	if err != nil {
		h.t.Fatal(err)
	}
	group, err := ingest.NewGroup(ingest.KafkaOptions{
		KafkaConn: ingest.KafkaConn{Brokers: h.cluster.Brokers(), ClientID: "sentinel-test"},
		GroupID:   "sentinel", Topics: append([]string{"events"}, h.joined...), MaxWait: h.maxWait,
		// Small fetches interleave the partitions, as a consumer that keeps up does.
		MaxBytes:       16 << 10,
		EventTime:      event.TimeReader,
		SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, RebalanceTimeout: time.Second,
		Registerer: reg, Logger: log,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	dl, err := ingest.NewKafkaDeadLetters(ingest.DeadLetterOptions{KafkaConn: ingest.KafkaConn{Brokers: h.cluster.Brokers()},
		Topic: "dead", Reasons: pipeline.Reasons(), Registerer: reg})
	if err != nil {
		h.t.Fatal(err)
	}
	cs := &crashable{ClickHouse: st}
	opts := Options{
		Pipeline: pipeline.Options{Models: []*model.Model{h.model}, Window: time.Minute, Lateness: 2 * time.Minute,
			ReferencePeriod: h.referencePeriod, MinSamples: 10, MaxMessageBytes: 1 << 20, DeadLetters: dl,
			Now: time.Now, Registerer: reg, Logger: log},
		Group: group, Store: cs, Listen: "127.0.0.1:0", Gatherer: reg,
		TickEvery: 50 * time.Millisecond, CommitEvery: 20 * time.Millisecond, Registerer: reg, Logger: log,
	}
	set(&opts)
	d, err := New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		d.Stop(context.Background())
		group.Close()
		dl.Close()
		st.Close()
	})
	return &instance{Daemon: d, store: cs, reg: reg, group: group}
}

// stop drains the instance.
func (i *instance) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := i.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// crash stops the instance as a killed process stops: nothing is written or
// drained after this point.
func (i *instance) crash(t *testing.T) {
	t.Helper()
	i.store.dead.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	i.Stop(ctx)
}

// events is how many events the instance admitted.
func (i *instance) events(t *testing.T) float64 { return counter(t, i.reg, "sentinel_events_total") }

// produce writes events [from, to) of n spread over minutes of event time, in
// time order, round-robin over the partitions; with rejects, also one message
// per partition that must be dead-lettered.
func (h *harness) produce(from, to, n, minutes int, rejects bool) {
	var records []kafkatest.Record
	for i := from; i < to; i++ {
		at := t0.Add(time.Duration(i) * time.Duration(minutes) * time.Minute / time.Duration(n))
		v := fmt.Sprintf(`{"model": "fraud", "request_id": "r-%d", "timestamp": %q, "features": {"amount": %d.5, "country": %q}, "prediction": 0.%d}`,
			i, at.Format(time.RFC3339Nano), i%200, []string{"DE", "FR", "US"}[i%3], i%10)
		records = append(records, kafkatest.Record{Partition: int32(i % h.partitions), Value: []byte(v)})
	}
	if rejects {
		for p := 0; p < h.partitions; p++ {
			records = append(records, kafkatest.Record{Partition: int32(p), Value: []byte(`{"model": "fraud", "oops`)})
		}
	}
	h.cluster.Produce(h.t, "events", records...)
}

// windows reads back, with FINAL, the event count of each window written.
func (h *harness) windows() map[time.Time]uint64 {
	h.t.Helper()
	return h.windowsWhere("")
}

// windowsWhere is windows, of the rows that also meet cond (an SQL
// condition, empty for all).
func (h *harness) windowsWhere(cond string) map[time.Time]uint64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cond != "" {
		cond = " AND " + cond
	}
	rows, err := h.conn.Query(ctx, "SELECT window_start, row_count FROM "+h.db+
		".window_profiles FINAL WHERE model = 'fraud' AND feature = ''"+cond+" ORDER BY window_start")
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
		if _, dup := out[start.UTC()]; dup {
			h.t.Errorf("window %s read twice with FINAL", start)
		}
		out[start.UTC()] = n
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// queryUint64 runs a query of one number on the harness's database.
func (h *harness) queryUint64(query string) uint64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var n uint64
	if err := h.conn.QueryRow(ctx, strings.ReplaceAll(query, "DB", h.db)).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// driftedAgainstReference returns the starts of the windows with a result of
// amount's drift against the reference period.
func (h *harness) driftedAgainstReference() map[time.Time]bool {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := h.conn.Query(ctx, "SELECT DISTINCT window_start FROM "+h.db+
		".check_results FINAL WHERE model = 'fraud' AND feature = 'amount' AND metric LIKE '%_vs_reference' AND skipped = ''")
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	out := map[time.Time]bool{}
	for rows.Next() {
		var start time.Time
		if err := rows.Scan(&start); err != nil {
			h.t.Fatal(err)
		}
		out[start.UTC()] = true
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, time.Minute, what, cond)
}

// waitForWithin is waitFor with a bound of its own.
func waitForWithin(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				if m.GetCounter() != nil {
					sum += m.GetCounter().GetValue()
				} else {
					sum += m.GetGauge().GetValue()
				}
			}
		}
	}
	return sum
}

// settled waits until the instance has admitted at least n events and then
// nothing more for a while: it has read everything there is.
func (i *instance) settled(t *testing.T, n float64) {
	t.Helper()
	last, since := -1.0, time.Now()
	waitFor(t, fmt.Sprintf("%.0f events admitted, then quiet", n), func() bool {
		if e := i.events(t); e != last {
			last, since = e, time.Now()
		}
		return last >= n && time.Since(since) > 2*time.Second
	})
}

// checkWindows fails unless every one of minutes windows was written once
// with exactly its events, n in all.
func (h *harness) checkWindows(n, minutes int) map[time.Time]uint64 {
	h.t.Helper()
	got := h.windows()
	if !h.closing.IsZero() {
		delete(got, h.closing)
	}
	var total uint64
	for start, c := range got {
		total += c
		want := uint64(0)
		for i := 0; i < n; i++ {
			if t0.Add(time.Duration(i) * time.Duration(minutes) * time.Minute / time.Duration(n)).Truncate(time.Minute).Equal(start) {
				want++
			}
		}
		if c != want {
			h.t.Errorf("window %s holds %d events, want %d", start.Format("15:04"), c, want)
		}
	}
	if len(got) != minutes || total != uint64(n) {
		h.t.Errorf("%d windows holding %d events, want %d holding %d", len(got), total, minutes, n)
	}
	return got
}

// TestCrashAndRestartWritesEveryWindowOnce kills a daemon mid-stream, without
// shutdown — no drain, no write after the kill — restarts another on the same
// group, and finds every window in ClickHouse exactly once with counts equal to
// the events sent: windows written before the crash are not doubled, and
// messages whose windows were lost are read again.
func TestCrashAndRestartWritesEveryWindowOnce(t *testing.T) {
	h := newHarness(t, 3)
	const n, minutes = 3000, 30
	h.produce(0, 1800, n, minutes, true)
	a := h.daemon(nil)
	waitFor(t, "the first daemon to admit every event and write windows", func() bool {
		return a.events(t) == 1800 && len(h.windows()) >= 10
	})
	before := h.windows()
	a.crash(t)
	h.produce(1800, n, n, minutes, false)
	b := h.daemon(nil)
	b.settled(t, n-1800)
	b.stop(t)
	got := h.checkWindows(n, minutes)
	for start, c := range before {
		if got[start] != c {
			t.Errorf("window %s had %d events before the crash and %d after: rewritten with other counts", start.Format("15:04"), c, got[start])
		}
	}
	// A rejection whose count was not yet written is dead-lettered again after
	// the crash (at least once), but counted once.
	if dead := h.cluster.Read(t, "dead", 3); len(dead) < 3 {
		t.Errorf("%d dead letters, want at least 3", len(dead))
	}
	if n := h.queryUint64("SELECT sum(message_count) FROM DB.rejected_counts FINAL"); n != 3 {
		t.Errorf("rejected_counts read with FINAL sums to %d, want the 3 rejected", n)
	}
	t.Logf("%d windows written before the crash; the second daemon admitted %.0f events and skipped %.0f read again",
		len(before), b.events(t), counter(t, b.reg, "sentinel_events_replayed_total"))
}

// TestHTTPAndGracefulStop: the daemon serves health, readiness and metrics, and
// a Stop drains the open windows into the store.
func TestHTTPAndGracefulStop(t *testing.T) {
	h := newHarness(t, 3)
	h.produce(0, 300, 300, 3, true)
	d := h.daemon(nil)
	waitFor(t, "all messages", func() bool { return d.events(t) == 300 })
	base := "http://" + d.Addr().String()
	var wg sync.WaitGroup
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "sentinel_events_total{model=\"fraud\"} 300"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitFor(t, path, func() bool {
				resp, err := http.Get(base + path)
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode == http.StatusOK && strings.Contains(string(b), want)
			})
		}()
	}
	wg.Wait()
	if n := len(h.windows()); n == 3 {
		t.Fatalf("all windows written before stop; the last should still be open")
	}
	d.stop(t)
	// A second Stop (a deferred one after an explicit one) returns at once.
	second := make(chan error, 1)
	go func() { second <- d.Stop(context.Background()) }()
	select {
	case err := <-second:
		if err != nil {
			t.Errorf("second Stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second Stop hangs")
	}
	h.checkWindows(300, 3)
}

// TestAnomalyWarmStart: a restarted daemon fits its anomaly detector on the
// results the first one wrote, and scores the first window it closes.
func TestAnomalyWarmStart(t *testing.T) {
	h := newHarness(t, 3)
	const n, minutes = 2000, 20
	anomaly := &analyze.AnomalyOptions{FitAfter: 10, HistoryWindows: 100, FalseAlarmRate: 0.002}
	h.produce(0, 1350, n, minutes, false)
	a := h.daemon(anomaly)
	waitFor(t, "ten windows written", func() bool { return a.events(t) == 1350 && len(h.windows()) >= 10 })
	a.stop(t)
	before := h.queryUint64("SELECT count() FROM DB.anomalies FINAL")
	h.produce(1350, n, n, minutes, false)
	b := h.daemon(anomaly)
	waitFor(t, "the rest of the topic", func() bool { return b.events(t) == n-1350 })
	b.stop(t)
	after := h.queryUint64("SELECT count() FROM DB.anomalies FINAL")
	// The second daemon sees six windows, fewer than the ten a cold detector
	// waits for: it scores them only if it fitted on the first one's history.
	if before == 0 || after-before < 5 {
		t.Errorf("anomaly rows: %d before the restart, %d after; want some before and the new windows scored", before, after)
	}
}

// TestGracefulRestartLosesNothing stops a daemon mid-stream the graceful way —
// it drains its open windows into ClickHouse, partial, and commits — and
// restarts another: the windows drained early are reopened from their profiles,
// so the events still due to them are added, and every window ends up once with
// counts equal to the events sent. Drift's reference periods come back too:
// every window after the first period is compared with the one before.
func TestGracefulRestartLosesNothing(t *testing.T) {
	h := newHarness(t, 3)
	h.referencePeriod = 5 * time.Minute
	const n, minutes = 3000, 30
	h.produce(0, 750, n, minutes, false) // seven and a half minutes: the stop lands mid-window
	a := h.daemon(nil)
	waitFor(t, "the first daemon to admit its events", func() bool { return a.events(t) == 750 })
	a.stop(t)
	drained := len(h.windows())
	h.produce(750, n, n, minutes, false)
	b := h.daemon(nil)
	waitFor(t, "the second daemon to read to the end", func() bool { return b.events(t) == n-750 })
	b.stop(t)
	h.checkWindows(n, minutes)
	compared := h.driftedAgainstReference()
	for m := 5; m < minutes; m++ {
		if start := t0.Add(time.Duration(m) * time.Minute); !compared[start] {
			t.Errorf("window %s has no drift against the reference period (%d windows drained at the stop)", start.Format("15:04"), drained)
		}
	}
}

// TestWindowsWaitForEveryPartition: while another member of the group holds
// some partitions — a member that died and whose session has not expired, a
// second replica — this daemon writes no window from part of the traffic and
// says why; once it is given every partition, every window is written once,
// whole.
func TestWindowsWaitForEveryPartition(t *testing.T) {
	h := newHarness(t, 4)
	const n, minutes = 2000, 10
	h.produce(0, n, n, minutes, false)
	// A member that holds its share of the partitions and reads nothing, as a
	// crashed process's session does until it times out.
	squatter, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: "sentinel", Brokers: h.cluster.Brokers(),
		Topics: []string{"events"}, SessionTimeout: 5 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
		RebalanceTimeout: time.Second, GroupBalancers: []kafka.GroupBalancer{kafka.RangeGroupBalancer{}}})
	if err != nil {
		t.Fatal(err)
	}
	joined, stopSquatting := make(chan struct{}), make(chan struct{})
	squatting := make(chan struct{})
	go func() {
		defer close(squatting)
		gen, err := squatter.Next(context.Background())
		if err != nil {
			return
		}
		close(joined)
		gen.Start(func(ctx context.Context) {
			select {
			case <-ctx.Done():
			case <-stopSquatting:
			}
		})
		<-stopSquatting
	}()
	<-joined
	d := h.daemon(nil)
	waitFor(t, "the daemon to share the partitions", func() bool {
		return len(d.group.Assigned()) > 0 && len(d.group.Assigned()) < 4 && d.events(t) > 0
	})
	time.Sleep(2 * time.Second)
	if got := h.windows(); len(got) != 0 {
		t.Errorf("windows %v written from part of the partitions", got)
	}
	if u := counter(t, d.reg, "sentinel_partitions_unreported"); u == 0 {
		t.Errorf("sentinel_partitions_unreported is %v while another member holds partitions", u)
	}
	close(stopSquatting)
	squatter.Close()
	<-squatting
	waitFor(t, "every event admitted once the daemon holds every partition", func() bool {
		return len(d.group.Assigned()) == 4 && d.events(t) >= n
	})
	d.stop(t)
	h.checkWindows(n, minutes)
}

// TestKafkaOutage: the broker goes away for a while mid-stream and at start;
// the daemon stays up, reports itself not ready, and loses nothing.
func TestKafkaOutage(t *testing.T) {
	h := newHarness(t, 2)
	const n, minutes = 1200, 12
	h.cluster.Outage(true)
	d := h.daemon(nil)
	time.Sleep(3 * time.Second)
	if err := d.alive(); err != nil {
		t.Fatalf("the daemon died of a broker outage at start: %v", err)
	}
	if err := d.ready(context.Background()); err == nil {
		t.Error("ready while the broker is down")
	}
	h.cluster.Outage(false)
	h.produce(0, 600, n, minutes, false)
	waitFor(t, "the first half", func() bool { return d.events(t) == 600 })
	h.cluster.Outage(true)
	time.Sleep(5 * time.Second)
	if err := d.alive(); err != nil {
		t.Fatalf("the daemon died of a broker outage mid-stream: %v", err)
	}
	h.cluster.Outage(false)
	h.produce(600, n, n, minutes, false)
	d.settled(t, n)
	d.stop(t)
	h.checkWindows(n, minutes)
}

func TestOptionsValidate(t *testing.T) {
	group, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: ingest.KafkaConn{Brokers: []string{"127.0.0.1:9"}},
		GroupID: "g", Topics: []string{"events"}})
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	valid := func() Options {
		return Options{Group: group, Store: newMemStore(), Listen: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(),
			TickEvery: time.Second, CommitEvery: time.Second, Logger: logger(t)}
	}
	if o := valid(); o.Validate() != nil {
		t.Fatalf("valid options: %v", o.Validate())
	}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"group", func(o *Options) { o.Group = nil }, "no kafka group"},
		{"store", func(o *Options) { o.Store = nil }, "no store"},
		{"gatherer", func(o *Options) { o.Gatherer = nil }, "needs a gatherer"},
		{"tick", func(o *Options) { o.TickEvery = 0 }, "tick interval 0s"},
		{"commit", func(o *Options) { o.CommitEvery = -time.Second }, "commit interval -1s"},
	}
	for _, tc := range tests {
		o := valid()
		tc.change(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	d, err := New(valid())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(context.Background()); err == nil {
		t.Error("stopping a daemon never started succeeded")
	}
}
