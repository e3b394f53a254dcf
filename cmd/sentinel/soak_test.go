//go:build soak

package main

// The soak: `make soak` (go test -tags soak -run TestSoak ./cmd/sentinel).
// Not part of make test: it runs for SOAK_DURATION (30m).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
)

// soakWindow is the soak's window: short, so that the broker holds little of
// what the daemon has not committed and the detector sees many windows.
const soakWindow = 10 * time.Second

// TestSoak measures the daemon's maximum rate through the in-process broker,
// then runs it at half that rate for SOAK_DURATION (30m) with a SIGKILL and
// restart at a third of the way and a ClickHouse restart (15 s down) at two
// thirds, sampling /metrics every 5 s: the resident memory, goroutines and
// lag must stay flat, and every window must end up in ClickHouse with
// exactly its events. The samples go to SOAK_OUT (bin/soak/soak.csv).
func TestSoak(t *testing.T) {
	duration := 30 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		duration = d
	}
	out := os.Getenv("SOAK_OUT")
	if out == "" {
		out = "../../bin/soak/soak.csv"
	}
	ch := startPrivateClickHouse(t)
	cluster := kafkatest.Start(t, kafkatest.Topic{Name: "calibration", Partitions: 4}, kafkatest.Topic{Name: "events", Partitions: 4},
		kafkatest.Topic{Name: "dead", Partitions: 1})
	maxRate := calibrate(t, cluster, ch)
	rate := maxRate / 2
	t.Logf("maximum rate %.0f events/s; soaking at %.0f events/s for %s", maxRate, rate, duration)

	db := fmt.Sprintf("sentinel_soak_%d", time.Now().UnixNano())
	cfg := daemonConfig{brokers: cluster.Brokers(), dsn: ch.dsn("", ""), database: db, window: soakWindow.String(), lateness: "5s",
		anomaly: "{enabled: true, fit_after: 10, history_windows: 360}"}.write(t)
	traffic := startLiveStream(t, cluster, "events", 4, rate)
	trim := startTrimmer(t, cluster, "sentinel", "events", 4)
	d := startProc(t, cfg)

	samples := newSampler(t, out)
	start := time.Now()
	killAt, chAt := start.Add(duration/3), start.Add(2*duration/3)
	killed, restarted := false, false
	var chStopped time.Time
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for now := range tick.C {
		if now.Sub(start) >= duration {
			break
		}
		if !d.alive() {
			t.Fatalf("the daemon died:\n%s", tail(d.logBytes(), 20))
		}
		event := ""
		switch {
		case !killed && now.After(killAt):
			d.kill()
			d = startProc(t, cfg)
			killed, event = true, "sigkill"
		case chStopped.IsZero() && now.After(chAt):
			// Sampling goes on while ClickHouse is down.
			ch.stop()
			chStopped, event = time.Now(), "clickhouse stopped"
		case !restarted && !chStopped.IsZero() && time.Since(chStopped) >= 15*time.Second:
			ch.start()
			restarted, event = true, fmt.Sprintf("clickhouse started (down %s)", time.Since(chStopped).Round(time.Second))
		}
		samples.take(d, now.Sub(start), traffic.produced(), event)
	}
	traffic.stop()
	waitUntil(t, 5*time.Minute, "the daemon to catch up", func() bool {
		s, err := d.metrics()
		return err == nil && s.families["sentinel_ingest_lag"] != nil && s.sum("sentinel_ingest_lag", "topic", "events") == 0
	})
	time.Sleep(2 * soakWindow)
	samples.take(d, time.Since(start), traffic.produced(), "caught up")
	if code := d.term(2 * time.Minute); code != 0 {
		t.Errorf("SIGTERM: exit %d:\n%s", code, tail(d.logBytes(), 20))
	}
	trim.stop()
	samples.close()
	if traffic.failed != nil {
		t.Errorf("the producer failed: %v", traffic.failed)
	}
	samples.judge(t, duration)

	want := traffic.perWindow()
	got := windowCounts(t, chConn(t, ch.dsn("", "")), db)
	var sent, counted uint64
	for w, n := range want {
		sent += n
		counted += got[w]
		if got[w] != n {
			t.Errorf("window %s holds %d events, want %d", w.Format("15:04:05"), got[w], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d windows written, want %d", len(got), len(want))
	}
	t.Logf("%d events in %d windows sent, %d counted", sent, len(want), counted)
}

// calibrate measures the daemon's maximum rate as it runs in the soak, with
// the producer and the broker on the same machine: a producer writes as fast
// as it can, and the rate the daemon admits, saturated, over ten seconds
// after the first five is its maximum. What it left unread is then deleted.
func calibrate(t *testing.T, cluster *kafkatest.Cluster, ch *chServer) float64 {
	t.Helper()
	db := fmt.Sprintf("sentinel_soak_calibration_%d", time.Now().UnixNano())
	cfg := daemonConfig{brokers: cluster.Brokers(), dsn: ch.dsn("", ""), database: db, events: "calibration", window: soakWindow.String(),
		lateness: "5s", anomaly: "{enabled: true, fit_after: 10, history_windows: 360}"}.write(t)
	cfg = withGroup(t, cfg, "sentinel-calibration")
	d := startProc(t, cfg)
	flood := startLiveStream(t, cluster, "calibration", 4, 1e7)
	admitted := func() float64 {
		s, err := d.metrics()
		if err != nil {
			t.Fatal(err)
		}
		return s.sum("sentinel_events_total")
	}
	waitUntil(t, time.Minute, "the calibration daemon to admit events", func() bool { return admitted() > 0 })
	time.Sleep(5 * time.Second)
	from, at := admitted(), time.Now()
	time.Sleep(10 * time.Second)
	rate := (admitted() - from) / time.Since(at).Seconds()
	flood.abort()
	d.kill()
	trimAll(t, cluster, "calibration", 4)
	return rate
}

// trimAll deletes every record of topic.
func trimAll(t *testing.T, cluster *kafkatest.Cluster, topic string, partitions int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = int32(p), -1 // the high watermark
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 5000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := req.RequestWith(ctx, cl); err != nil {
		t.Logf("deleting the calibration records: %v", err)
	}
}

// withGroup sets kafka.group_id in a configuration written by daemonConfig.
func withGroup(t *testing.T, cfg, group string) string {
	t.Helper()
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "kafka:\n", "kafka:\n  group_id: "+group+"\n", 1))
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// liveStream produces events timestamped as they are produced, at rate a
// second, in bursts every 10ms, and counts per window what the broker
// acknowledged.
type liveStream struct {
	cl      *kgo.Client
	halted  atomic.Bool
	abortFn context.CancelFunc
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	counts  map[time.Time]uint64
	failed  error
	n       int64
}

