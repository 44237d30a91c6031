package dpa

import (
	"context"

	"github.com/vem-switch/vem/headless"
	"github.com/vem-switch/vem/spec"
)

// Applier is what the DPA hands the VSM's configuration to: the agent,
// which applies it to the datapath. Its calls come one at a time, never
// while the DPA holds its state lock, so they may read the DPA's Status.
type Applier interface {
	// Apply applies a whole desired state (host facts merged with the
	// VSM's network, validated). An error refuses it: the running state
	// must stay as it was, and the DPA NACKs the snapshot with the error.
	Apply(ctx context.Context, sw *spec.Switch) error
	// SetRemoteMACs replaces the static remote MACs (MAC distribution)
	// with this whole set.
	SetRemoteMACs(ctx context.Context, macs []headless.RemoteMAC) error
}

// Checkpointer keeps what the DPA applied; *headless.Store is one.
type Checkpointer interface {
	Save(c headless.Checkpoint) error
}
