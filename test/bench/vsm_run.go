package main

// -vsm: issue 9's supervisor benchmark. The VSM runs as the real binary
// (built from ./cmd/vsm) so that its CPU time and VmRSS, read from /proc,
// are the supervisor's alone; the N test VEMs are real protocol clients
// (mutual TLS, one certificate per host, as the VSM checks that a Hello
// names its certificate's host) in this process, on 127.0.0.1.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vem-switch/vem/protocol"
	"github.com/vem-switch/vem/spec"
	"github.com/vem-switch/vem/vsm"
	"github.com/vem-switch/vem/vsm/api"
	"github.com/vem-switch/vem/vsm/netdef"
	"github.com/vem-switch/vem/vsm/store"
)

const (
	vsmBenchDomain = 100
	vsmBenchName   = "vsm-a"
)

// vsmOptions are the flags of -vsm.
type vsmOptions struct {
	enabled bool
	vems    int
	ports   int
	window  time.Duration
	changes int
	pprof   string
}

func addVSMFlags(fs *flag.FlagSet) *vsmOptions {
	o := &vsmOptions{}
	fs.BoolVar(&o.enabled, "vsm", false, "measure one VSM with -vems VEM sessions: CPU, memory, change acknowledgement, heartbeat jitter")
	fs.IntVar(&o.vems, "vems", 2000, "VEM `sessions` for -vsm")
	fs.IntVar(&o.ports, "vsm-ports", 1000, "ports bound on the first VEM for -vsm's snapshot phase")
	fs.DurationVar(&o.window, "vsm-window", 30*time.Second, "heartbeat window over which -vsm measures CPU")
	fs.IntVar(&o.changes, "vsm-changes", 5, "configuration changes -vsm times")
	fs.StringVar(&o.pprof, "vsm-pprof", "", "`dir`ectory for the VSM's profiles: heap after attach and after the changes, CPU over the changes (go tool pprof)")
	return o
}

