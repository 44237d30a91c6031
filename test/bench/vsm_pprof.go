package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// vsmProfiler fetches the VSM's profiles (served at $VSM_PPROF) into a
// directory; nil when -vsm-pprof is not set, and then does nothing.
type vsmProfiler struct {
	dir, addr string
}

func newVSMProfiler(dir string) *vsmProfiler {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Printf("profiles: %v\n", err)
		return nil
	}
	return &vsmProfiler{dir: dir, addr: freeAddr()}
}

// save writes the profile kind (heap, goroutine, allocs) as name, and
// its text form (with the runtime's memory statistics for heap) beside.
func (p *vsmProfiler) save(ctx context.Context, name, kind string) {
	if p == nil {
		return
	}
	p.fetch(ctx, name, fmt.Sprintf("http://%s/debug/pprof/%s?gc=1", p.addr, kind))
	p.fetch(ctx, strings.TrimSuffix(name, ".pb.gz")+".txt", fmt.Sprintf("http://%s/debug/pprof/%s?debug=1", p.addr, kind))
}

// cpu profiles the VSM's CPU for the next d (whole seconds) into name;
// the function it returns waits for the profile.
func (p *vsmProfiler) cpu(ctx context.Context, name string, d time.Duration) func() {
	if p == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.fetch(ctx, name, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, max(int(d.Seconds()), 1)))
	}()
	return func() { <-done }
}

func (p *vsmProfiler) fetch(ctx context.Context, name, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Printf("profile %s: %v\n", name, err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Printf("profile %s: %v\n", name, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(p.dir, name))
	if err != nil {
		fmt.Printf("profile %s: %v\n", name, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		fmt.Printf("profile %s: %v\n", name, err)
		return
	}
	fmt.Printf("profile %s written\n", filepath.Join(p.dir, name))
}

// vsmRuntime is what the VSM's runtime says of itself: goroutines, heap
// in use and goroutine stacks (after a collection).
type vsmRuntime struct {
	goroutines          int
	heapInuse, stackSys uint64
}

// runtimeStats reads the VSM's goroutine count and memory statistics from
// its profile endpoints; ok is false without -vsm-pprof or on an error.
func (p *vsmProfiler) runtimeStats(ctx context.Context) (vsmRuntime, bool) {
	var r vsmRuntime
	if p == nil {
		return r, false
	}
	heap, err1 := p.text(ctx, "heap?gc=1&debug=1")
	gor, err2 := p.text(ctx, "goroutine?debug=1")
	if err1 != nil || err2 != nil {
		fmt.Printf("VSM runtime figures: %v %v\n", err1, err2)
		return r, false
	}
	return parseVSMRuntime(heap, gor)
}

// parseVSMRuntime reads the heap profile's text form (its "# HeapInuse =
// N" and "# Stack = inuse / sys" lines) and the goroutine profile's first
// line ("goroutine profile: total N").
func parseVSMRuntime(heap, goroutines string) (vsmRuntime, bool) {
	var r vsmRuntime
	first, _, _ := strings.Cut(goroutines, "\n")
	if _, err := fmt.Sscanf(first, "goroutine profile: total %d", &r.goroutines); err != nil {
		return r, false
	}
	var okHeap, okStack bool
	for line := range strings.SplitSeq(heap, "\n") {
		if v, found := strings.CutPrefix(line, "# HeapInuse = "); found {
			_, err := fmt.Sscanf(v, "%d", &r.heapInuse)
			okHeap = err == nil
		}
		if v, found := strings.CutPrefix(line, "# Stack = "); found {
			var inuse uint64
			_, err := fmt.Sscanf(v, "%d / %d", &inuse, &r.stackSys)
			okStack = err == nil
		}
	}
	return r, okHeap && okStack
}

func (p *vsmProfiler) text(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/%s", p.addr, path), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