func startLiveStream(t *testing.T, cluster *kafkatest.Cluster, topic string, partitions int, rate float64) *liveStream {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	ctx, abort := context.WithCancel(context.Background())
	s := &liveStream{cl: cl, abortFn: abort, done: make(chan struct{}), counts: make(map[time.Time]uint64)}
	t.Cleanup(func() {
		s.abort()
		cl.Close()
	})
	go func() {
		defer close(s.done)
		start := time.Now()
		sent := 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var buf []byte
		for now := range tick.C {
			// A burst is cut short at 10,000 records so that a producer
			// faster than the broker (calibration) still sees halt.
			due := min(int(now.Sub(start).Seconds()*rate), sent+10_000)
			for ; sent < due && !s.halted.Load(); sent++ {
				ts := time.Now().UTC()
				w := ts.Truncate(soakWindow)
				buf = fraudEvent(buf[:0], sent, ts)
				s.wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Partition: int32(sent % partitions), Value: append([]byte(nil), buf...)},
					func(_ *kgo.Record, err error) {
						defer s.wg.Done()
						s.mu.Lock()
						defer s.mu.Unlock()
						if err != nil {
							if s.failed == nil {
								s.failed = err
							}
							return
						}
						s.counts[w]++
						s.n++
					})
			}
			if s.halted.Load() {
				s.wg.Wait()
				return
			}
		}
	}()
	return s
}

// stop stops producing and waits until what was produced is acknowledged.
func (s *liveStream) stop() {
	s.halted.Store(true)
	<-s.done
}

// abort stops producing and fails what is still buffered.
func (s *liveStream) abort() {
	s.abortFn()
	s.stop()
}

func (s *liveStream) produced() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *liveStream) perWindow() map[time.Time]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// trimmer deletes, every 10 s, what the group has committed, as a broker's
// retention would: the in-process broker keeps every record in memory.
type trimmer struct {
	halt, done chan struct{}
}

func startTrimmer(t *testing.T, cluster *kafkatest.Cluster, group, topic string, partitions int) *trimmer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	tr := &trimmer{halt: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		defer cl.Close()
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tr.halt:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			committed := committedOffsets(ctx, cl, group, topic, partitions)
			if len(committed) > 0 {
				req := kmsg.NewPtrDeleteRecordsRequest()
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = topic
				for p, o := range committed {
					rp := kmsg.NewDeleteRecordsRequestTopicPartition()
					rp.Partition, rp.Offset = p, o
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
				req.TimeoutMillis = 5000
				req.RequestWith(ctx, cl)
			}
			cancel()
		}
	}()
	t.Cleanup(tr.stop)
	return tr
}

func (tr *trimmer) stop() {
	select {
	case <-tr.halt:
	default:
		close(tr.halt)
	}
	<-tr.done
}

