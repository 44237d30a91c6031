// Package lacp implements the Link Aggregation Control Protocol, IEEE
// 802.1AX (LACP version 1), for vem's port-channels.
//
// It has three layers:
//
//   - A codec: PDU (Marshal, Unmarshal, UnmarshalFrame) and Marker, which
//     reject malformed input with a *FormatError naming the field.
//   - An Aggregator per port-channel that runs the protocol machines of
//     every member port: receive (CURRENT/EXPIRED/DEFAULTED with a
//     current_while of 3 s fast or 90 s slow), periodic transmission (1 s or
//     30 s, as the partner asks; a passive port transmits only to an active
//     partner), mux (coupled control, with a configurable wait-while),
//     selection (members aggregate only towards one partner system and key,
//     with matching actor keys; at most MaxActive are active, the rest hot
//     standby, ranked by the port priorities of the system with the better
//     ID), churn detection and a Marker Responder. It does no I/O: PDUs go
//     out through a Transmitter, time comes from a clock.Clock (a
//     clocktest.Fake in tests), and the set of collecting/distributing ports, which the
//     datapath needs, is reported through Config.OnMembers whenever it
//     changes. Events (partner change, key mismatch, timeout, churn and so
//     on) are reported through Config.OnEvent for logging; Status is the
//     operator's view.
//   - Linux I/O: Conn, an AF_PACKET socket per member, and Runner, which
//     ties an Aggregator, its sockets, the members' link state from a
//     linkwatch.Watcher (shared through RunnerOptions.Links, or private)
//     and the clock together under a context.
//
// # Concurrency
//
// An Aggregator guards its state with a mutex, so inputs may come from any
// goroutine. Its outputs (Transmitter, OnMembers, OnEvent) are called without
// the mutex held, in order, one at a time, and may call back into it; see
// Aggregator.
//
// # Persistence and hitless restart
//
// The package stores nothing. The actor system ID (priority and MAC), the
// key and the port numbers identify the actor to its partner and must be the
// same after an agent restart, an upgrade or a failover, or the partner sees
// a new system and the bundle collapses: the caller persists them and passes
// them in Config every time.
//
// The same identity alone is not enough for an in-service restart: a fresh
// Aggregator starts out of sync and waits the wait-while time, and a
// partner that hears a member go out of sync stops using it. So the caller
// also persists the Checkpoint (Config.OnCheckpoint reports every change;
// Aggregator.Checkpoint or Runner.Checkpoint gives it on shutdown) and
// passes it to the successor in Config.Resume: the members it records
// start collecting and distributing, are reported at once, and the first
// LACPDU claims them in sync, so the partner sees nothing happen. Closing an
// Aggregator or stopping a Runner leaves the members as they were, for the
// checkpoint and for the datapath.
package lacp
