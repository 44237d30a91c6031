package main

// -guests: real QEMU guests under a private libvirtd (test/guest,
// test/libvirtd), plugged into vem by the real vem-hook as libvirt's
// qemu hook. In one run, side by side:
//
//   - TCP throughput between two guests on one host (virtio-net over
//     tap, iperf3 inside the guests, copied into their initramfs with its
//     libraries) through vem against the same two running guests with
//     their taps moved to a Linux bridge, rounds interleaved;
//   - VM start to port forwarding: virsh start to the first ping answered
//     by the guest (a probe VM on the segment pings every 10 ms, its
//     neighbour entry static), over -guest-starts starts;
//   - the hook's latency as libvirt runs it, per operation, from the hook
//     wrapper's log.
//
// Where /dev/kvm cannot boot the guest (nested virtualisation without
// the CPU features, as on the Firecracker VMs measured here), QEMU
// emulates (TCG): the guests' own CPU then bounds throughput and boot
// time, for vem and the bridge alike; the report says which.

import (
	"flag"
	"fmt"
	"time"
)

// guestsOptions are -guests' flags.
type guestsOptions struct {
	enabled bool
	rounds  int
	starts  int
}

func addGuestsFlags(fs *flag.FlagSet) *guestsOptions {
	o := &guestsOptions{}
	fs.BoolVar(&o.enabled, "guests", false, "measure real QEMU guests: TCP through vem against a bridge, VM start to forwarding, hook latency")
	fs.IntVar(&o.rounds, "guest-rounds", 3, "-guests: interleaved iperf3 `rounds` of vem and bridge")
	fs.IntVar(&o.starts, "guest-starts", 5, "-guests: guest `starts` timed to forwarding")
	return o
}

func (o *guestsOptions) check(d time.Duration) error {
	if o.rounds < 1 || o.rounds > 20 {
		return fmt.Errorf("-guest-rounds %d: want 1 to 20", o.rounds)
	}
	if o.starts < 1 || o.starts > 100 {
		return fmt.Errorf("-guest-starts %d: want 1 to 100", o.starts)
	}
	if d < time.Second || d > time.Minute {
		return fmt.Errorf("-duration %v: want 1s to 1m", d)
	}
	return nil
}
