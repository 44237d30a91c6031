package e2e

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// pingDuring runs a fast ping from vm1 to vm2 while fn runs and returns
// its result: pings are sent every 5 ms for count packets.
func pingDuring(t *testing.T, h *hostFixture, count int, fn func()) topo.PingResult {
	t.Helper()
	h.ping("vm1", "192.0.2.2", 1, true) // ARP resolved, MACs learned
	type result struct {
		r   topo.PingResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r, err := h.vms["vm1"].ns.Ping(ctx, "192.0.2.2", count, 5*time.Millisecond)
		done <- result{r, err}
	}()
	time.Sleep(300 * time.Millisecond)
	fn()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	return res.r
}

func TestAgentRestartLosesNoPackets(t *testing.T) {
	h := newHost(t)
	for _, how := range []struct {
		name string
		stop func()
	}{
		{"SIGTERM", h.stopAgent},
		{"SIGKILL", func() {
			if err := h.agent.Kill(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		res := pingDuring(t, h, 1000, func() {
			how.stop()
			h.startAgent()
		})
		t.Logf("restart after %s: %d sent, %d received", how.name, res.Sent, res.Received)
		if res.Sent != 1000 || res.Received != res.Sent {
			t.Fatalf("restart after %s: %d of %d pings answered, want all", how.name, res.Received, res.Sent)
		}
		if !strings.Contains(h.agent.Output(), "adopting pinned datapath") {
			t.Fatalf("restarted agent did not adopt the pinned datapath:\n%s", h.agent.Output())
		}
	}
	// The restarted agent still switches what it learned and what is new.
	h.ping("vm4", "192.0.2.1", 2, true)
}

func TestBadConfigChangesNothing(t *testing.T) {
	h := newHost(t)
	good, err := os.ReadFile(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), "vlan: 200", "vlan: 5000", 1)
	bad = strings.Replace(bad, "segment: mgmt", "segment: nosuch", 1)

	res := pingDuring(t, h, 400, func() {
		if err := os.WriteFile(h.cfgPath, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		syscall.Kill(h.agent.Pid(), syscall.SIGHUP)
		waitFor(t, 5*time.Second, "the rejection in show module", func() bool {
			out, err := h.vemctl("show", "module", "-o", "json")
			return err == nil && strings.Contains(out, "5000 is outside 1..4094")
		})
	})
	if res.Received != res.Sent {
		t.Fatalf("a rejected file disturbed forwarding: %d of %d pings answered", res.Received, res.Sent)
	}
	out, _ := h.vemctl("show", "module", "-o", "json")
	for _, want := range []string{"segments[1].vlan", "line 7", "ports[4].segment", "nosuch"} {
		if !strings.Contains(out, want) {
			t.Errorf("the rejection does not name %q:\n%s", want, out)
		}
	}
	h.ping("vm5", "198.51.100.5", 1, true) // mgmt still served (own address)
	h.ping("vm1", "192.0.2.4", 2, true)

	// A bad file at start-up: the agent refuses to start, naming the line,
	// and the running datapath keeps forwarding.
	h.stopAgent()
	p, err := h.ns.StartNetOnly(agentBin, "--config", h.cfgPath, "--state-dir", h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err == nil {
		t.Fatal("vem-agent started on a bad file")
	}
	if !strings.Contains(p.Output(), "line ") || !strings.Contains(p.Output(), "5000") {
		t.Fatalf("start-up error does not name the line and value:\n%s", p.Output())
	}
	h.ping("vm1", "192.0.2.2", 3, true)
}