func runVSMBench(o *vsmOptions) error {
	if o.vems < 2 || o.vems > 4000 {
		return fmt.Errorf("-vems %d: want 2 to 4000", o.vems)
	}
	if o.ports < 1 || o.ports > 10000 {
		return fmt.Errorf("-vsm-ports %d: want 1 to 10000", o.ports)
	}
	raiseNoFile()
	dir, err := os.MkdirTemp("", "vem-bench-vsm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	fmt.Println("building ./cmd/vsm")
	bin := filepath.Join(dir, "vsm")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/vsm").CombinedOutput(); err != nil {
		return fmt.Errorf("build vsm: %v\n%s", err, out)
	}
	hosts := make([]string, o.vems)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("hv%04d", i)
	}
	pki := filepath.Join(dir, "pki")
	t0 := time.Now()
	if err := protocol.GenerateDevPKI(pki, []string{vsmBenchName}, hosts); err != nil {
		return err
	}
	pkiTook := time.Since(t0)
	fmt.Printf("dev PKI with %d host certificates: %v\n", o.vems, pkiTook.Round(time.Millisecond))

	data := filepath.Join(dir, "data")
	t0 = time.Now()
	if err := prepareStore(data, hosts[0], o.ports); err != nil {
		return err
	}
	bindTook := time.Since(t0)
	fmt.Printf("store prepared offline (%d ports bound on %s): %v\n", o.ports, hosts[0], bindTook.Round(time.Millisecond))

	vemAddr, apiAddr := freeAddr(), freeAddr()
	cfgPath := filepath.Join(dir, "vsm.yaml")
	cfg := fmt.Sprintf("name: %s\ndomain: %d\nlisten: %s\napi: %s\ndataDir: %s\ntls:\n  ca: %s\n  cert: %s\n  key: %s\n",
		vsmBenchName, vsmBenchDomain, vemAddr, apiAddr, data, filepath.Join(pki, "ca.pem"),
		filepath.Join(pki, vsmBenchName+".pem"), filepath.Join(pki, vsmBenchName+"-key.pem"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "vsm.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	prof := newVSMProfiler(o.pprof)
	if prof != nil {
		cmd.Env = append(os.Environ(), vsm.PprofEnv+"="+prof.addr)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	pid := cmd.Process.Pid
	cl := api.NewClient(apiAddr)
	if err := waitAPI(ctx, cl, exited); err != nil {
		return fmt.Errorf("%w (log %s)", err, tail(logf.Name()))
	}
	time.Sleep(2 * time.Second)
	rss0 := rssKB(pid)

	// Attach every VEM.
	lim := spec.DefaultLimits
	lim.Ports = o.ports + 64
	vs := make([]*benchVEM, o.vems)
	defer func() {
		for _, v := range vs {
			if v != nil {
				_ = v.s.Close()
			}
		}
	}()
	t0 = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, o.vems)
	sem := make(chan struct{}, 32)
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conf, err := protocol.ClientTLS(protocol.TLSFiles{CA: filepath.Join(pki, "ca.pem"), Cert: filepath.Join(pki, h+".pem"),
				Key: filepath.Join(pki, h+"-key.pem")}, protocol.KindVEM, protocol.KindVSM)
			if err != nil {
				errs <- err
				return
			}
			dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
			defer dcancel()
			v, err := dialBenchVEM(dctx, vemAddr, h, conf, &lim)
			if err != nil {
				errs <- err
				return
			}
			vs[i] = v
			if err := v.s.RequestAttach(protocol.AttachReason_ATTACH_REASON_INITIAL); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for _, v := range vs {
		select {
		case <-v.attached:
		case <-time.After(60 * time.Second):
			return fmt.Errorf("%s: no configuration 60 s after its attach request", v.host)
		}
	}
	attachTook := time.Since(t0)
	fmt.Printf("%d VEMs dialled and attached in %v\n", o.vems, attachTook.Round(time.Millisecond))
	prof.save(ctx, "heap-attached.pb.gz", "heap")
	prof.save(ctx, "goroutine-attached.pb.gz", "goroutine")

	// Heartbeat window: CPU and memory.
	time.Sleep(3 * time.Second)
	rss1 := rssKB(pid)
	cpu0, err := cpuTime(pid)
	if err != nil {
		return err
	}
	w0 := time.Now()
	selfW0 := selfCPUTime()
	fmt.Printf("heartbeat window of %v\n", o.window)
	time.Sleep(o.window)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return err
	}
	w1 := time.Now()
	selfW1 := selfCPUTime()
	rss2 := rssKB(pid)
	rt, rtOK := prof.runtimeStats(ctx) // after the window: it collects garbage
	cpuPct := 100 * float64(cpu1-cpu0) / float64(w1.Sub(w0))
	quietJitter, quietLost := jitter(vs[1:], w0, w1)

	// Configuration changes every VEM needs: a new policy profile.
	var lat []time.Duration
	var msgsPerChange []int64
	var perRound []string
	waitCPU := prof.cpu(ctx, "cpu-changes.pb.gz", time.Duration(o.changes)*3*time.Second)
	vsmCPU0, err := cpuTime(pid)
	if err != nil {
		return err
	}
	selfCPU0 := selfCPUTime()
	c0 := time.Now()
	for r := range o.changes {
		before := totalMessages(vs)
		name := fmt.Sprintf("bench-%d", r)
		start := time.Now()
		res, err := cl.Put(ctx, store.KindProfile, name, spec.Profile{Name: name, PortSecurity: r%2 == 0})
		if err != nil {
			return fmt.Errorf("change %d: %w", r, err)
		}
		round, err := waitAcks(vs, res.Generation, start, 30*time.Second)
		if err != nil {
			return err
		}
		lat = append(lat, round...)
		time.Sleep(time.Second) // anything late would count
		msgsPerChange = append(msgsPerChange, totalMessages(vs)-before)
		rm := durationsMS(round)
		perRound = append(perRound, fmt.Sprintf("p50 %.0f p99 %.0f max %.0f ms", percentile(rm, 50), percentile(rm, 99), percentile(rm, 100)))
	}
	vsmCPU1, err := cpuTime(pid)
	if err != nil {
		return err
	}
	selfCPU1 := selfCPUTime()
	changesTook := time.Since(c0)
	waitCPU()
	prof.save(ctx, "heap-changes.pb.gz", "heap")
	// A change one VEM needs: a port bound on it in a vlan segment.
	before := totalMessages(vs)
	start := time.Now()
	big := vs[0]
	genBefore, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	if err := big.s.AttachPort(ctx, &protocol.PortAttach{Interface: "tapx", Mac: "52:54:01:00:00:01", Segment: "seg0", Profile: "default"}); err != nil {
		return err
	}
	oneLat, err := waitAcks(vs[:1], genBefore.Generation+1, start, 30*time.Second)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	oneMsgs := totalMessages(vs) - before

	// Heartbeat jitter while the first VEM's full snapshot streams, again
	// and again (a reattach answers with a full snapshot).
	j0 := time.Now()
	snaps := 0
	var snapSize int
	for time.Since(j0) < 10*time.Second {
		n := big.configs.Load()
		if err := big.s.RequestAttach(protocol.AttachReason_ATTACH_REASON_INITIAL); err != nil {
			return err
		}
		for big.configs.Load() == n {
			if time.Since(j0) > 40*time.Second {
				return errors.New("the big VEM's snapshot did not come")
			}
			time.Sleep(time.Millisecond)
		}
		snaps++
	}
	j1 := time.Now()
	busyJitter, busyLost := jitter(vs[1:], j0, j1)
	snapSize = snapshotSize(o.ports)
	// Let the last heartbeats arrive.
	time.Sleep(time.Second)

	latMS := durationsMS(lat)
	n := float64(o.vems)
	perVEM := float64(rss1-rss0) / n
	fmt.Println()
	fmt.Printf("VSM (pid %d, real binary) with %d VEM sessions on 127.0.0.1, mutual TLS, %d CPUs\n", pid, o.vems, runtime.NumCPU())
	fmt.Printf("  dev PKI for %d hosts %v; dial+attach all %v; VmRSS idle %d KiB, attached %d KiB, after window %d KiB\n",
		o.vems, pkiTook.Round(time.Millisecond), attachTook.Round(time.Millisecond), rss0, rss1, rss2)
	for i, s := range perRound {
		fmt.Printf("  change %d (profile for all): %s, %d messages\n", i, s, msgsPerChange[i])
	}
	fmt.Printf("  %d snapshots of %d ports (~%d KiB) streamed to %s in %v\n", snaps, o.ports+1, snapSize>>10, big.host, j1.Sub(j0).Round(time.Millisecond))
	fmt.Println()
	w := newTable(os.Stdout)
	fmt.Fprintln(w, "figure\tmeasured\tgoal\t")
	fmt.Fprintf(w, "VEMs per VSM\t%d\t2,000 per pair (N1KV 250, NSX 1,024)\t\n", o.vems)
	fmt.Fprintf(w, "store.Bind of %d ports, one after another\t%v (%.2f ms each)\t-\t\n", o.ports, bindTook.Round(time.Millisecond), ms(bindTook)/float64(o.ports))
	fmt.Fprintf(w, "VSM CPU while heartbeating (%v)\t%.1f %% of a core\t-\t\n", o.window, cpuPct)
	fmt.Fprintf(w, "VSM memory per attached VEM (VmRSS delta)\t%.1f KB\t< 50 KB\t\n", perVEM*1.024)
	if rtOK {
		fmt.Fprintf(w, "VSM goroutines per VEM (after the window)\t%.2f\t-\t\n", float64(rt.goroutines)/n)
		fmt.Fprintf(w, "VSM heap in use / goroutine stacks per VEM\t%.1f / %.1f KB\t-\t\n",
			float64(rt.heapInuse)/n/1000, float64(rt.stackSys)/n/1000)
	}
	fmt.Fprintf(w, "change acked by all, p50 (%d changes)\t%.0f ms\t-\t\n", o.changes, percentile(latMS, 50))
	fmt.Fprintf(w, "change acked by all, p99\t%.0f ms\t< 1 s (OVN 11.4 s for 1,000)\t\n", percentile(latMS, 99))
	fmt.Fprintf(w, "change acked by all, max\t%.0f ms\t-\t\n", percentile(latMS, 100))
	// What the changes cost above heartbeating, at the window's rate.
	above := func(used, windowUsed time.Duration) float64 {
		hb := float64(windowUsed) / float64(w1.Sub(w0)) * float64(changesTook)
		return ms(used-time.Duration(hb)) / float64(o.changes)
	}
	fmt.Fprintf(w, "CPU per change all VEMs need, above heartbeating: VSM / test VEMs\t%.0f / %.0f ms\t-\t\n",
		above(vsmCPU1-vsmCPU0, cpu1-cpu0), above(selfCPU1-selfCPU0, selfW1-selfW0))
	fmt.Fprintf(w, "messages per change all VEMs need\t%s\t%d (one per VEM)\t\n", joinInts(msgsPerChange), o.vems)
	fmt.Fprintf(w, "messages per change one VEM needs\t%d (acked in %.0f ms)\t1\t\n", oneMsgs, ms(oneLat[0]))
	fmt.Fprintf(w, "heartbeat jitter, quiet: p50/p99/max\t%s (%d lost)\t-\t\n", jitterText(quietJitter), quietLost)
	fmt.Fprintf(w, "heartbeat jitter, snapshot streaming\t%s (%d lost)\t-\t\n", jitterText(busyJitter), busyLost)
	return w.Flush()
}

