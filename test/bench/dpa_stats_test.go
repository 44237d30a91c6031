package main

import (
	"testing"
	"time"
)

func TestSpreadOf(t *testing.T) {
	if s := spreadOf(nil); s.n != 0 || s.String() != "-" {
		t.Fatalf("empty: %+v %q", s, s)
	}
	var xs []float64
	for i := 1; i <= 100; i++ {
		xs = append(xs, float64(101-i))
	}
	s := spreadOf(xs)
	if s.n != 100 || s.p50 != 50 || s.p90 != 90 || s.p99 != 99 || s.max != 100 {
		t.Fatalf("1..100: %+v", s)
	}
	if got := s.String(); got != "p50 50.0 ms p90 90.0 ms p99 99.0 ms max 100 ms (n=100)" {
		t.Fatalf("String: %q", got)
	}
	if xs[0] != 100 {
		t.Fatal("spreadOf sorted its input")
	}
}

func TestParseLoadAvg(t *testing.T) {
	if got := parseLoadAvg("2.90 20.27 79.78 3/512 12345\n"); got != "2.90 20.27 79.78" {
		t.Fatalf("got %q", got)
	}
	if got := parseLoadAvg("garbage"); got != "?" {
		t.Fatalf("got %q", got)
	}
}

func TestDurText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1500 * time.Microsecond: "1.50 ms",
		42 * time.Millisecond:   "42.0 ms",
		420 * time.Millisecond:  "420 ms",
		2345 * time.Millisecond: "2.35s",
	} {
		if got := durText(d); got != want {
			t.Errorf("durText(%v) = %q, want %q", d, got, want)
		}
	}
}
