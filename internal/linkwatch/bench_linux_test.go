package linkwatch

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vem-switch/vem/internal/clock"
	"github.com/vem-switch/vem/test/topo"
)

// quietTime is how long the kernel's linkwatch must have been idle for a
// non-urgent carrier event to be announced at once (one second, HZ).
const quietTime = 2100 * time.Millisecond

// BenchmarkCarrierLoss measures how long after a member's peer goes down
// the Watcher reports the member's carrier loss: with and without polling,
// on a quiet host and 500 ms after another link event (when the kernel's
// linkwatch holds the notification until a second after that event). The
// veths have the same ifindex at both ends, like physical NICs, so their
// carrier events are not urgent to linkwatch. Each run takes seconds: use
// -benchtime=Nx.
//
//	go test -run '^$' -bench CarrierLoss -benchtime 10x ./internal/linkwatch
func BenchmarkCarrierLoss(b *testing.B) {
	for _, poll := range []bool{true, false} {
		for _, busy := range []bool{false, true} {
			name := fmt.Sprintf("poll=%v/after-link-event=%v", poll, busy)
			b.Run(name, func(b *testing.B) { benchCarrierLoss(b, poll, busy) })
		}
	}
}

func benchCarrierLoss(b *testing.B, poll, busy bool) {
	topo.RequireRoot(b)
	tp := topo.ForTest(b)
	nsA, err := tp.NS("a")
	must(b, err)
	nsB, err := tp.NS("b")
	must(b, err)
	must(b, tp.Veth(nsA, "e1", nsB, "e1"))
	must(b, tp.Veth(nsA, "busy", nsB, "busy"))
	ia, err := nsA.LinkIndex("e1")
	must(b, err)
	ib, err := nsB.LinkIndex("e1")
	must(b, err)
	if ia != ib {
		b.Fatalf("e1 has ifindex %d and %d: want the same, for non-urgent carrier events", ia, ib)
	}
	w, err := New(Options{NetNS: nsA.Path()})
	must(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	sub := w.Subscribe()
	defer sub.Close()
	if poll {
		sub.Poll("e1")
	}
	waitUp := func(name string, up bool) time.Time {
		deadline := time.After(patience)
		for {
			if l, ok := w.Link(name); ok && l.Up() == up {
				return time.Now()
			}
			select {
			case <-sub.Ready():
				for _, e := range sub.Events() {
					if e.Link.Name == name && e.Link.Up() == up {
						return e.Time
					}
				}
			case <-deadline:
				b.Fatalf("%s never up=%v", name, up)
			}
		}
	}
	waitUp("e1", true)
	var delays []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		time.Sleep(quietTime)
		if busy {
			must(b, nsB.SetDown("busy")) // a's busy loses carrier: linkwatch runs
			time.Sleep(500 * time.Millisecond)
		}
		b.StartTimer()
		start := time.Now()
		must(b, nsB.SetDown("e1"))
		delays = append(delays, waitUp("e1", false).Sub(start))
		b.StopTimer()
		must(b, nsB.SetUp("e1"))
		waitUp("e1", true)
		if busy {
			must(b, nsB.SetUp("busy"))
		}
		b.StartTimer()
	}
	slices.Sort(delays)
	b.ReportMetric(ms(delays[len(delays)/2]), "median-ms")
	b.ReportMetric(ms(delays[len(delays)-1]), "max-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPollCPU measures what polling costs: the process's CPU time
// (user and system) while a Watcher polls n members every
// DefaultPollInterval for a second, per op. The ticker case is the
// baseline of waking up as often and doing nothing.
//
//	go test -run '^$' -bench PollCPU -benchtime 5x ./internal/linkwatch
func BenchmarkPollCPU(b *testing.B) {
	b.Run("ticker", func(b *testing.B) {
		tk := clock.System().NewTicker(DefaultPollInterval)
		defer tk.Stop()
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-tk.C():
				case <-stop:
					return
				}
			}
		}()
		defer close(stop)
		measureCPU(b)
	})
	for _, n := range []int{0, 2, 16} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			topo.RequireRoot(b)
			tp := topo.ForTest(b)
			nsA, err := tp.NS("a")
			must(b, err)
			nsB, err := tp.NS("b")
			must(b, err)
			var names []string
			for i := range n {
				name := fmt.Sprintf("m%d", i)
				must(b, tp.Veth(nsA, name, nsB, name))
				names = append(names, name)
			}
			w, err := New(Options{NetNS: nsA.Path()})
			must(b, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = w.Run(ctx)
			}()
			defer func() { cancel(); <-done }()
			<-w.Synced()
			sub := w.Subscribe()
			defer sub.Close()
			sub.Poll(names...)
			measureCPU(b)
		})
	}
}

// measureCPU reports the process's CPU time over b.N seconds, as a share
// of one CPU and per DefaultPollInterval.
func measureCPU(b *testing.B) {
	time.Sleep(100 * time.Millisecond)
	const span = time.Second
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		before := cpuTime(b)
		time.Sleep(span)
		cpu += cpuTime(b) - before
	}
	b.ReportMetric(100*float64(cpu)/float64(time.Duration(b.N)*span), "%cpu")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/float64(span/DefaultPollInterval), "µs/poll")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkQuery measures one poll's exchange with the kernel for n links.
func BenchmarkQuery(b *testing.B) {
	for _, n := range []int{1, 2, 16} {
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			topo.RequireRoot(b)
			tp := topo.ForTest(b)
			nsA, err := tp.NS("a")
			must(b, err)
			nsB, err := tp.NS("b")
			must(b, err)
			var idx []int
			for i := range n {
				name := fmt.Sprintf("m%d", i)
				must(b, tp.Veth(nsA, name, nsB, name))
				ix, err := nsA.LinkIndex(name)
				must(b, err)
				idx = append(idx, ix)
			}
			e, err := openNetlink(nsA.Path())
			must(b, err)
			defer e.close()
			var out []flags
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if out, err = e.query(idx, out[:0]); err != nil {
					b.Fatal(err)
				}
			}
			for _, f := range out {
				if f.gone || !f.carrier {
					b.Errorf("link %d: %+v, want up", f.index, f)
				}
			}
		})
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime returns the process's user and system CPU time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
