package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

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
