package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {100, 10}, {10, 1}, {1, 1}, {90, 9}} {
		if got := percentile(xs, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if xs[0] != 5 {
		t.Error("percentile sorted its input")
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	line := "1234 (vsm run) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0"
	got, err := parseStatCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Fatalf("cpu %v, want %v", got, want)
	}
	if _, err := parseStatCPU("1234 (x) S 1"); err == nil {
		t.Fatal("short line accepted")
	}
}

func TestParseVSMRuntime(t *testing.T) {
	heap := "heap profile: 1: 2 [3: 4] @ heap/1048576\n\n# runtime.MemStats\n# Alloc = 5\n# HeapInuse = 70344704\n# Stack = 49577984 / 49577984\n# MSpan = 1 / 2\n"
	r, ok := parseVSMRuntime(heap, "goroutine profile: total 10011\n2000 @ 0x1\n")
	if !ok || r.goroutines != 10011 || r.heapInuse != 70344704 || r.stackSys != 49577984 {
		t.Errorf("parseVSMRuntime = %+v, %v", r, ok)
	}
	if _, ok := parseVSMRuntime("# HeapInuse = 1\n", "goroutine profile: total 3\n"); ok {
		t.Error("parsed a heap profile without its stack line")
	}
}
