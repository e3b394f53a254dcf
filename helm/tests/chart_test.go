package sentinelchart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestLint(t *testing.T) {
	fixture := fixtureChart(t)
	cases := []struct {
		name, chart string
		args        []string
	}{
		{"defaults", chartDir, nil},
		{"every toggle", fixture, []string{"-f", "testdata/values/all-toggles.good.yaml"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := lintOutput(t, c.chart, c.args...)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint:\n%s", out)
			}
		})
	}
}

func TestRenderDefaults(t *testing.T) {
	m := mustRender(t, chartDir)
	want := []string{
		"PodDisruptionBudget/sen-sentinel", "ServiceAccount/sen-sentinel", "ConfigMap/sen-sentinel",
		"Service/sen-sentinel", "Deployment/sen-sentinel",
	}
	if !slices.Equal(m.kinds, want) {
		t.Errorf("rendered %v, want %v", m.kinds, want)
	}
	checkInvariants(t, m)
	d := m.deployments[0]
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "ghcr.io/sentinel-ml/sentinel:"+chartAppVersion(t) {
		t.Errorf("image %s, want ghcr.io/sentinel-ml/sentinel at the chart's appVersion", got)
	}
	// The defaults are a working minimal configuration: the daemon's own
	// defaults fill what values leave out.
	cfg := sentinelYAML(t, m)
	for _, key := range []string{"kafka.brokers", "kafka.topics.events", "kafka.topics.dead_letters", "clickhouse.dsn_from.file", "models", "listen.http", "shutdown_timeout"} {
		if lookup(cfg, key) == nil {
			t.Errorf("sentinel.yaml lacks %s:\n%s", key, m.configMap(t, "sen-sentinel").Data["sentinel.yaml"])
		}
	}
}

func TestRenderEveryToggle(t *testing.T) {
	m := mustRender(t, fixtureChart(t), "-f", "testdata/values/all-toggles.good.yaml")
	want := []string{
		"PodDisruptionBudget/sen-sentinel-ml", "ServiceAccount/sentinel-sa", "ConfigMap/sen-sentinel-ml",
		"ConfigMap/sen-sentinel-ml-dashboard-sentinel-models", "ConfigMap/sen-sentinel-ml-dashboard-sentinel-ingest",
		"Service/sen-sentinel-ml", "Deployment/sen-sentinel-ml",
		"PrometheusRule/sen-sentinel-ml", "ServiceMonitor/sen-sentinel-ml",
	}
	if !slices.Equal(m.kinds, want) {
		t.Errorf("rendered %v, want %v", m.kinds, want)
	}
	checkInvariants(t, m)
	d := m.deployments[0]
	c := d.Spec.Template.Spec.Containers[0]
	if want := "registry.example.com/sentinel@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; c.Image != want {
		t.Errorf("image %s, want the digest to win over the tag: %s", c.Image, want)
	}
	if got := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 120 {
		t.Errorf("terminationGracePeriodSeconds %d, want the value's 120", got)
	}
	cfg := sentinelYAML(t, m)
	for key, want := range map[string]any{
		"kafka.sasl.password.file": "/etc/sentinel/secrets/kafka-password/value",
		"kafka.tls.ca_file":        "/etc/sentinel/secrets/kafka-tls/ca.crt",
		"kafka.tls.cert_file":      "/etc/sentinel/secrets/kafka-tls/tls.crt",
		"kafka.tls.key_file":       "/etc/sentinel/secrets/kafka-tls/tls.key",
		"kafka.tls.server_name":    "kafka.example.com",
		"kafka.max_message_bytes":  float64(2097152),
		"labels.max_pending":       float64(2000000),
		"keyed_skew.tolerance":     1e-6,
		"listen.http":              ":8080",
	} {
		if got := lookup(cfg, key); got != want {
			t.Errorf("sentinel.yaml %s = %v (%T), want %v", key, got, got, want)
		}
	}
	if sm := m.serviceMonitors[0]; sm.Labels["release"] != "kube-prometheus-stack" || len(sm.Spec.Endpoints[0].MetricRelabelConfigs) != 1 {
		t.Errorf("ServiceMonitor lacks the values' labels or relabelings: %+v", sm)
	}
}

