package protocol

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vem-switch/vem/spec"
)

// VEMSession is a VSM's session with one VEM, as ServerConfig.Serve gets
// it. Its methods are safe for concurrent use.
type VEMSession struct {
	s       *session
	hello   *Hello
	peer    Identity
	version *Version
	hbSeq   uint64 // heartbeats sent; guarded by hbMu
	hbMu    sync.Mutex
}

// Hello is what the VEM said when it opened the session.
func (v *VEMSession) Hello() *Hello { return v.hello }

// Peer is the VEM's verified identity (its host name).
func (v *VEMSession) Peer() Identity { return v.peer }

// Version is the protocol version the session speaks: the lower minor.
func (v *VEMSession) Version() *Version { return v.version }

// SendHeartbeat queues a heartbeat ahead of any bulk work. Its sequence
// number and send time are filled in. It never waits: ErrBusy means the
// VEM has stopped reading.
func (v *VEMSession) SendHeartbeat(hb *Heartbeat) error {
	v.hbMu.Lock()
	defer v.hbMu.Unlock()
	v.hbSeq++
	hb.Seq = v.hbSeq
	hb.SentUnixNano = time.Now().UnixNano()
	return v.s.sendControl(&Envelope{Body: &Envelope_Heartbeat{Heartbeat: hb}})
}

// SendSwitchRequest asks the VEM to attach to this VSM, which has just
// become active; it goes ahead of any bulk work.
func (v *VEMSession) SendSwitchRequest(r *SwitchRequest) error {
	return v.s.sendControl(&Envelope{Body: &Envelope_SwitchRequest{SwitchRequest: r}})
}

// Accept makes the VEM a module and sends it the full snapshot: the
// AttachAccepted goes ahead of bulk work, the snapshot follows in chunks.
// It returns the snapshot's nonce, which the VEM's ConfigAck or ConfigNack
// echoes.
func (v *VEMSession) Accept(ctx context.Context, a *AttachAccepted, snap *Snapshot) (uint64, error) {
	if err := v.s.sendControl(&Envelope{Body: &Envelope_AttachAccepted{AttachAccepted: a}}); err != nil {
		return 0, fmt.Errorf("accept: %w", err)
	}
	return v.SendConfig(ctx, snap)
}

// SendConfig sends a configuration (a full snapshot at its generation) in
// chunks of at most MaxChunkData bytes, waiting while the bulk queue is
// full; heartbeats overtake it chunk by chunk. It returns the nonce the
// VEM's answer echoes.
func (v *VEMSession) SendConfig(ctx context.Context, snap *Snapshot) (uint64, error) {
	return v.sendConfig(ctx, snap, MaxChunkData)
}

// sendConfig is SendConfig with a chosen chunk size (tests use small ones).
func (v *VEMSession) sendConfig(ctx context.Context, snap *Snapshot, chunkSize int) (uint64, error) {
	if err := checkSnapshot(snap); err != nil {
		return 0, fmt.Errorf("send config: %w", err)
	}
	nonce := v.s.nonce.Add(1)
	chunks, err := splitSnapshot(snap, nonce, chunkSize)
	if err != nil {
		return 0, fmt.Errorf("send config: %w", err)
	}
	envs := make([]*Envelope, len(chunks))
	for i, c := range chunks {
		envs[i] = &Envelope{Body: &Envelope_SnapshotChunk{SnapshotChunk: c}}
	}
	if err := v.s.sendBulk(ctx, envs...); err != nil {
		return 0, fmt.Errorf("send config: %w", err)
	}
	return nonce, nil
}

// SendBinding answers a port attach (or reports a binding made on the
// VSM), in order with other bulk messages.
func (v *VEMSession) SendBinding(ctx context.Context, b *PortBinding) error {
	if err := v.s.sendBulk(ctx, &Envelope{Body: &Envelope_PortBinding{PortBinding: b}}); err != nil {
		return fmt.Errorf("send binding: %w", err)
	}
	return nil
}

// SendMACs sends MAC distribution changes, split into messages of at most
// 2048 entries, removals first.
func (v *VEMSession) SendMACs(ctx context.Context, u *MacUpdate) error {
	var envs []*Envelope
	for _, part := range splitMACs(u, maxMACsPerUpdate) {
		envs = append(envs, &Envelope{Body: &Envelope_MacUpdate{MacUpdate: part}})
	}
	if err := v.s.sendBulk(ctx, envs...); err != nil {
		return fmt.Errorf("send MACs: %w", err)
	}
	return nil
}

// Recv returns the VEM's next message (*AttachRequest, *Detach,
// *ConfigAck, *ConfigNack, *PortAttach, *PortDetach), control messages
// first. After the session ends it returns what is pending, then the
// reason it ended.
func (v *VEMSession) Recv(ctx context.Context) (Event, error) { return v.s.recv(ctx) }

// Done is closed when the session ends.
func (v *VEMSession) Done() <-chan struct{} { return v.s.ctx.Done() }

// Err is why the session ended, nil while it runs.
func (v *VEMSession) Err() error { return v.s.err() }

// NewSnapshot builds the snapshot of generation gen: the network part of
// network (segments, profiles, ports) as canonical JSON, the VEM's bound
// ports and the remote MACs of its bridge domains.
func NewSnapshot(gen uint64, network *spec.Switch, bindings []*PortBinding, macs []*MacEntry) (*Snapshot, error) {
	data, err := EncodeNetwork(network)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Generation: gen, NetworkFormat: NetworkFormatJSON, Network: data, Bindings: bindings, Macs: macs}
	if err := checkSnapshot(s); err != nil {
		return nil, err
	}
	return s, nil
}

// splitMACs cuts an update into updates of at most n entries, removals
// before additions so that a MAC moving between VTEPs ends at its new one.
func splitMACs(u *MacUpdate, n int) []*MacUpdate {
	var out []*MacUpdate
	cur := &MacUpdate{}
	size := 0
	flush := func() {
		if size > 0 {
			out = append(out, cur)
			cur, size = &MacUpdate{}, 0
		}
	}
	for _, e := range u.GetRemove() {
		cur.Remove = append(cur.Remove, e)
		if size++; size == n {
			flush()
		}
	}
	for _, e := range u.GetAdd() {
		cur.Add = append(cur.Add, e)
		if size++; size == n {
			flush()
		}
	}
	flush()
	if len(out) == 0 {
		out = append(out, &MacUpdate{})
	}
	return out
}
