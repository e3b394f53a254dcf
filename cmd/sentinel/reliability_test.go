package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

// crashPlan is the traffic of TestOperatorsBadDay: windows of perWindow
// events each, in event-time order at rate events a second, and after every
// thousandth event a message that is not JSON.
type crashPlan struct {
	t0        time.Time
	window    time.Duration
	windows   int
	perWindow int
}

const rejectEvery = 1000

func (p crashPlan) events() int  { return p.windows * p.perWindow }
func (p crashPlan) rejects() int { return p.events() / rejectEvery }

// message is message i: event e, or a reject after each thousand events.
func (p crashPlan) message(i int, buf []byte) []byte {
	block, r := i/(rejectEvery+1), i%(rejectEvery+1)
	if r == rejectEvery {
		return append(buf, `{"model": "fraud", "oops`...)
	}
	e := block*rejectEvery + r
	return fraudEvent(buf, e, p.t0.Add(time.Duration(e)*p.window/time.Duration(p.perWindow)))
}

// readyzSays checks that /readyz refuses with want in its body and no
// address in it.
func readyzSays(t *testing.T, p *daemonProc, want string) {
	t.Helper()
	status, body, err := p.get("/readyz")
	if err != nil {
		t.Errorf("/readyz: %v", err)
		return
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(body, want) {
		t.Errorf("/readyz: %d %q, want 503 saying %q", status, body, want)
	}
	if strings.Contains(body, "127.0.0.1") {
		t.Errorf("/readyz tells anyone who asks an internal address: %q", body)
	}
	if status, _, err := p.get("/healthz"); err != nil || status != http.StatusOK {
		t.Errorf("/healthz: %d %v while waiting an outage out", status, err)
	}
}

// admitting waits until the daemon has admitted events, then lets it work a
// little longer: it holds partitions and is writing.
func admitting(t *testing.T, p *daemonProc, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if s, err := p.metrics(); err == nil && s.sum("sentinel_events_total") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for the daemon to admit events; its log ends:\n%s", timeout, tail(p.logBytes(), 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
}

// processFigures logs what one process did before it was stopped.
func processFigures(t *testing.T, name string, s scrape) {
	t.Logf("%s: admitted %.0f events, skipped %.0f read again, rejected %.0f, wrote %.0f windows, RSS %.0f MB, %.0f goroutines",
		name, s.sum("sentinel_events_total"), s.sum("sentinel_events_replayed_total"), s.sum("sentinel_events_rejected_total"),
		s.sum("sentinel_windows_closed_total"), s.sum("process_resident_memory_bytes")/1e6, s.sum("go_goroutines"))
}

// TestOperatorsBadDay runs the daemon as a process, built from this tree, on
// a four-partition events topic while a producer writes sixty two-second
// windows of 4,000 events at 2,000 events/s, with a message that is not JSON
// after each thousand; and it goes through the day an operator dreads: the
// process is killed (SIGKILL) five times and restarted each time, three of
// them a few seconds apart as in a crash loop, once into a Kafka outage of
// 30 s, once while ClickHouse is stopped (15 s); Kafka goes
// away again for 30 s mid-stream; finally SIGTERM drains it. Every window is
// then in ClickHouse once with exactly its events, read with FINAL, and the
// rejection counts equal the rejects sent. Killed members' sessions are
// waited out (30 s, sentinel.yaml does not set it), so the test takes about
// three to five minutes.
func TestOperatorsBadDay(t *testing.T) {
	if testing.Short() {
		t.Skip("three minutes of crashes and outages")
	}
	// Mostly waiting (sessions to expire, outages to pass): it runs beside
	// the other process tests.
	t.Parallel()
	ch := startPrivateClickHouse(t)
	cluster := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 4}, kafkatest.Topic{Name: "dead", Partitions: 1})
	db := fmt.Sprintf("sentinel_bad_day_%d", time.Now().UnixNano())
	cfg := daemonConfig{brokers: cluster.Brokers(), dsn: ch.dsn("", ""), database: db, window: "2s", lateness: "1s"}.write(t)
	plan := crashPlan{window: 2 * time.Second, windows: 60, perWindow: 4000}
	plan.t0 = time.Now().UTC().Truncate(plan.window).Add(plan.window)
	rate := float64(plan.perWindow) / plan.window.Seconds()
	traffic := startStream(t, cluster, streamPlan{topic: "events", partitions: 4, n: plan.events() + plan.rejects(),
		rate: rate * (rejectEvery + 1) / rejectEvery, message: plan.message})
	conn := chConn(t, ch.dsn("", ""))

	// The first process writes a few windows, then is killed.
	a := startProc(t, cfg)
	waitUntil(t, 60*time.Second, "the first windows", func() bool { return len(windowCounts(t, conn, db)) >= 3 })
	processFigures(t, "first process, killed", a.mustMetrics())
	a.kill()
	// A crash loop: two more processes, each killed three seconds after it
	// started, while the killed members' sessions still hold partitions.
	for range 2 {
		p := startProc(t, cfg)
		time.Sleep(3 * time.Second)
		p.kill()
	}

	// The second starts into a Kafka outage of 30 s: it stays up and says why
	// it is not ready. Meanwhile the dead member's session expires.
	cluster.Outage(true)
	b := startProc(t, cfg)
	time.Sleep(30 * time.Second)
	if !b.alive() {
		t.Fatalf("the daemon died of a Kafka outage at start:\n%s", tail(b.logBytes(), 20))
	}
	readyzSays(t, b, "kafka: not ready")
	cluster.Outage(false)
	// Members killed while joining can hold the group in a rebalance for its
	// timeout (30 s) each, after the outage: as a real broker does.
	admitting(t, b, 3*time.Minute)
	processFigures(t, "second process (after a Kafka outage at start), killed", b.mustMetrics())
	b.kill()

	// The third waits for the second's session to expire, works, and is
	// killed while ClickHouse is down; the fourth starts without ClickHouse.
	c := startProc(t, cfg)
	admitting(t, c, 90*time.Second)
	ch.stop()
	chDown := time.Now()
	time.Sleep(5 * time.Second)
	processFigures(t, "third process (ClickHouse stopped 5 s before), killed", c.mustMetrics())
	c.kill()
	d := startProc(t, cfg)
	time.Sleep(15*time.Second - time.Since(chDown))
	if !d.alive() {
		t.Fatalf("the daemon died of a ClickHouse outage at start:\n%s", tail(d.logBytes(), 20))
	}
	readyzSays(t, d, "clickhouse: not ready")
	ch.start()
	t.Logf("ClickHouse was down for %s", time.Since(chDown).Round(time.Second))
	admitting(t, d, 90*time.Second)

	// Kafka goes away for 30 s mid-stream.
	cluster.Outage(true)
	time.Sleep(30 * time.Second)
	if !d.alive() {
		t.Fatalf("the daemon died of a Kafka outage mid-stream:\n%s", tail(d.logBytes(), 20))
	}
	readyzSays(t, d, "kafka: not ready")
	cluster.Outage(false)

	traffic.wait(t, 3*time.Minute)
	waitUntil(t, 2*time.Minute, "the last process to catch up", func() bool {
		s, err := d.metrics()
		return err == nil && s.families["sentinel_ingest_lag"] != nil && s.sum("sentinel_ingest_lag", "topic", "events") == 0
	})
	time.Sleep(5 * time.Second) // the last windows close as the partitions go idle
	processFigures(t, "fourth process (after a ClickHouse outage at start and a Kafka outage mid-stream), drained", d.mustMetrics())
	if code := d.term(90 * time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d, want 0:\n%s", code, tail(d.logBytes(), 20))
	}

	got := windowCounts(t, conn, db)
	var total uint64
	for w := range plan.windows {
		start := plan.t0.Add(time.Duration(w) * plan.window)
		n, ok := got[start]
		total += n
		switch {
		case !ok:
			t.Errorf("window %s is missing", start.Format("15:04:05"))
		case n != uint64(plan.perWindow):
			t.Errorf("window %s holds %d events, want %d", start.Format("15:04:05"), n, plan.perWindow)
		}
	}
	if len(got) != plan.windows {
		t.Errorf("%d windows written, want %d", len(got), plan.windows)
	}
	// The checks saw the same windows: check_results, read with FINAL, has one
	// events result per window, equal to what was sent.
	for start, n := range eventsResults(t, conn, db) {
		if n != plan.perWindow {
			t.Errorf("check_results: window %s checked with %d events, want %d", start.Format("15:04:05"), n, plan.perWindow)
		}
		delete(got, start)
	}
	for start := range got {
		t.Errorf("check_results: window %s has no events result", start.Format("15:04:05"))
	}
	rejected := rejectedByReason(t, conn, db)
	if rejected["invalid_json"] != uint64(plan.rejects()) || len(rejected) != 1 {
		t.Errorf("rejected_counts read with FINAL: %v, want invalid_json: %d", rejected, plan.rejects())
	}
	// Dead letters are written at least once.
	dead := cluster.Read(t, "dead", plan.rejects())
	t.Logf("%d events in %d windows sent, %d counted (%d lost); %d rejects sent, %v counted, at least %d dead letters",
		plan.events(), plan.windows, total, plan.events()-int(total), plan.rejects(), rejected, len(dead))
}

// eventsResults reads, with FINAL, each window's events result from
// check_results, failing on a window read twice.
func eventsResults(t *testing.T, conn clickhouse.Conn, db string) map[time.Time]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := conn.Query(ctx, "SELECT window_start, window_start_ms, value FROM "+db+
		".check_results FINAL WHERE model = 'fraud' AND kind = 'quality' AND feature = '' AND metric = 'events'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[time.Time]int{}
	for rows.Next() {
		var start time.Time
		var ms uint16
		var v float64
		if err := rows.Scan(&start, &ms, &v); err != nil {
			t.Fatal(err)
		}
		at := start.UTC().Add(time.Duration(ms) * time.Millisecond)
		if _, dup := out[at]; dup {
			t.Errorf("check_results: window %s read twice with FINAL", at)
		}
		out[at] = int(v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
