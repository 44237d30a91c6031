// Package protocol is the VEM-VSM control protocol: gRPC over mutual TLS,
// one long-lived bidirectional stream (Supervisor.Connect) per VEM and
// VSM. The VSM end is Server and VEMSession (cmd vsm), the VEM end Dial
// and VSMSession (the DPA). The messages are in vem.proto; vem.pb.go and
// vem_grpc.pb.go are generated from it and committed, and `make generate`
// rebuilds them.
//
// # Messages
//
// Every message travels in an Envelope that carries the domain ID. From
// the VEM: Hello (host, version, last configuration generation, module it
// held, VTEP), AttachRequest (this VSM is the one to attach to: at start,
// after a SwitchRequest, when headless), ConfigAck and ConfigNack (the
// snapshot's generation and nonce, as Envoy's xDS acknowledges or refuses
// a versioned resource), PortAttach and PortDetach, Detach (leaving for
// another VSM, or, marked handover, handed over to the agent's successor
// on the host). From the VSM:
// Welcome (its name, role, version), Heartbeat every second (name, role,
// state, epoch, generation, sequence number, send time), SwitchRequest,
// AttachAccepted (module 3 and up), the configuration as SnapshotChunks,
// PortBinding (vEth number, dynamic profile, or why refused) and MacUpdate
// (MAC distribution: the MAC and VTEP of every bound port of the VEM's
// bridge domains, so VXLAN needs no flood-and-learn). A VEM keeps a
// session with every VSM, to hear all their heartbeats, and attaches to
// one; the VSM answers an attach with AttachAccepted and a full snapshot.
//
// # How the configuration travels
//
// There is one desired-state model, package spec, and the protocol does
// not copy it into protobuf: a Snapshot carries the network part of a
// spec.Switch (segments, profiles, ports) as the JSON spec's tags define
// (network_format 1), beside typed protobuf for what spec does not hold
// (bindings, remote MACs). A protobuf mirror of spec would be a second
// model to keep in step with every field spec grows, with its own
// validation to drift from spec's. The VEM decodes the JSON strictly
// (DecodeNetwork: size-capped, unknown fields and trailing data refused,
// host facts refused since they belong to the VEM's own file), merges it
// with its host facts (MergeNetwork) and validates the whole with
// spec.Switch.Validate before the application sees it; a snapshot that
// fails is refused with a ConfigNack carrying the problems, and the VEM
// keeps what it had. Every configuration is a full snapshot at a
// generation (xDS's state of the world): a newer one that arrives before
// the application took the older replaces it, and only the newest is
// acknowledged. Bindings and MAC changes in between are small messages of
// their own, kept in order with the snapshots.
//
// # Heartbeats first
//
// Nexus 1000V lost VEMs when a flood starved its heartbeats
// (CVE-2013-1213), so control traffic here never queues behind bulk work.
// Each end of a session has one writer that sends every waiting control
// message (Heartbeat, SwitchRequest, AttachAccepted, AttachRequest,
// ConfigAck, ConfigNack) before the next bulk one (snapshot chunks,
// bindings, MAC updates, port events, Detach, each kept in order). A
// snapshot is cut into chunks of at most MaxChunkData bytes with its
// generation, nonce, sequence number, size and SHA-256, so a heartbeat
// waits at most for one chunk already in Send plus what the transport has
// buffered (grpc-go's 64 KiB per-stream write quota). HTTP/2 flow control
// is per stream and the heartbeats share the stream with the chunks, so
// the receiving end must never stop reading: its reader only checks
// messages, records heartbeats (VSMSession.LastHeartbeat, for failure
// detection whatever the application is doing) and reassembles chunks;
// decoding and validating a snapshot happen in Recv, on the application's
// time, and received messages wait in an inbox that hands out control
// messages first and is bounded by coalescing configurations and by a
// count. One stream rather than a heartbeat stream beside a bulk one keeps
// one session state per VEM, one ordering, and the issue's "one stream per
// VEM"; the writer's priority gives the same isolation. Heartbeats are
// application messages because grpc-go's keepalive cannot go below 10 s;
// keepalive runs at that floor only to find dead TCP connections.
// Against connection floods, the server bounds the TLS handshake and
// Hello (10 s), refuses more than MaxSessions sessions and one
// connection's second stream, and every session has its own goroutines.
//
// # Memory per session
//
// A VSM holds thousands of sessions, mostly idle but for a heartbeat a
// second, and what each one keeps is goroutine stacks and buffers. A
// session's reader is its one parked goroutine of the protocol's own:
// ServerConfig.Serve runs on the stream's handler goroutine, and the
// writer is a goroutine only while something waits to be sent (it starts
// when a message is queued on an idle session and leaves when both queues
// are empty); the queues hold no array while empty. Beside them gRPC runs
// three goroutines per connection (its reader, its writer and keepalive).
//
// # Versions, domains and refusals
//
// The Hello carries the VEM's version, the Welcome the VSM's; the majors
// must match and the minors may differ by one, and the session speaks the
// lower minor (a minor version only adds fields, which the older side
// ignores). Every message is checked on receipt: its domain, that its
// kind may come from that peer, its fields and sizes (MaxMessageSize is
// enforced by gRPC before decoding). The certificates say who is who:
// the subject's organizational unit is the kind (vsm or vem), the common
// name (also a DNS name) the VSM's name or the VEM's host; a VEM's Hello
// must name the host of its certificate, a VSM's Welcome and heartbeats
// the name of its. A refusal ends only the session concerned, is logged,
// and reaches the peer as a gRPC status that errors.Is matches against
// ErrDomain, ErrVersion, ErrIdentity, ErrMalformed, ErrTooLarge or
// ErrBusy.
package protocol