// prepareStore makes the VSM's store before it starts: 200 vlan segments,
// a profile, and ports bound on host (store.Bind rewrites the whole state
// on every write, so this is the slow part of a large -vsm-ports).
func prepareStore(data, host string, ports int) error {
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(data, store.FileName), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	nw := netdef.Network{Profiles: []spec.Profile{{Name: "default", PortSecurity: true}}}
	for i := range 200 {
		nw.Segments = append(nw.Segments, spec.Segment{Name: fmt.Sprintf("seg%d", i), Type: spec.SegmentVLAN, VLAN: 100 + i})
	}
	if _, err := st.Sync(nw, store.SyncOptions{}); err != nil {
		return err
	}
	rec, err := st.AssignModule(host, 0, "")
	if err != nil {
		return err
	}
	for i := range ports {
		if _, err := st.Bind(host, rec.Module, fmt.Sprintf("tap%05d", i), store.BindRequest{
			MAC: fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff), Segment: fmt.Sprintf("seg%d", 1+i/50), Profile: "default"}); err != nil {
			return err
		}
	}
	return nil
}

// snapshotSize is the serialized size of a snapshot of n such ports.
func snapshotSize(n int) int {
	sw := &spec.Switch{Profiles: []spec.Profile{{Name: "default", PortSecurity: true}}}
	var bs []*protocol.PortBinding
	for i := range n {
		seg := fmt.Sprintf("seg%d", 1+i/50)
		mac := fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)
		sw.Ports = append(sw.Ports, spec.Port{Interface: fmt.Sprintf("tap%05d", i), MAC: mac, Segment: seg, Profile: "default"})
		bs = append(bs, &protocol.PortBinding{Interface: fmt.Sprintf("tap%05d", i), Veth: uint32(i + 1), Segment: seg, Profile: "default", Mac: mac, DynamicProfile: "vnn"})
	}
	for i := range 200 {
		sw.Segments = append(sw.Segments, spec.Segment{Name: fmt.Sprintf("seg%d", i), Type: spec.SegmentVLAN, VLAN: 100 + i})
	}
	s, err := protocol.NewSnapshot(1, sw, bs, nil)
	if err != nil {
		return 0
	}
	return proto.Size(s)
}

