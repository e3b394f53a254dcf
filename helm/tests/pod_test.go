package sentinelchart

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestPodChecksItsConfig lays out the files a rendered pod would see (the
// chart's ConfigMaps, the Secrets' items, baselines in the volumes the chart
// cannot fill), sets its environment as the kubelet would, and runs the
// image's binary with the container's own arguments plus --check-config: the
// daemon must accept sentinel.yaml, load every contract and baseline it names
// and resolve every secret, as it does before it connects to anything.
func TestPodChecksItsConfig(t *testing.T) {
	bin := buildAsDockerfile(t)
	baseline := filepath.Join(t.TempDir(), "fraud.json")
	makeBaseline(t, bin, filepath.Join(repoRoot, "examples/fraud/contract.yaml"), baseline)
	chart := fixtureChart(t)
	cases := []struct {
		name   string
		args   []string
		models int
	}{
		{"defaults", nil, 1},
		{"every toggle", []string{"-f", "testdata/values/all-toggles.good.yaml"}, 1},
		{"secrets as env", []string{"-f", "testdata/values/secrets-as-env.good.yaml"}, 1},
		{"baselines in a volume", []string{"-f", "testdata/values/baselines-volume.good.yaml"}, 1},
		{"two models", []string{"-f", "testdata/values/two-models.good.yaml"}, 2},
		{"baselines in values", []string{"--set", "baselines.existingConfigMap=", "--set-file", "baselines.files.fraud\\.json=" + baseline}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustRender(t, chart, c.args...)
			root := t.TempDir()
			args, env := layOutPod(t, m, root, bin)
			cmd := exec.Command(bin, append(args, "--check-config")...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("sentinel %s --check-config: %v\n%s", strings.Join(args, " "), err, out)
			}
			if want := fmt.Sprintf(": ok (%d models)", c.models); !strings.Contains(string(out), want) {
				t.Errorf("sentinel --check-config: %s, want %q", out, want)
			}
		})
	}
}

// layOutPod writes under root the files the pod's container would see and
// returns its arguments, with paths moved under root, and its environment.
func layOutPod(t *testing.T, m *manifests, root, bin string) ([]string, []string) {
	t.Helper()
	pod := m.deployments[0].Spec.Template.Spec
	c := pod.Containers[0]
	pair := newTestTLS(t)
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	rendered := map[string]*corev1.ConfigMap{}
	for _, cm := range m.configMaps {
		rendered[cm.Name] = cm
	}
	// The chart mounts everything under /etc/sentinel; sentinel.yaml names
	// the secrets' files there by absolute path.
	rebase := func(s string) string { return strings.ReplaceAll(s, "/etc/sentinel/", root+"/etc/sentinel/") }
	for _, mount := range c.VolumeMounts {
		dir := filepath.Join(root, mount.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		v := volumes[mount.Name]
		switch {
		case v.ConfigMap != nil && rendered[v.ConfigMap.Name] != nil:
			for key, content := range rendered[v.ConfigMap.Name].Data {
				if key == "sentinel.yaml" {
					content = rebase(content)
				}
				writeFile(t, filepath.Join(dir, key), content)
			}
		case v.Secret != nil:
			for _, item := range v.Secret.Items {
				writeFile(t, filepath.Join(dir, item.Path), secretValue(pair, mount.Name, v.Secret.SecretName, item.Key))
			}
		}
	}
	var args []string
	configPath := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			configPath = v
			a = "--config=" + filepath.Join(root, v)
		}
		args = append(args, a)
	}
	// Baselines in volumes the chart does not fill (an existing ConfigMap, a
	// claim) are made from the example's training data with each contract.
	var cfg struct {
		Models []struct{ Contract, Baseline string }
	}
	b, err := os.ReadFile(filepath.Join(root, configPath))
	if err != nil {
		t.Fatalf("the container's --config: %v", err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	dir := path.Dir(configPath)
	files := podFiles(t, m)
	for _, model := range cfg.Models {
		inPod := path.Join(dir, model.Baseline)
		out := filepath.Join(root, inPod)
		if _, err := os.Stat(out); err == nil {
			continue
		}
		if files.lookup(inPod) != fileFromVolume {
			t.Fatalf("baseline %s is neither in the chart's files nor in a volume of baselines", inPod)
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		makeBaseline(t, bin, filepath.Join(root, path.Join(dir, model.Contract)), out)
	}
	env := []string{"PATH=/usr/bin:/bin"}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.SecretKeyRef != nil:
			what := ""
			if e.Name == "SENTINEL_CLICKHOUSE_DSN" {
				what = "clickhouse-dsn"
			}
			env = append(env, e.Name+"="+strings.TrimSuffix(secretValue(pair, what, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key), "\n"))
		case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			lim := c.Resources.Limits[corev1.ResourceMemory]
			env = append(env, fmt.Sprintf("%s=%d", e.Name, lim.Value()))
		default:
			t.Fatalf("env %s: a source this test does not know: %+v", e.Name, e.ValueFrom)
		}
	}
	return args, env
}

// secretValue is what a Secret's item holds in the pod, by what it is
// (the volume's name): --check-config parses the DSN and loads the TLS files,
// so they must be of their kind; a password may be any text.
func secretValue(pair testTLSPair, what, secret, key string) string {
	switch {
	case what == "clickhouse-dsn":
		return "clickhouse://sentinel:secret-" + secret + "@clickhouse.example:9000/sentinel\n"
	case what == "kafka-tls" && strings.HasSuffix(key, ".key"):
		return pair.key
	case what == "kafka-tls":
		return pair.cert
	}
	return "secret " + secret + "/" + key + "\n"
}

// testTLSPair is a self-signed certificate and its key, PEM-encoded: the CA,
// client certificate and key a pod's kafka-tls Secret holds.
type testTLSPair struct{ cert, key string }

func newTestTLS(t *testing.T) testTLSPair {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sentinel-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testTLSPair{cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		key: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))}
}

// makeBaseline profiles the example's training data with a contract.
func makeBaseline(t *testing.T, bin, contract, out string) {
	t.Helper()
	cmd := exec.Command(bin, "baseline", "--contract", contract, "--input", filepath.Join(repoRoot, "examples/fraud/train.csv"), "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sentinel baseline --contract %s: %v\n%s", contract, err, b)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
