package alerts

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/sentinel-ml/sentinel/internal/analyze"
	"github.com/sentinel-ml/sentinel/internal/check"
	"github.com/sentinel-ml/sentinel/internal/golden"
	"github.com/sentinel-ml/sentinel/internal/ingest"
	"github.com/sentinel-ml/sentinel/internal/labels"
	"github.com/sentinel-ml/sentinel/internal/model"
	"github.com/sentinel-ml/sentinel/internal/model/modeltest"
	"github.com/sentinel-ml/sentinel/internal/pipeline"
	"github.com/sentinel-ml/sentinel/internal/promtest"
	"github.com/sentinel-ml/sentinel/internal/store"
)

const (
	rulesFile = "../../deploy/prometheus/sentinel.rules.yml"
	chartCopy = "../../helm/sentinel/files/sentinel.rules.yml"
	testsDir  = "../../deploy/prometheus/tests"
	runbooks  = "../../docs/runbooks.md"
)

// TestRulesFileIsGenerated: the committed rules file and the chart's copy are
// what the alert list generates (go test -update rewrites them).
func TestRulesFileIsGenerated(t *testing.T) {
	got, err := Rules(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, rulesFile, got)
	golden.Check(t, chartCopy, got)
}

// TestAlertList lints the list: every alert says what it is, how bad and
// where its runbook is, and every thresholded metric of the catalogue is
// covered by exactly one alert, so that no check can breach unheard.
func TestAlertList(t *testing.T) {
	cat := check.NewCatalogue()
	names := map[string]bool{}
	anchors := runbookAnchors(t)
	camel := regexp.MustCompile(`^Sentinel[A-Z][A-Za-z0-9]+$`)
	for _, a := range List() {
		if names[a.Name] {
			t.Errorf("%s is in the list twice", a.Name)
		}
		names[a.Name] = true
		if !camel.MatchString(a.Name) {
			t.Errorf("%s: not a CamelCase name with the Sentinel prefix", a.Name)
		}
		if !a.Severity.Valid() {
			t.Errorf("%s: severity %q", a.Name, a.Severity)
		}
		if len(a.Summary) == 0 || len(a.Description) == 0 {
			t.Errorf("%s: no summary or description", a.Name)
		}
		if !anchors[a.Runbook] {
			t.Errorf("%s: runbook anchor %q is no section of docs/runbooks.md", a.Name, a.Runbook)
		}
		kinds := 0
		for _, set := range []bool{a.Checks != nil, a.Cause != nil, a.Expr != nil} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			t.Errorf("%s: set exactly one of Checks, Cause and Expr", a.Name)
		}
		if a.Evaluable() && (a.Windows < 1 || a.For != 0) {
			t.Errorf("%s: a check or cause alert counts Windows (%d) and has no For", a.Name, a.Windows)
		}
		if !a.Evaluable() && (a.For <= 0 || a.Windows != 0) {
			t.Errorf("%s: a health alert has a For and no Windows", a.Name)
		}
		for _, m := range a.Checks {
			for _, name := range m.Metrics {
				if !slices.ContainsFunc(cat.Metrics(), func(c check.Metric) bool {
					return c.Kind == m.Kind && c.Scope == m.Scope && c.Name == name && c.Threshold != check.Never
				}) {
					t.Errorf("%s: %s %s is no thresholded metric of the catalogue in that scope", a.Name, m.Kind, name)
				}
			}
		}
		for _, ps := range [][]Part{a.Summary, a.Description} {
			for _, p := range ps {
				if a.Checks == nil && (p.kind == partSubject || p.kind == partThreshold || p.kind == partDirection || p.kind == partHelp) {
					t.Errorf("%s: a part that needs a check metric, in an alert on no check", a.Name)
				}
				if a.Cause == nil && p.kind == partExpected {
					t.Errorf("%s: an expected value, in an alert on no cause", a.Name)
				}
			}
		}
	}
	for _, m := range cat.Metrics() {
		if m.Threshold == check.Never {
			continue
		}
		var by []string
		for _, a := range List() {
			if a.covers(m.Kind, m.Scope, m.Name) {
				by = append(by, a.Name)
			}
		}
		if len(by) != 1 {
			t.Errorf("%s %s (scope %d) is covered by %v, want exactly one alert", m.Kind, m.Name, m.Scope, by)
		}
	}
}

// runbookAnchors returns the anchors of the sections of docs/runbooks.md, as
// GitHub makes them, and checks each section says what the alert means, how
// to confirm it and what to do.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(runbooks)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	sections := strings.Split(string(data), "\n## ")[1:]
	for _, s := range sections {
		title, body, _ := strings.Cut(s, "\n")
		anchor := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(title), " ", "-"))
		out[anchor] = true
		if !strings.Contains(body, "**Means.**") || !(strings.Contains(body, "**Act.**") || strings.Contains(body, "**Confirm and act.**")) {
			t.Errorf("runbook %s: no **Means.** or **Act.**", title)
		}
	}
	return out
}

