package daemon

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentinel-ml/sentinel/internal/config"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
)

// brokerProcess, set in the environment, makes the test binary serve a broker
// instead of running tests: a daemon's memory is then measured without the
// broker's copy of the topic in the same process.
const brokerProcess = "SENTINEL_BENCH_BROKER_PROCESS"

// serveBroker runs a broker with the topics of BenchmarkDaemonBacklog,
// prints its address and serves until its standard input closes.
func serveBroker() int {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(backlogPartitions, "live", "backlog"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fmt.Println(strings.Join(c.ListenAddrs(), ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startBroker starts the broker process and returns its addresses.
func startBroker(b *testing.B) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), brokerProcess+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("reading the broker's address: %v", err)
	}
	return strings.Split(strings.TrimSpace(line), ",")
}

const (
	backlogPartitions = 4
	backlogModels     = 100
	// backlogPerWindow is each model's events per one-minute window.
	backlogPerWindow = 50
)

// backlogFleet is 100 models of 50 features (40 numeric, 10 categorical)
// sharing a contract and baseline.
func backlogFleet(b *testing.B) []*model.Model {
	m0 := modeltest.Generated(b, "fleet", 40, 10, 10, "nullable: true, min: -1000, max: 1000",
		"categories: [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9]")
	out := make([]*model.Model, backlogModels)
	for i := range out {
		c, bl := *m0.Contract, *m0.Baseline
		c.Model = fmt.Sprintf("fleet-%03d", i)
		bl.Model = c.Model
		m, err := model.New(&c, &bl)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = m
	}
	return out
}

var backlogT0 = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

// produceMinutes produces the fleet's events of [from, to) minutes after
// backlogT0 to topic, in event-time order, round-robin over the partitions,
// and returns how many.
func produceMinutes(b *testing.B, cl *kgo.Client, topic string, from, to float64) int {
	step := time.Minute / time.Duration(backlogPerWindow*backlogModels)
	first := int(from * float64(time.Minute/step))
	last := int(to * float64(time.Minute/step))
	r := rand.New(rand.NewPCG(uint64(first), 7))
	records := make([]*kgo.Record, 0, last-first)
	for k := first; k < last; k++ {
		var buf bytes.Buffer
		at := backlogT0.Add(time.Duration(k) * step)
		fmt.Fprintf(&buf, `{"model":"fleet-%03d","model_version":"v1","request_id":"req-%012d","timestamp":%q,"features":{`,
			k%backlogModels, k, at.Format(time.RFC3339Nano))
		for i := range 40 {
			if i > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `"n%d":%s`, i, strconv.FormatFloat(r.NormFloat64()*float64(i+1), 'f', 6, 64))
		}
		for i := range 10 {
			fmt.Fprintf(&buf, `,"c%d":"c%d"`, i, r.IntN(10))
		}
		fmt.Fprintf(&buf, `},"prediction":%.6f}`, r.Float64())
		// Requests, not models, are spread over the partitions: every
		// partition carries every model.
		records = append(records, &kgo.Record{Topic: topic, Partition: int32(k / backlogModels % backlogPartitions), Value: buf.Bytes()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		b.Fatalf("producing to %s: %v", topic, err)
	}
	return len(records)
}

// memoryPeak samples the process's resident set and Go heap until stopped,
// keeping the largest of each.
type memoryPeak struct {
	rss, heap atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
}

func sampleMemory() *memoryPeak {
	p := &memoryPeak{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			p.sample()
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *memoryPeak) sample() {
	if rss := residentBytes(); rss > p.rss.Load() {
		p.rss.Store(rss)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > p.heap.Load() {
		p.heap.Store(ms.HeapInuse)
	}
}

// end stops sampling and returns the peaks in MB.
func (p *memoryPeak) end() (rss, heap float64) {
	close(p.stop)
	<-p.done
	return float64(p.rss.Load()) / (1 << 20), float64(p.heap.Load()) / (1 << 20)
}

// residentBytes is the process's VmRSS.
func residentBytes() uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkDaemonBacklog measures the daemon's memory with 100 models of 50
// features at 50 events per model per one-minute window, four partitions,
// sentinel.yaml's defaults, the broker in another process: first caught up
// (ten minutes of events produced fifteen seconds of event time at a time,
// each read before the next), then, after the heap is returned to the system,
// started on a 20-minute backlog. It reports the peak resident set and Go heap
// in use of each and their ratios, and the backlog's rate (wall clock, from
// the daemon's start). Goal: a backlog at most twice the steady state's
// resident set.
func BenchmarkDaemonBacklog(b *testing.B) {
	brokers := startBroker(b)
	models := backlogFleet(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<17))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	const backlogMinutes, steadyMinutes = 20, 10
	backlog := produceMinutes(b, cl, "backlog", 0, backlogMinutes)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	var steadyRSS, steadyHeap, backlogRSS, backlogHeap, rate float64
	group := 0
	for b.Loop() {
		group++
		runtime.GC()
		debug.FreeOSMemory()
		peak := sampleMemory()
		d := backlogDaemon(b, brokers, "live", fmt.Sprintf("steady-%d", group), models, log)
		produced := 0
		for quarter := 0; quarter < 4*steadyMinutes; quarter++ {
			produced += produceMinutes(b, cl, "live", float64(quarter)/4, float64(quarter+1)/4)
			d.admitted(b, produced)
		}
		d.stop(b)
		steadyRSS, steadyHeap = peak.end()

		runtime.GC()
		debug.FreeOSMemory()
		peak = sampleMemory()
		began := time.Now()
		d = backlogDaemon(b, brokers, "backlog", fmt.Sprintf("backlog-%d", group), models, log)
		d.admitted(b, backlog)
		rate = float64(backlog) / time.Since(began).Seconds()
		d.stop(b)
		backlogRSS, backlogHeap = peak.end()
	}
	b.ReportMetric(steadyRSS, "steady_rss_MB")
	b.ReportMetric(backlogRSS, "backlog_rss_MB")
	b.ReportMetric(backlogRSS/steadyRSS, "rss_ratio")
	b.ReportMetric(steadyHeap, "steady_heap_MB")
	b.ReportMetric(backlogHeap, "backlog_heap_MB")
	b.ReportMetric(backlogHeap/steadyHeap, "heap_ratio")
	b.ReportMetric(rate, "backlog_events/s")
}

// backlogRun is a daemon of BenchmarkDaemonBacklog.
type backlogRun struct {
	*Daemon
	reg   *prometheus.Registry
	group *ingest.Group
}

// backlogDaemon starts a daemon with sentinel.yaml's defaults reading topic.
func backlogDaemon(b *testing.B, brokers []string, topic, groupID string, models []*model.Model, log *slog.Logger) *backlogRun {
	reg := prometheus.NewRegistry()
	group, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: ingest.KafkaConn{Brokers: brokers},
		GroupID: groupID, Topics: []string{topic}, MaxWait: 100 * time.Millisecond, Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.DefaultDaemon()
	opts := pipeline.OptionsFromConfig(cfg, models)
	// The events are of a fixed day, not of now.
	opts.MaxFutureSkew, opts.MaxAge = 0, 0
	opts.Now, opts.Registerer, opts.Logger = time.Now, reg, log
	d, err := New(Options{Pipeline: opts, Group: group, Store: newMemStore(), TickEvery: time.Second, CommitEvery: time.Second,
		Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return &backlogRun{Daemon: d, reg: reg, group: group}
}

// admitted waits until the daemon has admitted n events.
func (r *backlogRun) admitted(b *testing.B, n int) {
	for deadline := time.Now().Add(10 * time.Minute); ; {
		var total float64
		mfs, err := r.reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "sentinel_events_total" {
				for _, m := range mf.GetMetric() {
					total += m.GetCounter().GetValue()
				}
			}
		}
		if total >= float64(n) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%.0f of %d events admitted", total, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *backlogRun) stop(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	r.group.Close()
}
