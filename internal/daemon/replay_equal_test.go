package daemon

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
)

// A daemon reading twelve partitions of events and labels from Kafka stores
// what `sentinel replay --store` of the same traffic stores: every profile,
// check result and anomaly verdict, floats to 1e-9. Kafka serves a
// partition's topics at their own pace; the daemon's answers must not
// depend on it.

const (
	fleetPartitions = 12
	fleetSize       = 5
	fleetMinutes    = 30
	// fleetPerMinute is each model's events a minute.
	fleetPerMinute = 120
)

// fleetModels is five models of one contract; the fourth drifts from minute
// 18 on, so that drift, the checks and the anomaly detector have something
// to find.
func fleetModels(t *testing.T) []*model.Model {
	out := make([]*model.Model, fleetSize)
	for k := range out {
		out[k] = buildModel(t, fmt.Sprintf("model: m%d\nprediction: {kind: probability}\nfeatures:\n", k)+
			"  - {name: amount, type: numeric, min: 0}\n  - {name: country, type: categorical, categories: [DE, FR, US]}\n",
			func(r *rand.Rand, csv *strings.Builder) {
				fmt.Fprintf(csv, "%.2f,%s", r.ExpFloat64()*50, []string{"DE", "FR", "US"}[r.IntN(3)])
			})
	}
	return out
}

// fleetStream is the traffic of the fleet: events keyed by request id,
// spread over every partition by the key's hash, and for two requests in
// three a label 5 seconds later on the labels topic's partition of the same
// key (co-partitioned); then, on each partition, an event past the lateness
// of the last window, which closes every window by watermark. Both topics
// are produced a minute of event time at a time, as live traffic arrives.
// lines are the same messages in event time order, as a recording holds
// them.
type fleetStream struct {
	// events and labels are per minute of event time.
	events, labels [][]kafkatest.Record
	lines          [][]byte
	// end is the start of the first window not compared: the closing
	// events' windows.
	end time.Time
}

func newFleetStream(models []*model.Model) *fleetStream {
	s := &fleetStream{end: t0.Add(fleetMinutes * time.Minute)}
	r := rand.New(rand.NewPCG(11, 11))
	partition := func(key string) int32 {
		h := fnv.New32a()
		h.Write([]byte(key))
		return int32(h.Sum32() % fleetPartitions)
	}
	type label struct {
		at    time.Time
		value []byte
		key   string
	}
	var pending []label
	s.events = make([][]kafkatest.Record, fleetMinutes+6)
	s.labels = make([][]kafkatest.Record, fleetMinutes+6)
	minute := func(at time.Time) int { return int(at.Sub(t0) / time.Minute) }
	emitLabels := func(until time.Time) {
		for len(pending) > 0 && !pending[0].at.After(until) {
			l := pending[0]
			pending = pending[1:]
			m := minute(l.at)
			s.labels[m] = append(s.labels[m], kafkatest.Record{Partition: partition(l.key), Key: []byte(l.key), Value: l.value})
			s.lines = append(s.lines, l.value)
		}
	}
	n := fleetMinutes * fleetPerMinute * fleetSize
	for k := range n {
		at := t0.Add(time.Duration(k) * time.Minute / (fleetPerMinute * fleetSize))
		emitLabels(at)
		m := models[k%fleetSize].Name()
		id := fmt.Sprintf("%s-%06d", m, k)
		amount := r.ExpFloat64() * 50
		if m == "m3" && at.Sub(t0) >= 18*time.Minute {
			amount *= 3
		}
		p := 1 / (1 + math.Exp(2-amount/25))
		v := fmt.Appendf(nil, `{"model":%q,"request_id":%q,"timestamp":%q,"features":{"amount":%.3f,"country":%q},"prediction":%.6f,"latency_ms":%.1f}`,
			m, id, at.Format(time.RFC3339Nano), amount, []string{"DE", "FR", "US"}[r.IntN(3)], p, 5+r.ExpFloat64()*10)
		s.events[minute(at)] = append(s.events[minute(at)], kafkatest.Record{Partition: partition(id), Key: []byte(id), Value: v})
		s.lines = append(s.lines, v)
		if k%3 != 0 {
			y := 0
			if r.Float64() < p {
				y = 1
			}
			l := label{at: at.Add(5 * time.Second), key: id}
			l.value = fmt.Appendf(nil, `{"model":%q,"request_id":%q,"timestamp":%q,"label":%d}`, m, id, l.at.Format(time.RFC3339Nano), y)
			pending = append(pending, l)
		}
	}
	emitLabels(s.end.Add(time.Hour))
	closing := s.end.Add(5 * time.Minute)
	for p := range int32(fleetPartitions) {
		v := fmt.Appendf(nil, `{"model":"m0","request_id":"close-%d","timestamp":%q,"features":{"amount":1,"country":"DE"},"prediction":0.5}`,
			p, closing.Format(time.RFC3339Nano))
		last := len(s.events) - 1
		s.events[last] = append(s.events[last], kafkatest.Record{Partition: p, Value: v})
		s.lines = append(s.lines, v)
	}
	return s
}