// waitAcks waits until every VEM of vs has acknowledged gen and returns
// how long after start each did.
func waitAcks(vs []*benchVEM, gen uint64, start time.Time, limit time.Duration) ([]time.Duration, error) {
	out := make([]time.Duration, len(vs))
	done := make([]bool, len(vs))
	left := len(vs)
	for left > 0 {
		for i, v := range vs {
			if done[i] {
				continue
			}
			if at, ok := v.ackedAt(gen); ok {
				out[i], done[i] = at.Sub(start), true
				left--
			}
		}
		if left > 0 && time.Since(start) > limit {
			return nil, fmt.Errorf("generation %d: %d of %d VEMs had not acknowledged after %v", gen, left, len(vs), limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return out, nil
}

// jitter is how far every inter-arrival of heartbeats in [from, to) at
// vs is from the 1 s interval, and how many heartbeats went missing (a
// gap of 2 intervals or more).
func jitter(vs []*benchVEM, from, to time.Time) ([]float64, int) {
	var out []float64
	lost := 0
	for _, v := range vs {
		at := v.heartbeatsBetween(from, to)
		for i := 1; i < len(at); i++ {
			gap := at[i].Sub(at[i-1])
			d := gap - protocol.HeartbeatInterval
			if d < 0 {
				d = -d
			}
			out = append(out, ms(d))
			if gap >= 2*protocol.HeartbeatInterval-protocol.HeartbeatInterval/2 {
				lost += int((gap+protocol.HeartbeatInterval/2)/protocol.HeartbeatInterval) - 1
			}
		}
	}
	return out, lost
}

func jitterText(xs []float64) string {
	return fmt.Sprintf("%.1f / %.1f / %.1f ms", percentile(xs, 50), percentile(xs, 99), percentile(xs, 100))
}

func totalMessages(vs []*benchVEM) int64 {
	var n int64
	for _, v := range vs {
		n += v.messages()
	}
	return n
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

// selfCPUTime is the user and system time this process (the test VEMs)
// has used.
func selfCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseNoFile raises the soft limit on open files to the hard one: every
// session is a socket here and one in the VSM, which inherits the limit.
func raiseNoFile() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// freeAddr is a loopback address free at the moment.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

func waitAPI(ctx context.Context, cl *api.Client, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("vsm exited: %v", err)
		default:
		}
		if _, err := cl.Status(ctx); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the VSM's API did not answer in 30 s")
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	return lastLines(string(data), 10)
}
