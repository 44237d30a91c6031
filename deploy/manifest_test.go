package deploy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/vem-switch/vem/agent"
)

const manifestPath = "kubernetes/vem-agent-daemonset.yaml"

// manifest decodes the DaemonSet file strictly: every field must be one
// of the Kubernetes API types' (sigs.k8s.io/yaml's UnmarshalStrict refuses
// unknown and duplicate fields), every document of a known kind.
func manifest(t *testing.T) (*appsv1.DaemonSet, *corev1.ConfigMap) {
	t.Helper()
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	ds, cm, err := decodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	return ds, cm
}

func decodeManifest(data []byte) (*appsv1.DaemonSet, *corev1.ConfigMap, error) {
	var ds *appsv1.DaemonSet
	var cm *corev1.ConfigMap
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return nil, nil, &docError{i, err}
		}
		var err error
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 DaemonSet":
			ds = &appsv1.DaemonSet{}
			err = yaml.UnmarshalStrict([]byte(doc), ds)
		case "v1 ConfigMap":
			cm = &corev1.ConfigMap{}
			err = yaml.UnmarshalStrict([]byte(doc), cm)
		default:
			err = &kindError{meta.APIVersion, meta.Kind}
		}
		if err != nil {
			return nil, nil, &docError{i, err}
		}
	}
	if ds == nil || cm == nil {
		return nil, nil, errMissing
	}
	return ds, cm, nil
}

type docError struct {
	i   int
	err error
}

func (e *docError) Error() string { return "document " + string(rune('0'+e.i)) + ": " + e.err.Error() }

type kindError struct{ apiVersion, kind string }

func (e *kindError) Error() string { return "unexpected " + e.apiVersion + " " + e.kind }

var errMissing = &kindError{"", "(want one DaemonSet and one ConfigMap)"}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func container(t *testing.T, cs []corev1.Container, name string) *corev1.Container {
	t.Helper()
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

func mount(t *testing.T, c *corev1.Container, path string) corev1.VolumeMount {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m
		}
	}
	t.Fatalf("container %s mounts nothing on %s", c.Name, path)
	return corev1.VolumeMount{}
}

func hostPath(t *testing.T, spec *corev1.PodSpec, volume string) string {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == volume {
			if v.HostPath == nil {
				t.Fatalf("volume %s is not a hostPath", volume)
			}
			return v.HostPath.Path
		}
	}
	t.Fatalf("no volume %s", volume)
	return ""
}

// readinessProbe is the agent container's readiness probe command.
func readinessProbe(t *testing.T) []string {
	t.Helper()
	ds, _ := manifest(t)
	c := container(t, ds.Spec.Template.Spec.Containers, "vem-agent")
	if c.ReadinessProbe == nil || c.ReadinessProbe.Exec == nil {
		t.Fatal("the agent has no exec readiness probe")
	}
	return c.ReadinessProbe.Exec.Command
}

