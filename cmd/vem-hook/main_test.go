package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/agent/api/apitest"
)

const domainXML = `<domain type='kvm'><name>web1</name>
<metadata><vem:ports xmlns:vem="https://vem-switch.dev/xmlns/libvirt/1">
<vem:port mac='52:54:00:00:00:01' segment='web' profile='default' ips='192.0.2.1'/>
</vem:ports></metadata>
<devices><interface type='ethernet'><mac address='52:54:00:00:00:01'/><target dev='vemtap1'/></interface></devices></domain>`

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func runHook(t *testing.T, getenv func(string) string, stdin string, args ...string) (int, string) {
	t.Helper()
	var stderr strings.Builder
	code := run(context.Background(), args, strings.NewReader(stdin), &stderr, getenv)
	return code, stderr.String()
}

func TestHookAgainstAPI(t *testing.T) {
	b := &apitest.Backend{SegmentList: []api.Segment{{Name: "web"}}}
	sock := apitest.Serve(t, b)
	e := env(map[string]string{"VEM_SOCKET": sock, "VEM_HOOK_CONFIG": os.DevNull})

	if code, out := runHook(t, e, domainXML, "web1", "prepare", "begin", "-"); code != 0 || out != "" {
		t.Fatalf("prepare: %d %q", code, out)
	}
	if code, out := runHook(t, e, domainXML, "web1", "start", "begin", "-"); code != 0 || out != "" {
		t.Fatalf("start: %d %q", code, out)
	}
	if len(b.Attachments) != 1 {
		t.Fatalf("attachments %+v", b.Attachments)
	}
	got := b.Attachments[0].Port
	if got.Interface != "vemtap1" || got.MAC != "52:54:00:00:00:01" || got.Segment != "web" || got.Profile != "default" || strings.Join(got.IPs, ",") != "192.0.2.1" {
		t.Fatalf("attached %+v", got)
	}
	if code, out := runHook(t, e, domainXML, "web1", "stopped", "end", "-"); code != 0 || out != "" {
		t.Fatalf("stopped: %d %q", code, out)
	}
	if len(b.PortList) != 0 {
		t.Fatalf("ports left %+v", b.PortList)
	}
	if code, out := runHook(t, e, domainXML, "web1", "release", "end", "-"); code != 0 || out != "" {
		t.Fatalf("release: %d %q", code, out)
	}
	// A refused attach fails the start with the agent's reason.
	bad := strings.Replace(domainXML, "segment='web'", "segment='nosuch'", 1)
	code, out := runHook(t, e, bad, "web1", "start", "begin", "-")
	if code != 1 || !strings.Contains(out, "vem-hook: domain web1: interface vemtap1: attach refused by vem-agent") || !strings.Contains(out, "nosuch") || strings.Count(out, "\n") != 1 {
		t.Fatalf("refused: %d %q", code, out)
	}
}

func TestHookAgentDown(t *testing.T) {
	dir := t.TempDir()
	e := map[string]string{"VEM_SOCKET": filepath.Join(dir, "none.sock"), "VEM_HOOK_CONFIG": os.DevNull}
	code, out := runHook(t, env(e), domainXML, "web1", "start", "begin", "-")
	if code != 1 || !strings.Contains(out, "domain web1: interface vemtap1: attach: vem-agent is not running") {
		t.Fatalf("fail policy: %d %q", code, out)
	}
	// The policy from the config file, as libvirt clears the environment.
	conf := filepath.Join(dir, "hook.conf")
	if err := os.WriteFile(conf, []byte("# vem hook\nVEM_HOOK_ON_AGENT_DOWN=continue\nVEM_SOCKET="+e["VEM_SOCKET"]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = runHook(t, env(map[string]string{"VEM_HOOK_CONFIG": conf}), domainXML, "web1", "start", "begin", "-")
	if code != 0 || !strings.Contains(out, "policy continue") {
		t.Fatalf("continue policy: %d %q", code, out)
	}
	// The flag overrides the file.
	code, _ = runHook(t, env(map[string]string{"VEM_HOOK_CONFIG": conf}), domainXML, "-on-agent-down=fail", "web1", "start", "begin", "-")
	if code != 1 {
		t.Fatalf("flag over file: %d", code)
	}
	// No vem ports: the agent is not needed.
	plain := `<domain><name>p</name><devices><interface type='network'><source network='default'/></interface></devices></domain>`
	if code, out := runHook(t, env(e), plain, "p", "start", "begin", "-"); code != 0 || out != "" {
		t.Fatalf("plain: %d %q", code, out)
	}
}

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want string // error substring, "" for success
	}{
		{"too few args", "", nil, []string{"d", "start", "begin"}, "usage"},
		{"bad timeout", "", map[string]string{"VEM_HOOK_TIMEOUT": "soon"}, []string{"d", "start", "begin", "-"}, "timeout"},
		{"zero timeout", "", nil, []string{"-timeout=0s", "d", "start", "begin", "-"}, "positive"},
		{"bad policy", "", map[string]string{"VEM_HOOK_ON_AGENT_DOWN": "maybe"}, []string{"d", "start", "begin", "-"}, "agent-down policy"},
		{"unknown flag", "", nil, []string{"-x", "d", "start", "begin", "-"}, "flags"},
		{"unknown key", "VEM_NOPE=1\n", nil, []string{"d", "start", "begin", "-"}, "unknown key"},
		{"not key=value", "hello\n", nil, []string{"d", "start", "begin", "-"}, "KEY=VALUE"},
		{"domain named like a flag", "", nil, []string{"-timeout", "start", "begin", "-"}, ""},
		{"good", "VEM_HOOK_TIMEOUT=250ms\n", nil, []string{"d", "start", "begin", "-"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := map[string]string{"VEM_HOOK_CONFIG": os.DevNull}
			if c.file != "" {
				p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
				if err := os.WriteFile(p, []byte(c.file), 0o644); err != nil {
					t.Fatal(err)
				}
				e["VEM_HOOK_CONFIG"] = p
			}
			for k, v := range c.env {
				e[k] = v
			}
			s, pos, err := configure(c.args, env(e))
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want %q", err, c.want)
				}
				return
			}
			if err != nil || len(pos) != 4 {
				t.Fatalf("%v %v", err, pos)
			}
			if c.name == "good" && s.timeout != 250*time.Millisecond {
				t.Errorf("timeout %v", s.timeout)
			}
		})
	}
	// A missing default file is fine; a missing named one is not.
	if _, _, err := configure([]string{"d", "start", "begin", "-"}, env(map[string]string{"VEM_HOOK_CONFIG": filepath.Join(dir, "none")})); err == nil {
		t.Error("missing named config file accepted")
	}
}

// TestStdinNeverClosed: a stdin nobody closes does not hold the hook.
func TestStdinNeverClosed(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	var stderr strings.Builder
	start := time.Now()
	code := run(context.Background(), []string{"-timeout=200ms", "d", "start", "begin", "-"}, r, &stderr, env(map[string]string{"VEM_HOOK_CONFIG": os.DevNull}))
	if code != 1 || !strings.Contains(stderr.String(), "stdin not closed within 200ms") || time.Since(start) > 2*time.Second {
		t.Fatalf("%d %q after %v", code, stderr.String(), time.Since(start))
	}
}
