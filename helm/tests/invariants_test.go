package sentinelchart

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// checkInvariants holds every render to what the chart promises whatever the
// values: a hardened pod, probes on the daemon's port, a grace period past the
// drain, mounts that hold what sentinel.yaml names, credentials only from
// Secrets, selectors that select, and one instance unless the distributed mode
// is on.
func checkInvariants(t *testing.T, m *manifests) {
	t.Helper()
	if len(m.deployments) != 1 || len(m.services) != 1 {
		t.Fatalf("rendered %v, want one Deployment and one Service", m.kinds)
	}
	d := m.deployments[0]
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	cfg := sentinelYAML(t, m)

	// Hardened: non-root, read-only root, no capabilities, RuntimeDefault seccomp.
	psc, sc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || sc == nil:
		t.Errorf("pod or container without securityContext")
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0:
		t.Errorf("pod may run as root: %+v", psc)
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("pod seccomp profile %+v, want RuntimeDefault", psc.SeccompProfile)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("container root file system is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("container allows privilege escalation")
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
		t.Errorf("container capabilities %+v, want ALL dropped and none added", sc.Capabilities)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("the pod mounts a service account token; Sentinel never calls the API")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("container without cpu and memory requests: %+v", c.Resources)
	}

	// Probes on the port sentinel.yaml listens on.
	_, port, _ := strings.Cut(lookup(cfg, "listen.http").(string), ":")
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || strconv.Itoa(int(c.Ports[0].ContainerPort)) != port {
		t.Errorf("container ports %+v, want http on listen.http's %s", c.Ports, port)
	}
	for name, p := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{"startup": {c.StartupProbe, "/healthz"}, "liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v, want GET %s on http", name, p.probe, p.path)
		}
	}

	// The kubelet waits longer than the drain may take.
	shutdown := 30 * time.Second
	if s, ok := lookup(cfg, "shutdown_timeout").(string); ok {
		var err error
		if shutdown, err = time.ParseDuration(s); err != nil {
			t.Errorf("shutdown_timeout %q: %v", s, err)
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %v is not past shutdown_timeout %s", g, shutdown)
	}

	// One instance, replaced only after it drained; or, with the partials
	// topic and its partitions, replicas in two stages, rolled.
	scaled := lookup(cfg, "kafka.topics.partials") != nil && lookup(cfg, "kafka.partials.partitions") != nil
	switch {
	case d.Spec.Replicas == nil:
		t.Errorf("no replicas set")
	case scaled && d.Spec.Strategy.Type != "RollingUpdate":
		t.Errorf("scaled out, strategy %s; want RollingUpdate", d.Spec.Strategy.Type)
	case !scaled && (*d.Spec.Replicas > 1 || d.Spec.Strategy.Type != "Recreate"):
		t.Errorf("%d replicas, strategy %s; want at most 1, Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}

	// Every file sentinel.yaml names is in a mount: the contracts beside it,
	// the baselines in theirs, the secrets in theirs or the environment.
	files := podFiles(t, m)
	configPath := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			configPath = v
		}
	}
	if files.lookup(configPath) != fileFromConfigMap {
		t.Errorf("--config=%q is not a file of the config ConfigMap (pod files: %v)", configPath, files)
	}
	dir := path.Dir(configPath)
	models, _ := lookup(cfg, "models").([]any)
	if len(models) == 0 {
		t.Errorf("sentinel.yaml has no models")
	}
	for i, mv := range models {
		model, _ := mv.(map[string]any)
		for _, key := range []string{"contract", "baseline"} {
			p, _ := model[key].(string)
			if files.lookup(path.Join(dir, p)) == fileAbsent {
				t.Errorf("models[%d].%s %q is in no mount (pod files: %v)", i, key, p, files)
			}
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, key := range []string{"clickhouse.dsn_from", "kafka.sasl.password"} {
		ref, ok := lookup(cfg, key).(map[string]any)
		if !ok {
			if key == "clickhouse.dsn_from" {
				t.Errorf("sentinel.yaml lacks %s", key)
			}
			continue
		}
		if f, ok := ref["file"].(string); ok && files.lookup(f) != fileFromSecret {
			t.Errorf("%s.file %q is not a file of a mounted Secret", key, f)
		}
		if name, ok := ref["env"].(string); ok {
			if e := env[name]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s.env %q is not set from a Secret: %+v", key, name, e)
			}
		}
	}
	for _, key := range []string{"kafka.tls.ca_file", "kafka.tls.cert_file", "kafka.tls.key_file"} {
		if f, ok := lookup(cfg, key).(string); ok && strings.HasPrefix(f, "/etc/sentinel/") && files.lookup(f) != fileFromSecret {
			t.Errorf("%s %q is not a file of a mounted Secret", key, f)
		}
	}
	if lookup(cfg, "clickhouse.dsn") != nil {
		t.Errorf("sentinel.yaml holds a DSN in clear")
	}

	// Selectors select: the Service, the PDB and the ServiceMonitor find the pods.
	podLabels := labels.Set(d.Spec.Template.Labels)
	if sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels); !sel.Matches(podLabels) {
		t.Errorf("the Deployment's selector does not match its pods")
	}
	svc := m.services[0]
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service selector %v does not match the pods %v", svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" || strconv.Itoa(int(svc.Spec.Ports[0].Port)) != port {
		t.Errorf("Service ports %+v, want %s to the pods' http", svc.Spec.Ports, port)
	}
	for _, pdb := range m.pdbs {
		if !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
			t.Errorf("PodDisruptionBudget selector does not match the pods")
		}
	}
	for _, sm := range m.serviceMonitors {
		if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
			t.Errorf("ServiceMonitor selector does not match the Service")
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v, want /metrics on the Service's port", sm.Spec.Endpoints)
		}
	}

	// Everything in the release's namespace but the dashboards, which go where
	// Grafana's sidecar looks.
	for _, cm := range m.configMaps {
		if _, dashboard := cm.Labels["grafana_dashboard"]; !dashboard && cm.Namespace != namespace {
			t.Errorf("ConfigMap %s in namespace %q, want %q", cm.Name, cm.Namespace, namespace)
		}
	}
	for _, o := range []interface{ GetNamespace() string }{d, svc} {
		if o.GetNamespace() != namespace {
			t.Errorf("%T in namespace %q, want %q", o, o.GetNamespace(), namespace)
		}
	}
}