// TestRulesWithPromtool runs promtool over the generated rules, a fast
// variant of them, and the rule tests, and checks that the tests see every
// alert both firing and staying quiet.
func TestRulesWithPromtool(t *testing.T) {
	tool := promtest.Path(t)
	fast := DefaultOptions()
	fast.Window, fast.TimeScale = 2*time.Second, 1.0/30
	fastRules, err := Rules(fast)
	if err != nil {
		t.Fatal(err)
	}
	fastFile := filepath.Join(t.TempDir(), "fast.rules.yml")
	if err := os.WriteFile(fastFile, fastRules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := filepath.Glob(filepath.Join(testsDir, "*.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests in %s: %v", testsDir, err)
	}
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		{"check", "rules", fastFile},
		append([]string{"test", "rules"}, tests...),
	} {
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args[:2], " "), err, out)
		}
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, path := range tests {
		var f struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string           `yaml:"alertname"`
					ExpAlerts []map[string]any `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, tc := range f.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	for _, a := range List() {
		if !firing[a.Name] || !quiet[a.Name] {
			t.Errorf("%s: the rule tests see it firing %v and quiet %v; want both", a.Name, firing[a.Name], quiet[a.Name])
		}
	}
}

// recordingRegisterer registers into a registry and keeps the names of every
// series described, samples or not: a rule may name a series that only
// incidents fill (anomaly causes).
type recordingRegisterer struct {
	*prometheus.Registry
	names map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return r.Registry.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// elsewhere are series the rules name that no pipeline registers: Kafka's
// and the store's, which need servers to be built, and Prometheus' own. Each
// is checked against the source that registers it.
var elsewhere = map[string]string{
	"up":                                 "",
	"sentinel_ingest_lag":                "../daemon/metrics.go",
	"sentinel_partitions_unreported":     "../daemon/metrics.go",
	"sentinel_store_write_retries_total": "../store/clickhouse.go",
	"sentinel_store_rows_written_total":  "../store/clickhouse.go",
}

// TestRulesNameOnlyPublishedSeries: every series a rule or an annotation names
// is in the registry of a pipeline that has replayed the example's two hours
// (with its incident, so that anomalies are flagged), or registered by the
// source listed in elsewhere, or the contracts' severities.
func TestRulesNameOnlyPublishedSeries(t *testing.T) {
	reg := &recordingRegisterer{Registry: prometheus.NewRegistry(), names: map[string]bool{}}
	sev, err := NewSeverities([]ModelSeverity{{Model: "fraud", Severity: Critical}})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(sev)
	m := modeltest.Example(t, "../../examples/fraud")
	p, err := pipeline.New(pipeline.Options{Models: []*model.Model{m}, Window: 5 * time.Minute, ReferencePeriod: time.Hour,
		MinSamples: 100, MaxMessageBytes: 4096, Writer: store.NewMemory(), EventTime: true, ReplayTick: 5 * time.Minute,
		Labels:     &labels.JoinerConfig{MaxDelay: time.Hour, MaxPending: 10000},
		Anomaly:    &analyze.AnomalyOptions{FitAfter: 10, HistoryWindows: 100, FalseAlarmRate: 0.002},
		Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	src, err := ingest.NewFileSource(ingest.FileSourceOptions{Path: "../../examples/fraud/events.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := pipeline.Replay(context.Background(), src, p); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, f := range families {
		exposed[f.GetName()] = true
	}
	// The incident of the second hour is flagged: the causes are exposed, not
	// only described.
	for _, name := range []string{"sentinel_check_threshold", "sentinel_anomaly_cause_actual", "sentinel_checks_skipped_total"} {
		if !exposed[name] {
			t.Errorf("%s: not exposed after the replay", name)
		}
	}
	rules, err := Rules(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile(`\b(sentinel_[a-z0-9_]+|up)\b`).FindAllString(string(rules), -1)
	if len(named) == 0 {
		t.Fatal("the rules name no series")
	}
	for _, name := range slices.Sorted(maps.Keys(setOf(named))) {
		if reg.names[name] {
			continue
		}
		src, ok := elsewhere[name]
		if !ok {
			t.Errorf("the rules name %s, which a pipeline that processed events does not register", name)
			continue
		}
		if src == "" {
			continue
		}
		code, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(code, []byte(`"`+name+`"`)) {
			t.Errorf("%s is not registered in %s", name, src)
		}
	}
}

func setOf(xs []string) map[string]bool {
	out := map[string]bool{}
	for _, x := range xs {
		out[x] = true
	}
	return out
}