func TestManifestDecodesStrictly(t *testing.T) {
	ds, cm := manifest(t)
	spec := &ds.Spec.Template.Spec
	if !spec.HostNetwork {
		t.Error("hostNetwork is off: the agent must switch the host's interfaces")
	}
	if spec.HostPID {
		t.Error("hostPID is on: nothing needs it")
	}
	if u := ds.Spec.UpdateStrategy; u.Type != appsv1.RollingUpdateDaemonSetStrategyType ||
		u.RollingUpdate == nil || u.RollingUpdate.MaxUnavailable == nil || u.RollingUpdate.MaxUnavailable.IntValue() != 1 {
		t.Errorf("updateStrategy %+v, want RollingUpdate with maxUnavailable 1", u)
	}
	if !slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Operator == corev1.TolerationOpExists && tl.Key == "" && tl.Effect == ""
	}) {
		t.Error("no toleration of every taint (operator: Exists, no key, no effect)")
	}

	agentC := container(t, spec.Containers, "vem-agent")
	// The pins: the host's bpffs, with host mounts propagated in.
	if p := hostPath(t, spec, mount(t, agentC, "/sys/fs/bpf").Name); p != "/sys/fs/bpf" {
		t.Errorf("/sys/fs/bpf is the host's %s", p)
	}
	if m := mount(t, agentC, "/sys/fs/bpf"); m.MountPropagation == nil || *m.MountPropagation != corev1.MountPropagationHostToContainer {
		t.Errorf("bpffs propagation %v, want HostToContainer", m.MountPropagation)
	}
	for path, host := range map[string]string{"/run/vem": "/run/vem", "/var/lib/vem": agent.DefaultStateDir, "/run/libvirt": "/run/libvirt"} {
		if p := hostPath(t, spec, mount(t, agentC, path).Name); p != host {
			t.Errorf("%s is the host's %s, want %s", path, p, host)
		}
	}
	if !slices.Contains(agentC.Command, "/var/lib/vem") || !slices.Contains(agentC.Command, "/etc/vem/vem.yaml") {
		t.Errorf("agent command %v does not name the mounted state dir and file", agentC.Command)
	}
	if agentC.Resources.Requests.Cpu().IsZero() || agentC.Resources.Requests.Memory().IsZero() {
		t.Error("the agent requests no CPU or memory")
	}

	// The capabilities are the unit's.
	sc := agentC.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("the agent container has no capabilities")
	}
	var got, want []string
	for _, c := range sc.Capabilities.Add {
		got = append(got, "CAP_"+string(c))
	}
	want = unitCaps(t)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("container capabilities %v, the unit's %v", got, want)
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("the agent container does not drop the other capabilities")
	}

	// Ready means the engine is current.
	probe := readinessProbe(t)
	if p := strings.Join(probe, " "); !strings.Contains(p, "show module") || !strings.Contains(p, "current") {
		t.Errorf("readiness probe %v does not test the engine's state", probe)
	}
	if agentC.LivenessProbe == nil {
		t.Error("no liveness probe")
	}

	// The hook: installed by an init container from the image into the
	// host's libvirt hooks directory.
	hook := container(t, spec.InitContainers, "install-hook")
	cmd := strings.Join(hook.Command, " ")
	hm := mount(t, hook, "/host/etc/libvirt/hooks")
	if hostPath(t, spec, hm.Name) != "/etc/libvirt/hooks" || !strings.Contains(cmd, "/usr/local/bin/vem-hook") ||
		!strings.Contains(cmd, "/host/etc/libvirt/hooks/qemu") {
		t.Errorf("install-hook does not copy vem-hook to /etc/libvirt/hooks/qemu: %s", cmd)
	}
	// bpffs mounted on the host where it has none: only a Bidirectional
	// mount carries it back, and that needs privileged.
	mb := container(t, spec.InitContainers, "mount-bpffs")
	if m := mount(t, mb, "/sys/fs/bpf"); m.MountPropagation == nil || *m.MountPropagation != corev1.MountPropagationBidirectional ||
		mb.SecurityContext == nil || mb.SecurityContext.Privileged == nil || !*mb.SecurityContext.Privileged {
		t.Error("mount-bpffs needs a privileged container with a Bidirectional mount of /sys/fs/bpf")
	}

	// The ConfigMap's file, rendered for a node, is one the agent accepts.
	data := cm.Data["vem.yaml"]
	for _, ph := range []string{"@NODE_NAME@"} {
		if !strings.Contains(data, ph) {
			t.Errorf("the ConfigMap's vem.yaml has no %s", ph)
		}
	}
	rendered := strings.NewReplacer("@NODE_NAME@", "node-1", "@HOST_IP@", "192.0.2.10").Replace(data)
	path := filepath.Join(t.TempDir(), "vem.yaml")
	if err := os.WriteFile(path, []byte(rendered), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := agent.LoadFile(path)
	if err != nil {
		t.Fatalf("the ConfigMap's file, rendered: %v", err)
	}
	if cfg.Host != "node-1" || cfg.Socket != "/run/vem/default.sock" {
		t.Errorf("rendered file: host %q socket %q", cfg.Host, cfg.Socket)
	}
	if env := envValue(agentC, "VEM_SOCKET"); env != cfg.Socket {
		t.Errorf("VEM_SOCKET %q, the file's socket %q", env, cfg.Socket)
	}
}

func envValue(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestManifestStrictDecodingRejects: the decoding is strict enough that
// a misspelt field, a field in the wrong place or a wrong type fails.
func TestManifestStrictDecodingRejects(t *testing.T) {
	good, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := decodeManifest(good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"misspelt field", "hostNetwork: true", "hostNetwrok: true"},
		{"wrong type", "hostNetwork: true", "hostNetwork: yes please"},
		{"unknown propagation field", "mountPropagation: HostToContainer}", "mountPropagation: HostToContainer, propagate: true}"},
		{"duplicate field", "hostPID: false", "hostPID: false\n      hostPID: true"},
		{"unknown kind", "kind: DaemonSet", "kind: DaemonSett"},
	} {
		bad := bytes.Replace(good, []byte(tc.from), []byte(tc.to), 1)
		if bytes.Equal(bad, good) {
			t.Fatalf("%s: %q not in the manifest", tc.name, tc.from)
		}
		if _, _, err := decodeManifest(bad); err == nil {
			t.Errorf("%s: accepted", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}
