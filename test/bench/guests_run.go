package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vem-switch/vem/agent/api"
	"github.com/vem-switch/vem/spec"
)

func runGuests(agentBin string, d time.Duration, o *guestsOptions) error {
	if err := o.check(d); err != nil {
		return err
	}
	if err := requireRoot("virsh", "qemu-system-x86_64", "ping", "iperf3"); err != nil {
		return err
	}
	s, err := openSession("vem-bench-guests", "vembg", agentBin)
	if err != nil {
		return err
	}
	var r *guestsRig
	defer s.close(func() []string {
		if r == nil {
			return nil
		}
		return leftBehind(s.tp, r.instance)
	})
	r, err = newGuestsRig(s)
	if r != nil {
		defer func() {
			if err := r.close(); err != nil {
				fmt.Fprintln(os.Stderr, "bench: libvirtd:", err)
			}
		}()
	}
	if err != nil {
		return err
	}
	fmt.Printf("guests: %s, QEMU %s (%s)\n", r.img.KernelPackage, r.img.Accel, r.img.AccelWhy)
	tput, err := r.throughput(o.rounds, d)
	if err != nil {
		return err
	}
	starts, err := r.startToForwarding(o.starts)
	if err != nil {
		return err
	}
	hooks, err := r.lv.HookCalls()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\nwhat\tmedian / p50\tp99\tall\tgoal\t")
	vem, br := median(tput["vem"]), median(tput["bridge"])
	fmt.Fprintf(w, "TCP g1 → g2, vem\t%.2f Gbit/s\t\t%s\t≥ 1.0 × bridge: %.2f ×\t\n", vem, gbpsList(tput["vem"]), vem/br)
	fmt.Fprintf(w, "TCP g1 → g2, Linux bridge\t%.2f Gbit/s\t\t%s\t\t\n", br, gbpsList(tput["bridge"]))
	st := spreadOf(starts)
	fmt.Fprintf(w, "virsh start → first ping answered\t%s\t%s\tmax %s (n=%d)\t\t\n", msShort(st.p50), msShort(st.p99), msShort(st.max), st.n)
	for _, op := range [][2]string{{"prepare", "begin"}, {"start", "begin"}, {"started", "begin"}, {"stopped", "end"}, {"release", "end"}} {
		var xs []float64
		failed := 0
		for _, c := range hooks {
			if c.Op == op[0] && c.SubOp == op[1] {
				xs = append(xs, ms(c.Took))
				if c.Code != 0 {
					failed++
				}
			}
		}
		hs := spreadOf(xs)
		fmt.Fprintf(w, "hook %s %s\t%s\t%s\tmax %s (n=%d, %d failed)\tp99 < 50 ms\t\n", op[0], op[1], msShort(hs.p50), msShort(hs.p99), msShort(hs.max), hs.n, failed)
	}
	w.Flush()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nload average %s; the hook's time is the wrapper's (vem-hook from exec to exit), as libvirtd waits for it\n", parseLoadAvg(string(load)))
	return nil
}

func gbpsList(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.FormatFloat(x, 'f', 2, 64))
	}
	return strings.Join(s, " ")
}

// throughput boots g1 and g2 and runs iperf3 g1 → g2, rounds times
// through vem and through a Linux bridge, interleaved. For the bridge
// the agent detaches both ports and the taps join br0; for vem the
// bridge goes and the ports are attached again as the hook attached
// them.
func (r *guestsRig) throughput(rounds int, d time.Duration) (map[string][]float64, error) {
	ctx := r.s.ctx
	var gs []*benchGuest
	for n := 1; n <= 2; n++ {
		g, err := r.define(n, 256)
		if err != nil {
			return nil, err
		}
		if err := r.boot(g); err != nil {
			return nil, fmt.Errorf("boot %s: %w", g.d.Name, err)
		}
		defer g.con.Close()
		gs = append(gs, g)
	}
	if _, err := gs[1].run(ctx, 10*time.Second, "iperf3 -s -D -p "+strconv.Itoa(guestsIperfPort)); err != nil {
		return nil, err
	}
	c := api.NewClient(r.socket)
	res := map[string][]float64{}
	secs := strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
	for round := 1; round <= rounds; round++ {
		for _, variant := range []string{"vem", "bridge"} {
			if variant == "bridge" {
				if err := r.toBridge(ctx, c); err != nil {
					return nil, err
				}
			}
			if _, err := gs[0].run(ctx, 30*time.Second, "ping -c 2 -W 5 "+guestIP(2)); err != nil {
				return nil, fmt.Errorf("g1 → g2 through %s: %w", variant, err)
			}
			out, err := gs[0].run(ctx, d+time.Minute, fmt.Sprintf("iperf3 -c %s -p %d -t %s -J", guestIP(2), guestsIperfPort, secs))
			if err != nil {
				return nil, fmt.Errorf("iperf3 %s: %w", variant, err)
			}
			i := strings.Index(out, "{")
			if i < 0 {
				return nil, fmt.Errorf("iperf3 %s printed no report: %s", variant, out)
			}
			ir, err := parseIperf([]byte(out[i:]))
			if err != nil {
				return nil, fmt.Errorf("iperf3 %s: %w", variant, err)
			}
			gbps := ir.End.SumReceived.BitsPerSecond / 1e9
			res[variant] = append(res[variant], gbps)
			fmt.Printf("round %d %-6s %.2f Gbit/s, %d retransmits\n", round, variant, gbps, ir.End.SumSent.Retransmits)
			if variant == "bridge" {
				if err := r.toVem(ctx, c); err != nil {
					return nil, err
				}
			}
		}
	}
	return res, nil
}