// produceMinutes produces the stream's minutes [from, to) of event time, a
// minute of both topics at a time; to past the end produces the rest.
func (h *harness) produceMinutes(s *fleetStream, from, to int) {
	for m := from; m < min(to, len(s.events)); m++ {
		h.cluster.Produce(h.t, "events", s.events[m]...)
		h.cluster.Produce(h.t, "labels", s.labels[m]...)
	}
}

// fleetHarness is a harness of the fleet over twelve partitions of events
// and labels.
func fleetHarness(t *testing.T, models []*model.Model, extra ...kafkatest.Topic) *harness {
	h := newHarness(t, fleetPartitions, append([]kafkatest.Topic{{Name: "labels", Partitions: fleetPartitions}}, extra...)...)
	h.joined = []string{"labels"}
	h.referencePeriod = 5 * time.Minute
	h.maxWait = 500 * time.Millisecond
	return h
}

var fleetAnomaly = analyze.AnomalyOptions{FitAfter: 10, HistoryWindows: 100, FalseAlarmRate: 0.002}

// replayInto runs one pipeline over the recording, as `sentinel replay
// --store` does, into database db.
func (h *harness) replayInto(db string, models []*model.Model, lines [][]byte) {
	h.t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DSN: h.dsn, Database: db, Logger: logger(h.t)})
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	h.t.Cleanup(func() {
		if err := h.conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			h.t.Errorf("dropping %s: %v", db, err)
		}
	})
	anomaly := fleetAnomaly
	p, err := pipeline.New(pipeline.Options{Models: models, Window: time.Minute, Lateness: 2 * time.Minute,
		ReferencePeriod: h.referencePeriod, MinSamples: 10, MaxMessageBytes: 1 << 20, EventTime: true,
		Labels: &labels.JoinerConfig{MaxDelay: time.Minute, MaxPending: 1 << 20}, Anomaly: &anomaly,
		Writer: st, Registerer: prometheus.NewRegistry(), Logger: logger(h.t)})
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range lines {
		if err := p.Process(ctx, ingest.Message{Topic: "events", Offset: int64(k), Value: v}); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// fleetTables are the queries of what is compared: every profile, check
// result and anomaly verdict of the windows before end, keyed by their
// first keys columns. Clock checks (staleness) are left out: a daemon judges
// them by the wall clock, a replay by the recording's.
var fleetTables = []struct {
	name, query string
	keys        int
}{
	{"window_profiles", "SELECT model, feature, window_start, window_start_ms, kafka_partition, row_count, null_count, nan_count, " +
		"pos_inf_count, neg_inf_count, finite_count, min_value, max_value, mean, stddev, violation_kinds, violation_counts, " +
		"distinct_estimate FROM DB.window_profiles FINAL WHERE window_start < END", 5},
	{"check_results", "SELECT model, window_start, window_start_ms, kind, feature, metric, model_version, window_end, window_end_ms, " +
		"value, threshold, breached, skipped FROM DB.check_results FINAL WHERE window_start < END AND kind != 'staleness'", 7},
	{"anomalies", "SELECT model, window_start, window_start_ms, window_end, window_end_ms, score, is_anomaly, statistic, " +
		"cause_metrics, cause_actual, cause_expected, cause_contribution FROM DB.anomalies FINAL WHERE window_start < END", 3},
}

// tableRows reads a query's rows, keyed by their first keys columns.
func (h *harness) tableRows(db, query string, keys int, end time.Time) map[string][]any {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	query = strings.NewReplacer("DB", db, "END", fmt.Sprintf("toDateTime(%d)", end.Unix())).Replace(query)
	rows, err := h.conn.Query(ctx, query)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	out := map[string][]any{}
	for rows.Next() {
		ptrs := make([]any, len(types))
		for i, ct := range types {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			h.t.Fatal(err)
		}
		vals := make([]any, len(ptrs))
		for i, p := range ptrs {
			vals[i] = reflect.ValueOf(p).Elem().Interface()
		}
		key := fmt.Sprint(vals[:keys]...)
		if _, dup := out[key]; dup {
			h.t.Errorf("%s: %s read twice with FINAL", db, key)
		}
		out[key] = vals[keys:]
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// sameValue says whether a and b are equal, floats to 1e-9 relative.
func sameValue(a, b any) bool {
	close := func(x, y float64) bool {
		if math.IsNaN(x) || math.IsNaN(y) {
			return math.IsNaN(x) && math.IsNaN(y)
		}
		return x == y || math.Abs(x-y) <= 1e-9*max(math.Abs(x), math.Abs(y))
	}
	switch x := a.(type) {
	case float64:
		return close(x, b.(float64))
	case []float64:
		y := b.([]float64)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !close(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// compareWithReplay fails unless the harness's database holds exactly what
// a replay of the stream stores, and reports the rows compared.
func (h *harness) compareWithReplay(models []*model.Model, s *fleetStream) {
	h.t.Helper()
	replayDB := h.db + "_replay"
	h.replayInto(replayDB, models, s.lines)
	for _, tb := range fleetTables {
		want := h.tableRows(replayDB, tb.query, tb.keys, s.end)
		got := h.tableRows(h.db, tb.query, tb.keys, s.end)
		differ := 0
		for key, w := range want {
			g, ok := got[key]
			if !ok {
				h.t.Errorf("%s: %s stored by the replay only", tb.name, key)
				continue
			}
			for i := range w {
				if !sameValue(w[i], g[i]) {
					if differ++; differ <= 10 {
						h.t.Errorf("%s: %s column %d: %v by the daemon, %v replayed", tb.name, key, tb.keys+i, g[i], w[i])
					}
				}
			}
		}
		for key := range got {
			if _, ok := want[key]; !ok {
				h.t.Errorf("%s: %s stored by the daemon only", tb.name, key)
			}
		}
		h.t.Logf("%s: %d rows by the daemon, %d replayed, %d values differ", tb.name, len(got), len(want), differ)
	}
}

// closedWindows counts the windows written complete before end, of every
// model.
func (h *harness) closedWindows(end time.Time) uint64 {
	h.t.Helper()
	return h.queryUint64(fmt.Sprintf("SELECT count() FROM DB.window_profiles FINAL WHERE feature = '' AND window_start < toDateTime(%d) "+
		"AND position(state, '\"complete\":true') > 0", end.Unix()))
}

// TestDaemonMatchesReplay: the fleet's traffic, produced a minute at a time
// to events and labels (co-partitioned by request id), read by one daemon,
// stores exactly what a replay of its recording does.
func TestDaemonMatchesReplay(t *testing.T) {
	models := fleetModels(t)
	s := newFleetStream(models)
	h := fleetHarness(t, models)
	d := h.daemonWith(func(o *Options) {
		o.Pipeline.Models = models
		o.Pipeline.Labels = &labels.JoinerConfig{MaxDelay: time.Minute, MaxPending: 1 << 20}
		anomaly := fleetAnomaly
		o.Pipeline.Anomaly = &anomaly
	})
	h.produceMinutes(s, 0, len(s.events))
	waitFor(t, "every window written", func() bool { return h.closedWindows(s.end) >= fleetSize*fleetMinutes })
	d.stop(t)
	h.compareWithReplay(models, s)
}

// TestDaemonRestartsMatchReplay: a daemon stopped mid-stream, drained or
// killed, and another started on the group store what the replay does:
// windows drained early are reopened with their pairs, predictions waiting
// for labels at the stop are read again and joined, the anomaly detector
// resumes from the stored windows.
func TestDaemonRestartsMatchReplay(t *testing.T) {
	for _, tt := range []struct {
		name string
		stop func(*instance, *testing.T)
	}{
		{"drained", (*instance).stop},
		{"killed", (*instance).crash},
	} {
		t.Run(tt.name, func(t *testing.T) {
			models := fleetModels(t)
			s := newFleetStream(models)
			h := fleetHarness(t, models)
			set := func(o *Options) {
				o.Pipeline.Models = models
				o.Pipeline.Labels = &labels.JoinerConfig{MaxDelay: time.Minute, MaxPending: 1 << 20}
				anomaly := fleetAnomaly
				o.Pipeline.Anomaly = &anomaly
			}
			const stopAt = 14
			h.produceMinutes(s, 0, stopAt)
			a := h.daemonWith(set)
			waitFor(t, "the first daemon to write the windows before the stop", func() bool {
				// The lateness is 2 minutes: 10:11 is the last window the watermark passes.
				return a.events(t) > 0 && h.closedWindows(t0.Add((stopAt-3)*time.Minute)) >= fleetSize*(stopAt-3)
			})
			tt.stop(a, t)
			h.produceMinutes(s, stopAt, len(s.events))
			b := h.daemonWith(set)
			waitFor(t, "every window written", func() bool { return h.closedWindows(s.end) >= fleetSize*fleetMinutes })
			b.stop(t)
			h.compareWithReplay(models, s)
		})
	}
}
