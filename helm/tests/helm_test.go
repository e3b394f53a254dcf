// Package sentinelchart tests the Helm chart in helm/sentinel and the image the
// Dockerfile builds. It is a module of its own so that the Kubernetes,
// prometheus-operator, buildkit and go-containerregistry types it decodes into
// stay out of the daemon's go.mod.
package sentinelchart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	// chartDir is the chart under test, from this module's directory.
	chartDir = "../sentinel"
	// repoRoot is the daemon's module.
	repoRoot = "../.."
	release  = "sen"
	// namespace is not "default", so that a template that forgets the
	// release's namespace shows.
	namespace = "monitoring"
)

// helmPath returns helm's path: $SENTINEL_HELM (make test sets it, building
// helm with scripts/helm.sh), else helm on $PATH. Without one the test is
// skipped, or fails under CI=true, where make test must have provided it.
func helmPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SENTINEL_HELM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("helm not found: set SENTINEL_HELM or run make test, which builds it (scripts/helm.sh)")
	}
	t.Skip("helm not found; make test builds it (scripts/helm.sh)")
	return ""
}

// helmCommand is helm with args, kept from the user's helm configuration
// (repositories, plugins), which must not change what the tests see.
func helmCommand(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(helmPath(t), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	return cmd
}

// runHelm runs helm with args and returns its standard output, or its
// standard error as the error.
func runHelm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := helmCommand(t, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// lintOutput runs helm lint --strict on chart and returns what it printed,
// standard output and error together, and whether it failed.
func lintOutput(t testing.TB, chart string, args ...string) (string, error) {
	t.Helper()
	cmd := helmCommand(t, append([]string{"lint", "--strict", "--namespace", namespace, chart}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// template renders chart with the given extra helm arguments (-f, --set…).
func template(t testing.TB, chart string, args ...string) (string, error) {
	t.Helper()
	return runHelm(t, append([]string{"template", release, chart, "--namespace", namespace}, args...)...)
}

// mustRender renders chart and decodes every object strictly, failing the test
// on any error.
func mustRender(t testing.TB, chart string, args ...string) *manifests {
	t.Helper()
	out, err := template(t, chart, args...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeManifests(out)
	if err != nil {
		t.Fatalf("decoding the rendered chart: %v\n%s", err, out)
	}
	return m
}

// manifests are the objects a render produced, decoded into their API types.
type manifests struct {
	deployments     []*appsv1.Deployment
	configMaps      []*corev1.ConfigMap
	services        []*corev1.Service
	serviceAccounts []*corev1.ServiceAccount
	pdbs            []*policyv1.PodDisruptionBudget
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
	// kinds lists "Kind/name" in the order rendered.
	kinds []string
}

// decodeManifests splits helm's output into documents and decodes each strictly
// into its Kubernetes type: a field the type lacks (a typo, a wrong indent) is
// an error, and so is a kind the chart is not known to render.
func decodeManifests(out string) (*manifests, error) {
	m := &manifests{}
	r := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("splitting documents: %w", err)
		}
		if isBlankYAML(doc) {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("reading the kind of\n%s: %w", doc, err)
		}
		if err := m.add(tm, doc); err != nil {
			return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
		}
	}
}

func (m *manifests) add(tm metav1.TypeMeta, doc []byte) error {
	var obj metav1.Object
	switch tm.APIVersion + "/" + tm.Kind {
	case "apps/v1/Deployment":
		o := &appsv1.Deployment{}
		m.deployments, obj = append(m.deployments, o), o
	case "v1/ConfigMap":
		o := &corev1.ConfigMap{}
		m.configMaps, obj = append(m.configMaps, o), o
	case "v1/Service":
		o := &corev1.Service{}
		m.services, obj = append(m.services, o), o
	case "v1/ServiceAccount":
		o := &corev1.ServiceAccount{}
		m.serviceAccounts, obj = append(m.serviceAccounts, o), o
	case "policy/v1/PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		m.pdbs, obj = append(m.pdbs, o), o
	case "monitoring.coreos.com/v1/ServiceMonitor":
		o := &monitoringv1.ServiceMonitor{}
		m.serviceMonitors, obj = append(m.serviceMonitors, o), o
	case "monitoring.coreos.com/v1/PrometheusRule":
		o := &monitoringv1.PrometheusRule{}
		m.prometheusRules, obj = append(m.prometheusRules, o), o
	default:
		return errors.New("not a kind the chart renders")
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return fmt.Errorf("strict decoding: %w\n%s", err, doc)
	}
	m.kinds = append(m.kinds, tm.Kind+"/"+obj.GetName())
	return nil
}

// isBlankYAML says whether a document holds only comments and blank lines, as
// helm leaves for a template that renders nothing.
func isBlankYAML(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// copyChart copies the chart to a temporary directory and adds the files
// under extra (relative to the chart), so that a test can render it with
// chart files (rules, dashboards) the repository does not ship, or without
// those it does.
func copyChart(t testing.TB, extra map[string]string, remove ...string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "sentinel")
	err := filepath.WalkDir(chartDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(chartDir, path)
		if err != nil {
			return err
		}
		for _, r := range remove {
			if rel == r || strings.HasPrefix(rel, r+string(filepath.Separator)) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copying the chart: %v", err)
	}
	for rel, src := range extra {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// fixtureChart is the chart with the test's stand-ins for the alert rules and
// the dashboards, which the lead generates into the chart later; every toggle
// of the chart renders from it.
func fixtureChart(t testing.TB) string {
	t.Helper()
	return copyChart(t, map[string]string{
		"files/sentinel.rules.yml":              "testdata/fixture/sentinel.rules.yml",
		"files/dashboards/sentinel-models.json": "testdata/fixture/dashboards/sentinel-models.json",
		"files/dashboards/sentinel_ingest.json": "testdata/fixture/dashboards/sentinel_ingest.json",
	}, "files")
}
