package protocol

import "time"

// Size limits. Every message is bounded so that no peer can make another
// buffer without end, and bulk data travels in pieces small enough that a
// heartbeat never waits behind more than one of them.
const (
	// MaxMessageSize is the largest Envelope either side sends or
	// accepts; gRPC refuses a larger one before it is decoded.
	MaxMessageSize = 256 << 10
	// MaxChunkData is the most snapshot bytes one SnapshotChunk carries.
	MaxChunkData = 32 << 10
	// MaxSnapshotSize is the largest serialized Snapshot a VEM accepts.
	MaxSnapshotSize = 64 << 20
	// MaxChunks is the most chunks one snapshot may come in (senders may
	// cut smaller chunks than MaxChunkData).
	MaxChunks = 1 << 20
	// MaxNameLen bounds host, VSM, profile, segment and interface names
	// and other identifiers in messages.
	MaxNameLen = 253
	// MaxReasonLen bounds the free text of Detach, ConfigNack and refused
	// bindings.
	MaxReasonLen = 4096
	// MaxMACEntries bounds the remote MACs of one Snapshot; a MacUpdate
	// holds at most 2048 entries (SendMACs splits larger ones).
	MaxMACEntries = 1 << 20
	// MaxPortIPs bounds the addresses of one PortAttach.
	MaxPortIPs = 64
	// MinModule is the first module number a VEM can hold: the VSMs are
	// modules 1 and 2.
	MinModule = 3
	// MaxModule is the highest module number.
	MaxModule = 1<<16 - 1
	// MaxDomain is the highest domain ID; domain IDs start at 1.
	MaxDomain = 4095
)

// Timing.
const (
	// HeartbeatInterval is how often a VSM sends each VEM a heartbeat.
	HeartbeatInterval = time.Second
	// handshakeTimeout bounds the TLS handshake and the Hello/Welcome
	// exchange, so that a connection flood cannot hold sessions open.
	handshakeTimeout = 10 * time.Second
	// keepaliveTime is the gRPC keepalive period: grpc-go refuses less
	// than 10 s, which is why heartbeats are application messages.
	keepaliveTime = 10 * time.Second
	// writerDrainTimeout is how long a closing session waits for its
	// writer to leave a blocked Send.
	writerDrainTimeout = 5 * time.Second
)

// Queue sizes of a session.
const (
	// controlQueue holds control messages waiting for the wire. It only
	// fills when the peer stops reading altogether.
	controlQueue = 256
	// bulkQueue holds bulk messages (chunks, bindings, MAC updates, port
	// events) waiting for the wire; senders block while it is full.
	bulkQueue = 8
	// maxPendingEvents bounds the received messages the application has
	// not taken yet (configurations coalesce, so they count once).
	maxPendingEvents = 1 << 16
)
