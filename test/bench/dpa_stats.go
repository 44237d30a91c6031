package main

import (
	"fmt"
	"strings"
	"time"
)

// spread is a distribution's summary in milliseconds.
type spread struct {
	n                  int
	p50, p90, p99, max float64
}

// spreadOf summarises xs (milliseconds); the zero spread when empty.
func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	return spread{n: len(xs), p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), max: percentile(xs, 100)}
}

func (s spread) String() string {
	if s.n == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %s p90 %s p99 %s max %s (n=%d)", msShort(s.p50), msShort(s.p90), msShort(s.p99), msShort(s.max), s.n)
}

// msShort formats milliseconds with a precision fit for their size.
func msShort(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f ms", x)
	case x >= 10:
		return fmt.Sprintf("%.1f ms", x)
	default:
		return fmt.Sprintf("%.2f ms", x)
	}
}

// parseLoadAvg keeps the three load averages of a /proc/loadavg line.
func parseLoadAvg(line string) string {
	f := strings.Fields(line)
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// durText rounds a duration for the tables.
func durText(d time.Duration) string {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return msShort(ms(d))
}