// sentinelYAML decodes the sentinel.yaml the chart rendered.
func sentinelYAML(t *testing.T, m *manifests) map[string]any {
	t.Helper()
	name := m.deployments[0].Name
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(m.configMap(t, name).Data["sentinel.yaml"]), &cfg); err != nil {
		t.Fatalf("sentinel.yaml: %v", err)
	}
	return cfg
}

func (m *manifests) configMap(t *testing.T, name string) *corev1.ConfigMap {
	t.Helper()
	for _, cm := range m.configMaps {
		if cm.Name == name {
			return cm
		}
	}
	t.Fatalf("no ConfigMap %s in %v", name, m.kinds)
	return nil
}

// fileSource says where a file in the pod comes from.
type fileSource int

const (
	fileAbsent fileSource = iota
	fileFromConfigMap
	fileFromSecret
	// fileFromVolume: a file in a volume whose content the chart cannot know
	// (an existing ConfigMap, a PersistentVolumeClaim…): any path under it.
	fileFromVolume
)

// podFiles lists the files the container sees through the chart's mounts
// (extraVolumes aside): the keys of the chart's ConfigMaps, the items of the
// Secrets, and the directories of volumes whose content is outside the chart.
// Looking a path up in it gives its source.
type podFileSet map[string]fileSource

func podFiles(t *testing.T, m *manifests) podFileSet {
	t.Helper()
	pod := m.deployments[0].Spec.Template.Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	rendered := map[string]*corev1.ConfigMap{}
	for _, cm := range m.configMaps {
		rendered[cm.Name] = cm
	}
	files := podFileSet{}
	for _, mount := range pod.Containers[0].VolumeMounts {
		v, ok := volumes[mount.Name]
		if !ok {
			t.Errorf("volumeMount %s names no volume", mount.Name)
			continue
		}
		switch {
		case v.ConfigMap != nil && rendered[v.ConfigMap.Name] != nil:
			for key := range rendered[v.ConfigMap.Name].Data {
				files[path.Join(mount.MountPath, key)] = fileFromConfigMap
			}
		case v.Secret != nil:
			if len(v.Secret.Items) == 0 {
				files[mount.MountPath+"/"] = fileFromSecret
			}
			for _, item := range v.Secret.Items {
				files[path.Join(mount.MountPath, item.Path)] = fileFromSecret
			}
		default:
			files[mount.MountPath+"/"] = fileFromVolume
		}
	}
	return files
}

// Lookups fall back to the volume that holds the path's directory.
func (f podFileSet) lookup(p string) fileSource {
	if s, ok := f[p]; ok {
		return s
	}
	for dir := path.Dir(p); dir != "/" && dir != "."; dir = path.Dir(dir) {
		if s, ok := f[dir+"/"]; ok {
			return s
		}
	}
	return fileAbsent
}
