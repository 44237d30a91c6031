package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vem-switch/vem/spec"
)

// attachedStore keeps the ports attached at run time (by the libvirt hook
// or vemctl) in a JSON file, so a restarted agent keeps serving them.
type attachedStore struct {
	path string
}

type attachedPort struct {
	Interface string `json:"interface"`
	MAC       string `json:"mac"`
	Segment   string `json:"segment"`
	Profile   string `json:"profile,omitempty"`
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
	var ports []attachedPort
	if err := json.Unmarshal(data, &ports); err != nil {
		return nil, fmt.Errorf("parse attached ports %s: %w", s.path, err)
	}
	out := make([]spec.Port, len(ports))
	for i, p := range ports {
		out[i] = spec.Port{Interface: p.Interface, MAC: p.MAC, Segment: p.Segment, Profile: p.Profile}
	}
	return out, nil
}

// save writes the list atomically (write, fsync, rename).
func (s attachedStore) save(ports []spec.Port) error {
	if s.path == "" {
		return nil
	}
	list := make([]attachedPort, len(ports))
	for i, p := range ports {
		list[i] = attachedPort{Interface: p.Interface, MAC: p.MAC, Segment: p.Segment, Profile: p.Profile}
	}
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, data); err != nil {
		return fmt.Errorf("save attached ports: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data: write a temporary file beside
// it, fsync, rename. A crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
