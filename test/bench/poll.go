package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vem-switch/vem/test/topo"
)

// poll calls cond every 20 ms until it returns true or an error, for at
// most timeout.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exited returns an error, "<who> exited: ..." with p's output, if p has
// exited, and nil while it runs.
func exited(p *topo.Proc, who string) error {
	select {
	case <-p.Done():
		return fmt.Errorf("%s exited: %v\n%s", who, p.Wait(), p.Output())
	default:
		return nil
	}
}

// waitReachable pings addr from ns until it answers, for up to 10 s. A
// non-nil p is a process that must stay up meanwhile (the agent).
func waitReachable(ctx context.Context, ns *topo.NS, addr string, p *topo.Proc) error {
	for i := 0; i < 50; i++ {
		if p != nil {
			if err := exited(p, "vem-agent"); err != nil {
				return err
			}
		}
		res, _ := ns.Ping(ctx, addr, 1, 200*time.Millisecond)
		if res.Received > 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	out := ""
	if p != nil {
		out = "\n" + p.Output()
	}
	return fmt.Errorf("%s does not reach %s%s", ns, addr, out)
}
