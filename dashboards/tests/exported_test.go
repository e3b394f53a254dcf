package dashboards

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/daemon"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/ingest/kafkatest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/store"
	"github.com/sentinel-ml/sentinel/internal/store/storetest"
)

const (
	repoRoot = "../.."
	example  = repoRoot + "/examples/fraud"
)

// family is one metric family the daemon exports: its label names and, when
// a scrape showed it, its type (a histogram or summary adds series).
type family struct {
	labels map[string]bool
	typ    dto.MetricType
	typed  bool
}

// recordingRegistry is a registry that keeps the descriptions of what is
// registered, so that a vector with no series yet still counts as exported.
type recordingRegistry struct {
	*prometheus.Registry
	descs []*prometheus.Desc
}

func (r *recordingRegistry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

func (r *recordingRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// exportedFamilies registers what `sentinel run` registers (cmd/sentinel/run.go
// serve), each component built against the test's ClickHouse, an in-process
// Kafka and the example's recorded traffic, and returns every family by name.
func exportedFamilies(t *testing.T) map[string]*family {
	t.Helper()
	checkDaemonRegistry(t)
	reg := &recordingRegistry{Registry: prometheus.NewRegistry()}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ctx := context.Background()

	dsn := storetest.DSN(t)
	db := fmt.Sprintf("sentinel_dashboards_metrics_%d", time.Now().UnixNano())
	st, err := store.New(store.Options{DSN: dsn, Database: db, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		dropDatabase(t, dsn, db)
	})

	kafka := kafkatest.Start(t, kafkatest.Topic{Name: "events", Partitions: 1}, kafkatest.Topic{Name: "dead", Partitions: 1},
		kafkatest.Topic{Name: "partials", Partitions: 1})
	conn := ingest.KafkaConn{Brokers: kafka.Brokers()}
	group, err := ingest.NewGroup(ingest.KafkaOptions{KafkaConn: conn, GroupID: "dashboards", Topics: []string{"events"},
		MaxWait: 100 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	dl, err := ingest.NewKafkaDeadLetters(ingest.DeadLetterOptions{KafkaConn: conn, Topic: "dead", Reasons: pipeline.Reasons(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	partials, err := ingest.NewPartialsWriter(ingest.PartialsOptions{KafkaConn: conn, Topic: "partials", Partitions: 1,
		CheckGroup: "dashboards-check", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer partials.Close()

	// The daemon's own series (the lag, partitions unreported) register when
	// it is built; it need not run.
	if _, err := daemon.New(daemon.Options{Group: group, Store: st, TickEvery: time.Second, CommitEvery: time.Second,
		Registerer: reg}); err != nil {
		t.Fatal(err)
	}

	// The pipeline as replay runs it, over the example's two hours, so that
	// every kind of check has published its series.
	p, err := pipeline.New(pipeline.Options{
		Models: []*model.Model{modeltest.Example(t, example)}, Window: 5 * time.Minute, Lateness: 30 * time.Second,
		ReferencePeriod: time.Hour, MinSamples: 30, MaxMessageBytes: 1 << 20,
		Labels:     &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 10000},
		Anomaly:    &analyze.AnomalyOptions{FitAfter: 5, HistoryWindows: 100, FalseAlarmRate: 0.002},
		MaxSilence: time.Hour, EventTime: true, ReplayTick: time.Minute,
		Writer: store.NewMemory(), Registerer: reg, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	events, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: example + "/events.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	if err := pipeline.Replay(ctx, events, p); err != nil {
		t.Fatal(err)
	}

	out := map[string]*family{}
	add := func(name string) *family {
		if out[name] == nil {
			out[name] = &family{labels: map[string]bool{}}
		}
		return out[name]
	}
	for _, d := range reg.descs {
		name, labels := parseDesc(t, d)
		f := add(name)
		for _, l := range labels {
			f.labels[l] = true
		}
	}
	gathered, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range gathered {
		f := add(mf.GetName())
		f.typ, f.typed = mf.GetType(), true
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				f.labels[l.GetName()] = true
			}
		}
	}
	name, labels := buildInfo(t)
	f := add(name)
	for _, l := range labels {
		f.labels[l] = true
	}
	return out
}

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descConst  = regexp.MustCompile(`constLabels: \{([^}]*)\}`)
	descVar    = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	constLabel = regexp.MustCompile(`(\w+)=`)
)

// parseDesc reads a description's name and labels from its String form,
// client_golang exposing them no other way.
func parseDesc(t *testing.T, d *prometheus.Desc) (string, []string) {
	t.Helper()
	s := d.String()
	name, consts, vars := descName.FindStringSubmatch(s), descConst.FindStringSubmatch(s), descVar.FindStringSubmatch(s)
	if name == nil || consts == nil || vars == nil {
		t.Fatalf("cannot read the metric description %s: has client_golang changed its format?", s)
	}
	var labels []string
	for _, m := range constLabel.FindAllStringSubmatch(consts[1], -1) {
		labels = append(labels, m[1])
	}
	for _, l := range strings.Split(vars[1], ",") {
		if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
			labels = append(labels, l)
		}
	}
	return name[1], labels
}

// buildInfo is sentinel_build_info, which package main registers: its name
// and labels are read from the source, so that a change there shows here.
func buildInfo(t *testing.T) (string, []string) {
	t.Helper()
	src := readSource(t, repoRoot+"/cmd/sentinel/version.go")
	m := regexp.MustCompile(`Name: "(sentinel_build_info)"[^\n]*\n\s*ConstLabels: prometheus\.Labels\{([^}]*)\}`).FindStringSubmatch(src)
	if m == nil {
		t.Fatal("cmd/sentinel/version.go no longer defines sentinel_build_info as these tests expect")
	}
	var labels []string
	for _, l := range regexp.MustCompile(`"(\w+)":`).FindAllStringSubmatch(m[2], -1) {
		labels = append(labels, l[1])
	}
	return m[1], labels
}

// checkDaemonRegistry fails when `sentinel run` registers collectors other
// than those exportedFamilies registers in its stead.
func checkDaemonRegistry(t *testing.T) {
	t.Helper()
	src := readSource(t, repoRoot+"/cmd/sentinel/run.go")
	want := `reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo())`
	if !strings.Contains(src, want) {
		t.Fatalf("cmd/sentinel/run.go no longer registers\n%s\nupdate exportedFamilies to what it does", want)
	}
	// The check stage's group (kafka.topics.partials) is built without the
	// registry: the events group's is the one registered.
	for _, component := range []string{"store.New(", "ingest.NewGroup(groupOptions(", "ingest.NewKafkaDeadLetters(", "ingest.NewPartialsWriter(", "daemon.New(", "pipeline.OptionsFromConfig("} {
		if strings.Count(src, component) != 1 {
			t.Fatalf("cmd/sentinel/run.go: %s is not called once: update exportedFamilies to what the daemon registers", component)
		}
	}
	if n := strings.Count(src, "Registerer: reg"); n != 5 {
		t.Fatalf("cmd/sentinel/run.go passes its registry %d times, not 5 (store, group, dead letters, partials writer, daemon) besides the pipeline's: update exportedFamilies", n)
	}
}

func readSource(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dropDatabase removes a database a test created.
func dropDatabase(t *testing.T, dsn, db string) {
	t.Helper()
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Error(err)
		return
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Errorf("dropping %s: %v", db, err)
	}
}
