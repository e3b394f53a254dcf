package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/store/storetest"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewJSONHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
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

// gate is a Source that delivers at most limit messages of each partition,
// holding back the rest, so the test stops a daemon exactly mid-stream with every
// partition at the same point; with lost set, commits are swallowed, as when a
// process dies before they reach Kafka.
type gate struct {
	Source
	limit     atomic.Int64 // per partition; 0 is no limit
	lost      atomic.Bool
	delivered atomic.Int64
	commits   atomic.Int64
	mu        sync.Mutex
	count     map[int]int64 // messages delivered per partition
	last      map[int]int64 // highest offset delivered per partition
	held      []ingest.Message
}

func (g *gate) open(partition int) bool {
	l := g.limit.Load()
	return l == 0 || g.count[partition] < l
}

func (g *gate) deliver(m ingest.Message) ingest.Message {
	g.count[m.Partition]++
	g.last[m.Partition] = max(g.last[m.Partition], m.Offset)
	g.delivered.Add(1)
	return m
}

func (g *gate) Fetch(ctx context.Context) (ingest.Message, error) {
	for {
		g.mu.Lock()
		for i, m := range g.held {
			if g.open(m.Partition) {
				g.held = append(g.held[:i], g.held[i+1:]...)
				m = g.deliver(m)
				g.mu.Unlock()
				return m, nil
			}
		}
		blocked := len(g.count) == 3 && !g.open(0) && !g.open(1) && !g.open(2)
		g.mu.Unlock()
		if blocked {
			select {
			case <-ctx.Done():
				return ingest.Message{}, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		m, err := g.Source.Fetch(ctx)
		if err != nil {
			return m, err
		}
		g.mu.Lock()
		if g.open(m.Partition) {
			m = g.deliver(m)
			g.mu.Unlock()
			return m, nil
		}
		g.held = append(g.held, m)
		g.mu.Unlock()
	}
}

func (g *gate) Commit(ctx context.Context, msgs ...ingest.Message) error {
	if g.lost.Load() {
		return nil
	}
	g.commits.Add(1)
	return g.Source.Commit(ctx, msgs...)
}

// reached reports whether every partition was read up to its last offset.
func (g *gate) reached(last []int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, end := range last {
		if o, ok := g.last[p]; !ok || o < end {
			return false
		}
	}
	return true
}

type harness struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	store   *store.ClickHouse
	conn    clickhouse.Conn
	db      string
	model   *model.Model
	// referencePeriod is drift's, an hour unless a test shortens it.
	referencePeriod time.Duration
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dsn := storetest.DSN(t)
	h := &harness{t: t, cluster: kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 3}, kafkatest.Topic{Name: "dead", Partitions: 1}),
		db: fmt.Sprintf("sentinel_daemon_test_%016x", rand.Uint64()), model: testModel(t), referencePeriod: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	h.store, err = store.Open(ctx, store.Options{DSN: dsn, Database: h.db, RetryInitial: 10 * time.Millisecond,
		RetryMax: 100 * time.Millisecond, Registerer: prometheus.NewRegistry(), Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if h.conn, err = clickhouse.Open(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+h.db); err != nil {
			t.Errorf("dropping %s: %v", h.db, err)
		}
		h.conn.Close()
		h.store.Close()
	})
	return h
}

// daemon starts a daemon on a fresh consumer of the group; limit > 0 gates it.
func (h *harness) daemon(limit int64) (*Daemon, *gate, *prometheus.Registry) {
	h.t.Helper()
	return h.daemonWith(limit, prometheus.NewRegistry(), nil)
}

