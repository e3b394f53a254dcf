package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// The traffic shapes of issue #17, beside BenchmarkReplay's most favourable
// one: many models, request ids with the label join doing work, and small
// windows where a window's fixed cost per feature dominates.

// fleet returns n models of the same contract and baseline, named
// <name>-000 and on: a daemon watching a fleet of similar models.
func fleet(b testing.TB, name string, n, numeric, categorical int) []*model.Model {
	b.Helper()
	cats := "categories: [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9]"
	m0 := modeltest.Generated(b, name, numeric, categorical, 10, "nullable: true, min: -1000, max: 1000", cats)
	out := make([]*model.Model, n)
	for i := range out {
		c, bl := *m0.Contract, *m0.Baseline
		c.Model = fmt.Sprintf("%s-%03d", name, i)
		bl.Model = c.Model
		m, err := model.New(&c, &bl)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = m
	}
	return out
}

// shape is a stream to generate: the models take turns, each at perMinute
// events a minute of event time; with labelled set, a third of the requests
// get a label event 30 seconds of event time later.
type shape struct {
	models               []*model.Model
	numeric, categorical int
	perMinute            int
	labelled             bool
}

// events returns n messages of the stream (events and labels counted alike).
func (s shape) events(n int) [][]byte {
	out, _ := s.generate(func(_ time.Time, count int) bool { return count >= n }, 0)
	return out
}

// upTo returns the stream's messages before end (from the stream's start),
// and for each whole minute m before end the index of the first event at or
// after m minutes and lateness: the one whose watermark closes the windows
// ending at m minutes.
func (s shape) upTo(end, lateness time.Duration) (out [][]byte, closing []int) {
	last := t0.Add(end)
	return s.generate(func(at time.Time, _ int) bool { return !at.Before(last) }, lateness)
}