// TestValuesFiles renders every testdata/values file: *.good.yaml must render
// into objects that decode strictly and hold the invariants; *.bad.yaml must
// fail helm template with every message its "# error:" lines give, and helm
// lint must show them.
func TestValuesFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/values/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no values files: %v", err)
	}
	chart := fixtureChart(t)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			switch {
			case strings.HasSuffix(name, ".good.yaml"):
				checkInvariants(t, mustRender(t, chart, "-f", f))
			case strings.HasSuffix(name, ".bad.yaml"):
				want := expectedErrors(t, f)
				if len(want) == 0 {
					t.Fatalf("%s has no \"# error:\" line", f)
				}
				out, err := template(t, chart, "-f", f)
				if err == nil {
					t.Fatalf("helm template accepted %s:\n%s", f, out)
				}
				// helm lint turns a template's fail into an [INFO] line and
				// passes; schema violations fail it.
				lint, lintErr := lintOutput(t, chart, "-f", f)
				schema := strings.Contains(err.Error(), "don't meet the specifications of the schema")
				if schema && lintErr == nil {
					t.Errorf("helm lint accepted %s:\n%s", f, lint)
				}
				for _, w := range want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("helm template's error lacks %q:\n%v", w, err)
					}
					if !strings.Contains(lint, w) {
						t.Errorf("helm lint's output lacks %q:\n%s", w, lint)
					}
				}
			default:
				t.Fatalf("%s: name it *.good.yaml or *.bad.yaml", f)
			}
		})
	}
}

// expectedErrors reads the "# error: …" lines at the top of a bad values file.
func expectedErrors(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if w, ok := strings.CutPrefix(s.Text(), "# error: "); ok {
			want = append(want, w)
		}
	}
	return want
}

// TestStrictDecoding shows that the decoding the other tests rely on refuses
// what the API server would: a misspelled field, a field at the wrong level,
// and a kind the chart is not known to render.
func TestStrictDecoding(t *testing.T) {
	cases := map[string]string{
		"misspelled field": `apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replica: 1
`,
		"wrong level": `apiVersion: v1
kind: Service
metadata: {name: x}
ports: [{port: 80}]
`,
		"unknown monitoring field": `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: x}
spec:
  endpoints: [{port: http, intervall: 30s}]
`,
		"unexpected kind": `apiVersion: v1
kind: Secret
metadata: {name: x}
`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeManifests("---\n" + doc); err == nil {
				t.Errorf("decoded without error:\n%s", doc)
			}
		})
	}
	if _, err := decodeManifests("---\n# Source: x\n---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\n"); err != nil {
		t.Errorf("a valid Service and an empty document: %v", err)
	}
}

// TestChecksumRollsPods: the pod template's checksums change with
// sentinel.yaml, a contract or the chart's baselines, and with nothing else,
// so that a config change rolls the pods and an unrelated one does not.
func TestChecksumRollsPods(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// --set-file, since --set reads braces and commas as lists.
	files := []string{"--set", "baselines.existingConfigMap=", "--set-file", "baselines.files.fraud\\.json=" + file("b1.json", "{}")}
	annotations := func(args ...string) map[string]string {
		return mustRender(t, chartDir, append(slices.Clone(files), args...)...).deployments[0].Spec.Template.Annotations
	}
	base := annotations()
	for _, key := range []string{"checksum/config", "checksum/baselines"} {
		if len(base[key]) != 64 {
			t.Fatalf("%s = %q, want a sha256", key, base[key])
		}
	}
	cases := []struct {
		name    string
		args    []string
		changed []string
	}{
		{"window size", []string{"--set", "config.windows.size=2m"}, []string{"checksum/config"}},
		{"contract", []string{"--set", "models[0].name=fraud", "--set-file", "models[0].contract=" + file("c.yaml", "model: fraud\nseasonality: 12h\n")}, []string{"checksum/config"}},
		{"secrets as env", []string{"--set", "secrets.mountAs=env"}, []string{"checksum/config"}},
		{"baseline", []string{"--set-file", "baselines.files.fraud\\.json=" + file("b2.json", `{"v": 2}`)}, []string{"checksum/baselines"}},
		{"secret key", []string{"--set", "secrets.clickhouseDSN.key=url"}, nil},
		{"pod label", []string{"--set", "podLabels.team=ml"}, nil},
		{"resources", []string{"--set", "resources.requests.cpu=1"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := annotations(c.args...)
			for _, key := range []string{"checksum/config", "checksum/baselines"} {
				if changed := got[key] != base[key]; changed != slices.Contains(c.changed, key) {
					t.Errorf("%s changed: %v, want %v", key, changed, !changed)
				}
			}
		})
	}
}