// toBridge detaches both guests' ports from vem and puts their taps on
// a new Linux bridge br0.
func (r *guestsRig) toBridge(ctx context.Context, c *api.Client) error {
	for n := 1; n <= 2; n++ {
		if err := c.Detach(ctx, guestNIC(n).Tap); err != nil {
			return fmt.Errorf("detach %s: %w", guestNIC(n).Tap, err)
		}
	}
	for _, cmd := range [][]string{
		{"ip", "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"ip", "link", "set", "gt1", "master", "br0"},
		{"ip", "link", "set", "gt2", "master", "br0"},
		{"ip", "link", "set", "br0", "up"},
	} {
		if _, err := r.host.RunNetOnly(ctx, cmd...); err != nil {
			return err
		}
	}
	return nil
}

// toVem deletes br0 and attaches the ports again.
func (r *guestsRig) toVem(ctx context.Context, c *api.Client) error {
	if _, err := r.host.RunNetOnly(ctx, "ip", "link", "del", "br0"); err != nil {
		return err
	}
	for n := 1; n <= 2; n++ {
		nic := guestNIC(n)
		if err := c.Attach(ctx, spec.Port{Interface: nic.Tap, MAC: nic.MAC, Segment: nic.Segment, Profile: nic.Profile, IPs: []string{guestIP(n)}}); err != nil {
			return fmt.Errorf("attach %s: %w", nic.Tap, err)
		}
	}
	return nil
}

// startToForwarding starts guest g3 n times: the clock runs from virsh
// start to the first reply to the probe's pings (every 10 ms, static
// neighbour entry), then the guest is destroyed and its port awaited
// gone.
func (r *guestsRig) startToForwarding(n int) ([]float64, error) {
	ctx := r.s.ctx
	g, err := r.define(3, 128)
	if err != nil {
		return nil, err
	}
	nic := guestNIC(3)
	if _, err := r.probe.RunNetOnly(ctx, "ip", "neigh", "replace", guestIP(3), "lladdr", nic.MAC, "dev", "eth0", "nud", "permanent"); err != nil {
		return nil, err
	}
	c := api.NewClient(r.socket)
	var xs []float64
	for i := 0; i < n; i++ {
		ping := exec.CommandContext(ctx, "nsenter", "--net="+r.probe.Path(), "--", "ping", "-n", "-q", "-c", "1", "-i", "0.01", "-w", "180", guestIP(3))
		if err := ping.Start(); err != nil {
			return nil, err
		}
		start := time.Now()
		_ = os.Remove(g.d.ConsoleLog())
		if _, err := r.lv.Virsh(ctx, "start", g.d.Name); err != nil {
			_ = ping.Process.Kill()
			_ = ping.Wait()
			return nil, err
		}
		err := ping.Wait()
		took := time.Since(start)
		if err != nil {
			log, _ := os.ReadFile(g.d.ConsoleLog())
			return nil, fmt.Errorf("start %d: no ping answered: %w\nconsole:\n%s", i+1, err, log)
		}
		xs = append(xs, ms(took))
		fmt.Printf("start %d: forwarding after %v\n", i+1, took.Round(time.Millisecond))
		if _, err := r.lv.Virsh(ctx, "destroy", g.d.Name); err != nil {
			return nil, err
		}
		if err := waitNoPort(ctx, c, nic.Tap); err != nil {
			return nil, err
		}
	}
	return xs, nil
}

// waitNoPort waits until the agent has no port on tap.
func waitNoPort(ctx context.Context, c *api.Client, tap string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ps, err := c.Ports(ctx)
		if err == nil && !slices.ContainsFunc(ps, func(p api.Port) bool { return p.Interface == tap }) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("port %s still there 30 s after its guest stopped", tap), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
