package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vem-switch/vem/vsm/api"
)

// vsmProcess is a vsm binary the test started, stopped by its PID.
type vsmProcess struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startVSM(t *testing.T, bin, cfg string) *vsmProcess {
	t.Helper()
	p := &vsmProcess{cmd: exec.Command(bin, "run", "--config", cfg), stderr: new(bytes.Buffer), done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *vsmProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("vsm exited with %v:\n%s", err, p.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("vsm did not stop on SIGTERM:\n%s", p.stderr)
	}
}

func waitServing(t *testing.T, addr string, p *vsmProcess) {
	t.Helper()
	c := api.NewClient(addr)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case err := <-p.done:
			t.Fatalf("vsm exited (%v) before serving:\n%s", err, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vsm did not serve on %s: %v\n%s", addr, err, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runBin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("vsm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestEndToEnd builds the vsm binary, runs it on 127.0.0.1 with a fresh
// dataDir, applies a network definition with `vsm apply`, restarts it and
// finds everything again; a second vsm on the same dataDir is refused.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the vsm binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build vsm with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vsm")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build vsm: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := vsmFile(t, dir, addr)
	file := writeFile(t, dir, "network.yaml", network+"  - {id: 6f1d2b7c-3e0a-4a5b-9c8d-00000000000b, mac: \"52:54:00:00:00:0b\", segment: db}\n")

	p := startVSM(t, bin, cfg)
	waitServing(t, addr, p)
	if out := runBin(t, bin, "apply", "-f", file, "--config", cfg); !strings.HasPrefix(out, "generation 1\n") {
		t.Fatalf("apply: %s", out)
	}
	show := func() (api.NetworkResponse, string) {
		out := runBin(t, bin, "show", "ports", "--config", cfg)
		n, err := api.NewClient(addr).Network(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n, out
	}
	before, portsBefore := show()
	if before.Generation != 1 || len(before.Segments) != 2 || len(before.Ports) != 2 {
		t.Fatalf("after apply: %+v", before)
	}

	// Another vsm on the same dataDir is refused while this one runs.
	cfgData, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	otherCfg := writeFile(t, t.TempDir(), "vsm.yaml", strings.Replace(string(cfgData), addr, "127.0.0.1:1", 1))
	second := exec.Command(bin, "run", "--config", otherCfg)
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "in use by another process") {
		t.Fatalf("a second vsm on the same dataDir: %v\n%s", err, out)
	}

	p.stop(t)
	p = startVSM(t, bin, cfg)
	waitServing(t, addr, p)
	after, portsAfter := show()
	if !reflect.DeepEqual(before, after) || portsBefore != portsAfter {
		t.Fatalf("after a restart:\n%+v\n%s\nwant\n%+v\n%s", after, portsAfter, before, portsBefore)
	}
	out := runBin(t, bin, "show", "segments", "-o", "json", "--config", cfg)
	var segs api.SegmentsResponse
	if err := json.Unmarshal([]byte(out), &segs); err != nil || segs.Generation != 1 || len(segs.Segments) != 2 {
		t.Fatalf("show segments -o json after restart: %v\n%s", err, out)
	}
	p.stop(t)
}
