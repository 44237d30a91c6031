// Package vems is the VSM's side of its VEM sessions: what a supervisor
// does with every protocol.VEMSession the protocol server accepts.
//
// A Manager serves every session (Serve is protocol.ServerConfig.Serve)
// and runs the supervisor-wide loops (Run): one ticker that sends every
// session a heartbeat each interval (1 s), and one watcher of the store
// that tells every session when the configuration generation moves.
//
// Per session, one goroutine (the session's handler) takes the VEM's
// messages and does the bulk work, so a slow VEM or a slow store holds up
// that VEM alone; a wake-up from the watcher interrupts its wait for a
// message.
//
// What the VEMs should have is computed once per generation (and set of
// VTEPs), not once per session: the first session to look after a change
// builds a view from one store snapshot (bindings by module, the VTEPs
// and bindings of every vxlan segment), and every session shares it,
// read-only. A session's work is then what its VEM needs: VEMs without
// ports share one encoded network, a VEM with ports encodes its own once
// per view, or carries it over from the view before when neither its
// bindings nor anything else its network depends on changed; its MAC
// distribution comes from the bindings of its own bridge domains only.
//
//   - AttachRequest: the host gets its module number (store.AssignModule:
//     3 and up, the same for a host across reattaches and VSM restarts),
//     and AttachAccepted with a full snapshot answers: the network (the
//     store's segments and profiles; the host's bound ports as ports; each
//     vxlan segment's VTEPs completed with those of the other VEMs with
//     ports in it), the host's bindings, and the MAC distribution (the MAC
//     and VTEP of every port other VEMs have bound in the vxlan segments
//     this host has ports in; each VEM's VTEP is the one its Hello gave).
//   - When the generation moves, the session compares what the VEM should
//     have with what it was sent: a new network or a change to its own
//     bindings made elsewhere sends a new snapshot; a change of remote MACs
//     alone sends a MacUpdate with the difference.
//   - ConfigAck and ConfigNack are matched to the snapshot sent by its
//     nonce; a NACK is logged with its reason and shown by Modules.
//   - PortAttach binds the port (store.Bind) and answers a PortBinding
//     (refused, with the reason, when the store refuses); PortDetach
//     unbinds it. The other VEMs of the bridge domain get the MAC through
//     the generation change.
//
// Heartbeats never wait: the ticker reads the generation from memory (not
// the store, whose lock a commit holds while it writes) and
// protocol.VEMSession.SendHeartbeat queues ahead of bulk work without
// blocking.
//
// # Bindings of VEMs that go away
//
// A VEM whose session drops forwards headless on what it had, so its
// bindings stay, and so do its MACs in the other VEMs' distribution; a
// VEM that reattaches replays its ports (store.Bind is idempotent). A
// Detach does not release them either: in an HA pair it means the VEM is
// moving to the other supervisor, which shares the bindings. Bindings are
// released only by the VEM's PortDetach, or by the northbound API
// deleting what they use; never on a timer.
//
// A Detach marked handover says the VEM's agent is being handed over to
// its successor on the same host (an in-service upgrade): Modules shows
// the module upgrading rather than absent until a session of the host
// attaches again (the same module, by the host's identity), or
// HandoverGrace passes.
//
// # For the HA pair
//
// The heartbeats' state and epoch are SetState's; SwitchRequest asks
// every session's VEM to attach here (a takeover); the epoch is persisted
// in the store (store.Epoch, store.SetEpoch) and a standalone VSM runs at
// the stored one, 1 for a new data file. A VSM that is not active keeps
// its sessions and heartbeats on them with its state, but attaches no VEM
// (an AttachRequest is ignored), refuses PortAttach, ignores PortDetach
// and sends no configuration; SetState away from active detaches the
// sessions, which attach again when asked by a switch request.
package vems
