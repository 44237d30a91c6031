// Package portchannel holds the membership logic of one port-channel: which
// members the datapath may send on (distributing), which it accepts frames
// on (collecting) and, in mac-pinning mode, which member each vEth is pinned
// to. It knows nothing of eBPF: the agent writes a Channel's State into the
// maps whenever OnChange reports a new one.
//
// Modes (the agent configuration's port-channel modes):
//
//   - static (mode on): every member with carrier collects and distributes.
//   - lacp-active, lacp-passive: a lacp.Runner negotiates with the partner;
//     the bundled members collect and distribute.
//   - mac-pinning: no protocol. Every member with carrier (operational)
//     collects and distributes, and each vEth is pinned to one member chosen
//     by failover priority, as IBM PowerVM vNIC failover chooses among
//     backing devices; see Config.AutoPriorityFailover.
//
// In every mode the channel is down, and State empty, while fewer than
// Config.MinLinks members qualify.
//
// # Concurrency
//
// A Channel is safe for concurrent use. OnChange and OnEvent are called
// without its lock held, one at a time, in the order the changes happened,
// by whichever goroutine is delivering at the time; they may call back into
// the Channel.
package portchannel