func TestReplicas(t *testing.T) {
	cases := []struct {
		args     []string
		replicas int32
		strategy string
	}{
		{nil, 1, "Recreate"},
		{[]string{"--set", "replicas=0"}, 0, "Recreate"},
		{[]string{"--set", "replicas=3", "--set", "config.kafka.topics.partials=sentinel-partials",
			"--set", "config.kafka.partials.partitions=12"}, 3, "RollingUpdate"},
	}
	for _, c := range cases {
		d := mustRender(t, chartDir, c.args...).deployments[0]
		if *d.Spec.Replicas != c.replicas || string(d.Spec.Strategy.Type) != c.strategy {
			t.Errorf("%v: %d replicas, %s; want %d, %s", c.args, *d.Spec.Replicas, d.Spec.Strategy.Type, c.replicas, c.strategy)
		}
	}
	_, err := template(t, chartDir, "--set", "replicas=2")
	if err == nil || !strings.Contains(err.Error(), "replicas: 2: more than one replica needs config.kafka.topics.partials") {
		t.Errorf("replicas=2: %v", err)
	}
}

// TestGracePeriod: the pod's grace period follows config.shutdown_timeout,
// read as Go reads a duration.
func TestGracePeriod(t *testing.T) {
	for timeout, want := range map[string]int64{
		"30s": 45, "1m30s": 105, "1.5m": 105, "500ms": 16, "2h": 7215, "1h0m0.5s": 3616, "90000ms": 105,
	} {
		d := mustRender(t, chartDir, "--set", "config.shutdown_timeout="+timeout).deployments[0]
		if got := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; got != want {
			t.Errorf("shutdown_timeout %s: grace period %d, want %d", timeout, got, want)
		}
	}
}

// TestBaselinesConfigMapLimit: baselines in values may fill a ConfigMap's
// 1 MiB (keys and values) and not one byte more.
func TestBaselinesConfigMapLimit(t *testing.T) {
	const limit, key = 1 << 20, "fraud.json"
	for _, size := range []int{limit - len(key), limit - len(key) + 1} {
		p := filepath.Join(t.TempDir(), "baseline.json")
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), size), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := template(t, chartDir, "--set", "baselines.existingConfigMap=", "--set-file", "baselines.files.fraud\\.json="+p)
		fits := size+len(key) <= limit
		if fits && err != nil {
			t.Errorf("%d bytes in all: %v", size+len(key), err)
		}
		if !fits && (err == nil || !strings.Contains(err.Error(), "past a ConfigMap's 1 MiB")) {
			t.Errorf("%d bytes in all: %v, want the 1 MiB error", size+len(key), err)
		}
	}
}