// committedOffsets asks the group coordinator for the group's offsets.
func committedOffsets(ctx context.Context, cl *kgo.Client, group, topic string, partitions int) map[int32]int64 {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rt.Partitions = append(rt.Partitions, int32(p))
	}
	req.Topics = append(req.Topics, rt)
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic = topic
	gt.Partitions = rt.Partitions
	rg.Topics = append(rg.Topics, gt)
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(ctx, cl)
	out := map[int32]int64{}
	if err != nil {
		return out
	}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if p.ErrorCode == 0 && p.Offset > 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	for _, g := range resp.Groups {
		for _, tp := range g.Topics {
			for _, p := range tp.Partitions {
				if p.ErrorCode == 0 && p.Offset > 0 {
					out[p.Partition] = p.Offset
				}
			}
		}
	}
	return out
}

// sampler writes /metrics samples to a CSV file and keeps them to judge.
type sampler struct {
	f    *os.File
	rows []sample
}

type sample struct {
	at                    time.Duration
	rss, heap, goroutines float64
	lag, events, produced float64
	event                 string
}

func newSampler(t *testing.T, path string) *sampler {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "seconds,rss_mb,heap_inuse_mb,goroutines,lag,events_total,produced,load1,event")
	return &sampler{f: f}
}

func (s *sampler) take(d *daemonProc, at time.Duration, produced int64, event string) {
	m, err := d.metrics()
	if err != nil {
		fmt.Fprintf(s.f, "%.0f,,,,,,%d,%s,%s (no scrape: %v)\n", at.Seconds(), produced, loadAverage(), event, err)
		return
	}
	r := sample{at: at, rss: m.sum("process_resident_memory_bytes") / 1e6, heap: m.sum("go_memstats_heap_inuse_bytes") / 1e6,
		goroutines: m.sum("go_goroutines"), lag: m.sum("sentinel_ingest_lag", "topic", "events"), events: m.sum("sentinel_events_total"),
		produced: float64(produced), event: event}
	s.rows = append(s.rows, r)
	fmt.Fprintf(s.f, "%.0f,%.1f,%.1f,%.0f,%.0f,%.0f,%.0f,%s,%s\n", r.at.Seconds(), r.rss, r.heap, r.goroutines, r.lag, r.events, r.produced,
		loadAverage(), r.event)
}

// loadAverage is the machine's one-minute load average: on a shared machine,
// what else runs explains a lag the daemon did not cause.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Fields(string(b))[0]
}

func (s *sampler) close() { s.f.Close() }

// judge compares the last third of the run with the first (after its first
// minute): memory within a quarter, goroutines within ten, and the lag of
// the end no more than a few seconds of traffic.
func (s *sampler) judge(t *testing.T, duration time.Duration) {
	t.Helper()
	third := func(from, to time.Duration) []sample {
		var out []sample
		for _, r := range s.rows {
			if r.at >= from && r.at < to {
				out = append(out, r)
			}
		}
		return out
	}
	first, last := third(time.Minute, duration/3), third(2*duration/3+min(2*time.Minute, duration/6), duration)
	if len(first) == 0 || len(last) == 0 {
		t.Fatalf("too few samples: %d and %d", len(first), len(last))
	}
	med := func(rs []sample, f func(sample) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	peak := func(rs []sample, f func(sample) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return slices.Max(v)
	}
	rss := func(r sample) float64 { return r.rss }
	heap := func(r sample) float64 { return r.heap }
	gor := func(r sample) float64 { return r.goroutines }
	lag := func(r sample) float64 { return r.lag }
	t.Logf("first third (from 1 min): RSS median %.0f MB, peak %.0f; heap in use %.0f MB; goroutines %.0f, peak %.0f; lag median %.0f, peak %.0f",
		med(first, rss), peak(first, rss), med(first, heap), med(first, gor), peak(first, gor), med(first, lag), peak(first, lag))
	t.Logf("last third (from 2 min after the ClickHouse restart, or a sixth of the run): RSS median %.0f MB, peak %.0f; heap in use %.0f MB; goroutines %.0f, peak %.0f; lag median %.0f, peak %.0f",
		med(last, rss), peak(last, rss), med(last, heap), med(last, gor), peak(last, gor), med(last, lag), peak(last, lag))
	if med(last, rss) > 1.25*med(first, rss)+10 {
		t.Errorf("RSS grew from a median of %.0f MB to %.0f MB", med(first, rss), med(last, rss))
	}
	if med(last, gor) > med(first, gor)+10 {
		t.Errorf("goroutines grew from a median of %.0f to %.0f", med(first, gor), med(last, gor))
	}
	if med(last, lag) > 2*med(first, lag)+1000 {
		t.Errorf("the lag grew from a median of %.0f to %.0f", med(first, lag), med(last, lag))
	}
}
