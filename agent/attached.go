package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/vem-switch/vem/internal/fsutil"
	"github.com/vem-switch/vem/spec"
)

// attachedStore keeps the ports attached at run time (by the libvirt hook
// or vemctl) in a JSON file, so a restarted agent keeps serving them. The
// file holds spec.Port values in their JSON shape.
type attachedStore struct {
	path string
}

func (s attachedStore) load() ([]spec.Port, error) {
	if s.path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read attached ports: %w", err)
	}
	var ports []spec.Port
	if err := json.Unmarshal(data, &ports); err != nil {
		return nil, fmt.Errorf("parse attached ports %s: %w", s.path, err)
	}
	return ports, nil
}

// save writes the list atomically (write, fsync, rename, fsync the
// directory).
func (s attachedStore) save(ports []spec.Port) error {
	if s.path == "" {
		return nil
	}
	if ports == nil {
		ports = []spec.Port{}
	}
	data, err := json.MarshalIndent(ports, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, data); err != nil {
		return fmt.Errorf("save attached ports: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data, readable by root only; a crash
// leaves the old file or the new one, and the rename is durable.
func writeFileAtomic(path string, data []byte) error {
	return fsutil.WriteFileAtomic(path, data, 0o600)
}

// commitAttachedLocked makes attached the agent's ports attached at run
// time: in the state file and in the datapath. The file is written (and
// fsynced) while the engine applies, and the reply waits for both: the
// port must forward, and must survive a restart, but neither needs the
// other first. An apply that fails writes the old list back (as a save
// before the apply would have); a save that fails puts the datapath back
// to what the file holds. A crash in between leaves what saving first
// left: the file with or without the port, and the datapath following
// the file once the agent is back. The caller holds a.mu.
func (a *Agent) commitAttachedLocked(ctx context.Context, attached []spec.Port) error {
	saved := make(chan error, 1)
	go func() { saved <- a.store.save(attached) }()
	applyErr := a.engine.Apply(ctx, a.desiredLocked(a.base, attached))
	saveErr := <-saved
	switch {
	case applyErr != nil:
		if saveErr == nil {
			if err := a.store.save(a.attached); err != nil {
				a.log.Error("write the attached ports back after a failed apply", zap.Error(err))
			}
		}
		return applyErr
	case saveErr != nil:
		if err := a.engine.Apply(ctx, a.desiredLocked(a.base, a.attached)); err != nil {
			a.log.Error("put the datapath back after the attached ports could not be saved", zap.Error(err))
		}
		return saveErr
	}
	a.attached = attached
	return nil
}