// TestRulesAndDashboardsFromChartFiles: the PrometheusRule is the chart's
// rules file and each dashboard ConfigMap holds its file byte for byte, with
// the sidecar's label; Prometheus' and Grafana's own templates pass through.
func TestRulesAndDashboardsFromChartFiles(t *testing.T) {
	chart := fixtureChart(t)
	rules := renderedRules(t, chart)
	want, err := os.ReadFile("testdata/fixture/sentinel.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, err := yaml.YAMLToJSON(want)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, rules, wantJSON) {
		t.Errorf("PrometheusRule spec\n%s\nwant the rules file\n%s", rules, wantJSON)
	}
	if !bytes.Contains(rules, []byte("{{ $labels.model }}")) {
		t.Errorf("the rules' Prometheus templates did not pass through Helm untouched:\n%s", rules)
	}
	dashboards := renderedDashboards(t, chart, "--set", "dashboards.namespace=grafana")
	if len(dashboards) != 2 {
		t.Fatalf("%d dashboards, want 2", len(dashboards))
	}
	for file, content := range dashboards {
		want, err := os.ReadFile(filepath.Join("testdata/fixture/dashboards", file))
		if err != nil {
			t.Fatalf("rendered dashboard %s is no fixture: %v", file, err)
		}
		if content != string(want) {
			t.Errorf("dashboard %s differs from its file:\n%s\nwant\n%s", file, content, want)
		}
	}
	for _, cm := range mustRender(t, chart, "--set", "dashboards.enabled=true", "--set", "dashboards.namespace=grafana").configMaps {
		if _, ok := cm.Labels["grafana_dashboard"]; !ok {
			continue
		}
		if cm.Labels["grafana_dashboard"] != "1" || cm.Namespace != "grafana" {
			t.Errorf("dashboard ConfigMap %s: label %q in %s, want \"1\" in grafana", cm.Name, cm.Labels["grafana_dashboard"], cm.Namespace)
		}
	}
}

// renderedRules renders chart with the PrometheusRule on and returns its spec
// as JSON, to compare with the rules file it came from.
func renderedRules(t *testing.T, chart string) []byte {
	t.Helper()
	m := mustRender(t, chart, "--set", "prometheusRule.enabled=true")
	if len(m.prometheusRules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(m.prometheusRules))
	}
	b, err := json.Marshal(m.prometheusRules[0].Spec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// renderedDashboards renders chart with the dashboards on and returns each
// dashboard's file name and content.
func renderedDashboards(t *testing.T, chart string, args ...string) map[string]string {
	t.Helper()
	m := mustRender(t, chart, append([]string{"--set", "dashboards.enabled=true"}, args...)...)
	out := map[string]string{}
	for _, cm := range m.configMaps {
		if _, ok := cm.Labels["grafana_dashboard"]; !ok {
			continue
		}
		if len(cm.Data) != 1 {
			t.Errorf("dashboard ConfigMap %s holds %d files, want 1", cm.Name, len(cm.Data))
		}
		for file, content := range cm.Data {
			out[file] = content
		}
	}
	return out
}

// jsonEqual compares two JSON documents as values.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

// TestMissingChartFiles: turning the rules or the dashboards on without their
// files in the chart fails and says which files, rather than rendering nothing.
func TestMissingChartFiles(t *testing.T) {
	chart := copyChart(t, nil, "files")
	for toggle, want := range map[string]string{
		"prometheusRule.enabled": "the chart has no files/sentinel.rules.yml",
		"dashboards.enabled":     "the chart has no files/dashboards/*.json",
	} {
		_, err := template(t, chart, "--set", toggle+"=true")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s without files: %v, want %q", toggle, err, want)
		}
	}
}

// TestDefaultContractIsTheExample: the chart's default model is
// examples/fraud's contract, verbatim.
func TestDefaultContractIsTheExample(t *testing.T) {
	values := chartValues(t)
	want, err := os.ReadFile(filepath.Join(repoRoot, "examples/fraud/contract.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := values.Models[0].Contract; got != string(want) {
		t.Errorf("values.yaml models[0].contract differs from examples/fraud/contract.yaml:\n%s", got)
	}
}

type chartValuesFile struct {
	Models []struct {
		Name, Contract, Baseline string
	} `json:"models"`
}

func chartValues(t *testing.T) chartValuesFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v chartValuesFile
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.AppVersion
}

// lookup returns the value at a dotted path of a decoded YAML document, or nil.
func lookup(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