func (h *harness) daemonWith(limit int64, reg *prometheus.Registry, anomaly *analyze.AnomalyOptions) (*Daemon, *gate, *prometheus.Registry) {
	h.t.Helper()
	src, err := ingest.NewKafkaSource(ingest.KafkaOptions{
		KafkaConn: ingest.KafkaConn{Brokers: h.cluster.Brokers(), ClientID: "sentinel-test"},
		GroupID:   "sentinel", Topics: []string{"events"}, MaxWait: 100 * time.Millisecond,
		// Small fetches interleave the partitions, as a consumer that keeps up does.
		MaxBytes:       16 << 10,
		SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, RebalanceTimeout: time.Second,
		Registerer: reg, Logger: logger(h.t),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	g := &gate{Source: src, count: map[int]int64{}, last: map[int]int64{}}
	g.limit.Store(limit)
	dl, err := ingest.NewKafkaDeadLetters(ingest.DeadLetterOptions{KafkaConn: ingest.KafkaConn{Brokers: h.cluster.Brokers()},
		Topic: "dead", Reasons: pipeline.Reasons(), Registerer: reg})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { dl.Close() })
	d, err := New(Options{
		Pipeline: pipeline.Options{Models: []*model.Model{h.model}, Window: time.Minute, Lateness: 2 * time.Minute,
			ReferencePeriod: h.referencePeriod, MinSamples: 10, MaxMessageBytes: 1 << 20, DeadLetters: dl,
			StartupGrace: 300 * time.Millisecond, Anomaly: anomaly,
			Now: time.Now, Registerer: reg, Logger: logger(h.t)},
		Source: g, Store: h.store, Listen: "127.0.0.1:0", Gatherer: reg,
		TickEvery: 50 * time.Millisecond, CommitEvery: 20 * time.Millisecond, Logger: logger(h.t),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	return d, g, reg
}

// produce writes n events over windows minutes of event time, in time order,
// round-robin over the partitions, plus a few that must be dead-lettered, and
// returns each partition's last offset.
func (h *harness) produce(n, windows int) []int64 {
	var records []kafkatest.Record
	for i := 0; i < n; i++ {
		at := t0.Add(time.Duration(i) * time.Duration(windows) * time.Minute / time.Duration(n))
		v := fmt.Sprintf(`{"model": "fraud", "request_id": "r-%d", "timestamp": %q, "features": {"amount": %d.5, "country": %q}, "prediction": 0.%d}`,
			i, at.Format(time.RFC3339Nano), i%200, []string{"DE", "FR", "US"}[i%3], i%10)
		records = append(records, kafkatest.Record{Partition: int32(i % 3), Value: []byte(v)})
	}
	for i := 0; i < 3; i++ {
		records = append(records, kafkatest.Record{Partition: int32(i), Value: []byte(`{"model": "fraud", "oops`)})
	}
	h.cluster.Produce(h.t, "events", records...)
	last := make([]int64, 3)
	for p := range last {
		last[p] = -1
	}
	for _, r := range records {
		last[r.Partition]++
	}
	return last
}

// windows reads back, with FINAL, the event count of each window written.
func (h *harness) windows() map[time.Time]uint64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := h.conn.Query(ctx, "SELECT window_start, row_count FROM "+h.db+
		".window_profiles FINAL WHERE model = 'fraud' AND feature = '' ORDER BY window_start")
	if err != nil {
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

// driftedAgainstReference returns the starts of the windows with a result of
// amount's drift against the reference period.
func (h *harness) driftedAgainstReference() map[time.Time]bool {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := h.conn.Query(ctx, "SELECT DISTINCT window_start FROM "+h.db+
		".check_results FINAL WHERE model = 'fraud' AND feature = 'amount' AND metric LIKE '%_vs_reference'")
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

// anomalies counts the anomaly rows written.
func (h *harness) anomalies() uint64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var n uint64
	if err := h.conn.QueryRow(ctx, "SELECT count() FROM "+h.db+".anomalies FINAL").Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashAndRestartWritesEveryWindowOnce kills a daemon mid-stream, without
// shutdown — no drain, no commit — restarts another on the same group, and
// finds every window in ClickHouse exactly once with counts equal to the events
// sent: windows written before the crash are not doubled, and messages whose
// windows were lost are read again.
func TestCrashAndRestartWritesEveryWindowOnce(t *testing.T) {
	h := newHarness(t)
	const events, minutes = 3000, 30
	ends := h.produce(events, minutes)

	a, ga, _ := h.daemon(300)
	waitFor(t, "the first daemon to write windows and commit behind them", func() bool {
		return ga.delivered.Load() == 900 && len(h.windows()) >= 2 && ga.commits.Load() > 0
	})
	// More windows are written, but their commits never reach Kafka.
	ga.lost.Store(true)
	written := len(h.windows())
	ga.limit.Store(600)
	waitFor(t, "more windows written after the last commit", func() bool {
		return ga.delivered.Load() == 1800 && len(h.windows()) > written
	})
	a.abort() // the crash: no drain, no final commit
	<-a.Done()
	if err := a.Stop(context.Background()); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("the crashed daemon reported %v", err)
	}
	ga.Source.Close()
	before := h.windows()

	b, gb, reg := h.daemon(0)
	waitFor(t, "the second daemon to read to the end", func() bool { return gb.reached(ends) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	gb.Source.Close()

	got := h.windows()
	var total uint64
	for start, n := range got {
		total += n
		if m, ok := before[start]; ok && m != n {
			t.Errorf("window %s had %d events before the crash and %d after: rewritten with other counts", start.Format("15:04"), m, n)
		}
	}
	if len(got) != minutes || total != events {
		t.Errorf("%d windows holding %d events, want %d holding %d", len(got), total, minutes, events)
	}
	// The second daemon re-read messages of windows written before the crash but
	// not committed, and skipped them.
	replayed := counter(t, reg, "sentinel_events_replayed_total")
	if replayed == 0 {
		t.Error("no message was read twice: the crash did not land mid-stream")
	}
	dead := h.cluster.Read(t, "dead", 3)
	if len(dead) != 3 {
		t.Errorf("%d dead letters, want 3", len(dead))
	}
	t.Logf("crash after %d messages; %d windows written before it; %.0f messages re-read and skipped", ga.delivered.Load(), len(before), replayed)
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
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestHTTPAndGracefulStop: the daemon serves health, readiness and metrics, and
// a Stop drains the open windows into the store.
func TestHTTPAndGracefulStop(t *testing.T) {
	h := newHarness(t)
	h.produce(300, 3)
	d, g, _ := h.daemon(0)
	waitFor(t, "all messages", func() bool { return g.delivered.Load() == 303 })
	base := "http://" + d.Addr().String()
	var wg sync.WaitGroup
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "sentinel_events_total{model=\"fraud\"} 300"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body string
			waitFor(t, path, func() bool {
				resp, err := http.Get(base + path)
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				body = string(b)
				return resp.StatusCode == http.StatusOK && strings.Contains(body, want)
			})
		}()
	}
	wg.Wait()
	if n := len(h.windows()); n == 3 {
		t.Fatalf("all windows written before stop; the last should still be open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// A second Stop (a deferred one after an explicit one) returns at once.
	second := make(chan error, 1)
	go func() { second <- d.Stop(ctx) }()
	select {
	case err := <-second:
		if err != nil {
			t.Errorf("second Stop: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second Stop hangs")
	}
	g.Source.Close()
	if got := h.windows(); len(got) != 3 {
		t.Errorf("after a graceful stop, %d windows written, want 3", len(got))
	}
}

// TestAnomalyWarmStart: a restarted daemon fits its anomaly detector on the
// results the first one wrote, and scores the first window it closes.
func TestAnomalyWarmStart(t *testing.T) {
	h := newHarness(t)
	ends := h.produce(2000, 20)
	reg := prometheus.NewRegistry()
	start := func(limit int64) (*Daemon, *gate) {
		d, g, _ := h.daemonWith(limit, reg, &analyze.AnomalyOptions{FitAfter: 10, HistoryWindows: 100, FalseAlarmRate: 0.002})
		return d, g
	}
	a, ga := start(450) // per partition: thirteen and a half minutes of the twenty
	waitFor(t, "ten windows written", func() bool { return len(h.windows()) >= 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	ga.Source.Close()
	before := h.anomalies()
	reg = prometheus.NewRegistry()
	b, gb := start(0)
	waitFor(t, "the rest of the topic", func() bool { return gb.reached(ends) })
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	gb.Source.Close()
	after := h.anomalies()
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
	h := newHarness(t)
	h.referencePeriod = 5 * time.Minute
	const events, minutes = 3000, 30
	ends := h.produce(events, minutes)
	// 250 per partition: seven and a half minutes, the stop lands mid-window.
	a, ga, _ := h.daemon(250)
	waitFor(t, "the first daemon to reach its limit", func() bool { return ga.delivered.Load() == 750 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	ga.Source.Close()
	drained := h.windows()
	b, gb, _ := h.daemon(0)
	waitFor(t, "the second daemon to read to the end", func() bool { return gb.reached(ends) })
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	gb.Source.Close()
	got := h.windows()
	var total uint64
	for _, n := range got {
		total += n
	}
	if len(got) != minutes || total != events {
		t.Errorf("%d windows holding %d events, want %d holding %d (%d windows drained at the stop)", len(got), total, minutes, events, len(drained))
	}
	compared := h.driftedAgainstReference()
	for m := 5; m < minutes; m++ {
		if start := t0.Add(time.Duration(m) * time.Minute); !compared[start] {
			t.Errorf("window %s has no drift against the reference period", start.Format("15:04"))
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	valid := func() Options {
		return Options{Source: &gate{}, Store: memStore{}, Listen: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(),
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
		{"source", func(o *Options) { o.Source = nil }, "no source"},
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