// generate returns the stream's messages until stop, asked before each
// message with its event time and the count so far, says to stop; and for
// each minute m the index of the first event at or after m minutes and
// lateness.
func (s shape) generate(stop func(at time.Time, count int) bool, lateness time.Duration) (out [][]byte, closing []int) {
	r := rand.New(rand.NewPCG(17, 17))
	step := time.Minute / time.Duration(s.perMinute*len(s.models))
	type label struct {
		model string
		id    int
		at    time.Time
		y     int
	}
	var pending []label
	var buf []byte
	for k := 0; ; k++ {
		at := t0.Add(time.Duration(k) * step)
		for len(pending) > 0 && !pending[0].at.After(at) {
			l := pending[0]
			if stop(l.at, len(out)) {
				return out, closing
			}
			pending = pending[1:]
			buf = fmt.Appendf(buf[:0], `{"model":%q,"request_id":"req-%012d","timestamp":%q,"label":%d}`,
				l.model, l.id, l.at.Format(time.RFC3339Nano), l.y)
			out = append(out, append([]byte(nil), buf...))
		}
		if stop(at, len(out)) {
			return out, closing
		}
		for !at.Before(t0.Add(time.Duration(len(closing))*time.Minute + lateness)) {
			closing = append(closing, len(out))
		}
		name := s.models[k%len(s.models)].Name()
		buf = fmt.Appendf(buf[:0], `{"model":%q,"model_version":"v1","request_id":"req-%012d","timestamp":%q,"features":{`,
			name, k, at.Format(time.RFC3339Nano))
		for i := range s.numeric {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = fmt.Appendf(buf, `"n%d":`, i)
			buf = strconv.AppendFloat(buf, r.NormFloat64()*float64(i+1), 'f', 6, 64)
		}
		for i := range s.categorical {
			buf = fmt.Appendf(buf, `,"c%d":"c%d"`, i, r.IntN(10))
		}
		p := r.Float64()
		buf = fmt.Appendf(buf, `},"prediction":%.6f}`, p)
		out = append(out, append([]byte(nil), buf...))
		if s.labelled && k%3 == 0 {
			y := 0
			if r.Float64() < p {
				y = 1
			}
			pending = append(pending, label{name, k, at.Add(30 * time.Second), y})
		}
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// shapePipeline returns a new pipeline of the shape benchmarks' options.
func shapePipeline(b *testing.B, models []*model.Model, joiner *labels.JoinerConfig, w store.Writer) *Pipeline {
	b.Helper()
	p, err := New(Options{Models: models, Window: time.Minute, Lateness: shapeLateness, ReferencePeriod: time.Hour,
		MinSamples: 100, MaxMessageBytes: 1 << 20, Labels: joiner, Writer: w, Now: time.Now,
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

const shapeLateness = 5 * time.Second

// replayShape runs a new pipeline over events per iteration, timing what
// follows New (unlike BenchmarkReplay, whose one model costs little to set
// up), and reports events/s, events per second of CPU time
// (which, on a machine shared with other work, says more than the wall clock
// does: run with GOMAXPROCS=1), and allocations per event.
func replayShape(b *testing.B, models []*model.Model, events [][]byte, joiner *labels.JoinerConfig) time.Duration {
	b.Helper()
	ctx := context.Background()
	var before, after runtime.MemStats
	var allocs uint64
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Making the pipeline (a hundred models' baselines read into what the
		// checks compare) is start-up, not throughput.
		b.StopTimer()
		p := shapePipeline(b, models, joiner, discard{})
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := cpuTime(b)
		b.StartTimer()
		for k, e := range events {
			if err := p.Process(ctx, ingest.Message{Topic: "events", Offset: int64(k), Value: e}); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime(b) - start
		runtime.ReadMemStats(&after)
		allocs += after.Mallocs - before.Mallocs
		if st := p.Stats(); st.Rejected > 0 {
			b.Fatalf("%d messages rejected", st.Rejected)
		}
		b.StartTimer()
	}
	total := float64(len(events)) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(total/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(allocs)/total, "allocs/event")
	return cpu
}

// labelledWindows counts the windows written whose checks scored joined
// pairs.
type labelledWindows struct{ n int }

func (l *labelledWindows) Write(_ context.Context, b store.Batch) error {
	for _, r := range b.Results {
		if r.Kind == check.Performance && r.Metric == check.Labelled && r.Value > 0 {
			l.n++
		}
	}
	return nil
}

// joined is the number of pairs p's label join has made.
func joined(p *Pipeline) uint64 {
	var n uint64
	for _, w := range p.workers {
		for name := range w.models {
			st, _ := w.joiner.Stats(name)
			n += st.Joined
		}
	}
	return n
}

// BenchmarkReplayLabelJoin: 100 models of the 20-feature benchmark contract,
// each at 25 events a second, every event with a request id and a third of
// them labelled 30 s later, the label join on (the daemon's defaults: a day's
// delay, a million pending per model). Goal: 500,000 events/s on one core,
// and no allocation per event in the steady state.
//
// It times the steady state: two minutes of the stream go through each new
// pipeline untimed, up to the event that closes the second minute's windows
// (so that windows are recycled ones and the join holds what it would), and
// the next three minutes are timed, through the event that closes their last
// windows. Those are 600,000 messages, each model's events of three windows,
// the labels they join, and the checks of each model's three windows:
// allocs/event is what those allocate, closing included, over the messages.
// Every label of the three minutes must join, and every window closed must
// score pairs.
func BenchmarkReplayLabelJoin(b *testing.B) {
	const nModels, warm, measured = 100, 2, 3
	models := fleet(b, "wide", nModels, 12, 8)
	s := shape{models: models, numeric: 12, categorical: 8, perMinute: 25 * 60, labelled: true}
	events, closing := s.upTo((warm+measured)*time.Minute+shapeLateness+time.Second, shapeLateness)
	from, to := closing[warm]+1, closing[warm+measured]+1
	ctx := context.Background()
	process := func(p *Pipeline, k int) {
		if err := p.Process(ctx, ingest.Message{Topic: "events", Offset: int64(k), Value: events[k]}); err != nil {
			b.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	var allocs uint64
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tally := &labelledWindows{}
		p := shapePipeline(b, models, &labels.JoinerConfig{MaxDelay: 24 * time.Hour, MaxPending: 1_000_000}, tally)
		for k := range from {
			process(p, k)
		}
		st0, joined0, tally0 := p.Stats(), joined(p), tally.n
		if st0.Windows != warm*nModels {
			b.Fatalf("%d windows checked in the warm-up, want %d", st0.Windows, warm*nModels)
		}
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := cpuTime(b)
		b.StartTimer()
		for k := from; k < to; k++ {
			process(p, k)
		}
		b.StopTimer()
		cpu += cpuTime(b) - start
		runtime.ReadMemStats(&after)
		allocs += after.Mallocs - before.Mallocs
		st := p.Stats()
		if st.Rejected > 0 {
			b.Fatalf("%d messages rejected", st.Rejected)
		}
		if n := st.Windows - st0.Windows; n != measured*nModels {
			b.Fatalf("%d windows checked, want %d", n, measured*nModels)
		}
		if n := tally.n - tally0; n != measured*nModels {
			b.Fatalf("%d windows scored pairs, want %d", n, measured*nModels)
		}
		labelsIn, pairs := st.Labels-st0.Labels, joined(p)-joined0
		if labelsIn == 0 || pairs != labelsIn {
			b.Fatalf("%d pairs joined from %d labels", pairs, labelsIn)
		}
		b.StartTimer()
	}
	total := float64(to-from) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(total/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(allocs)/total, "allocs/event")
}

// BenchmarkReplayFleet: 100 models of 50 features (40 numeric, 10
// categorical), 50 events per model per one-minute window, for ten minutes:
// the windows' fixed costs dominate. window-feature-ns is the time per
// (model, window, feature profile), events included. Goals: 100,000 events/s
// on one core; a (window, feature) fixed cost of 5 µs at most.
func BenchmarkReplayFleet(b *testing.B) {
	const models, perMinute, minutes, features = 100, 50, 10, 50
	fl := fleet(b, "fleet", models, 40, 10)
	events := shape{models: fl, numeric: 40, categorical: 10, perMinute: perMinute}.events(models * perMinute * minutes)
	cpu := replayShape(b, fl, events, nil)
	// Every feature, the prediction and latency are profiled per window.
	profiles := float64(models*minutes*(features+2)) * float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/profiles, "window-feature-ns")
	b.ReportMetric(float64(cpu.Nanoseconds())/profiles, "window-feature-cpu-ns")
}

// BenchmarkWindowFixedCost is BenchmarkReplayFleet with one event per model
// and window, for an hour: what a (window, feature) costs whatever its
// events — opening, checking, storing and recycling its profile — beside one
// value's profiling and a fiftieth of an event's decoding. Goal: 5 µs (CPU
// time, one core).
func BenchmarkWindowFixedCost(b *testing.B) {
	const models, minutes, features = 100, 60, 50
	fl := fleet(b, "fleet", models, 40, 10)
	events := shape{models: fl, numeric: 40, categorical: 10, perMinute: 1}.events(models * minutes)
	cpu := replayShape(b, fl, events, nil)
	profiles := float64(models*minutes*(features+2)) * float64(b.N)
	b.ReportMetric(float64(cpu.Nanoseconds())/profiles, "window-feature-cpu-ns")
}
