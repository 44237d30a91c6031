package agent

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/vem-switch/vem/spec"
)

// MaxConfigFileSize caps what the agent reads of a configuration file:
// a few times the largest valid one (every port slot and segment used),
// so a runaway file is refused at once instead of parsed for minutes.
const MaxConfigFileSize = 2 << 20

// fileSource is the standalone configuration file.
type fileSource struct {
	path string
	sum  [sha256.Size]byte // of the content last read
}

// load reads and parses the file; the sum is of what was read, also when
// it does not parse, so an unchanged bad file is not reported again.
func (f *fileSource) load() (*spec.Switch, [sha256.Size]byte, error) {
	data, err := readCapped(f.path)
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	sum := sha256.Sum256(data)
	cfg, err := spec.Parse(data)
	if err != nil {
		return nil, sum, fmt.Errorf("%s: %w", f.path, err)
	}
	return cfg, sum, nil
}

// changed reports whether the file's content differs from the last read.
func (f *fileSource) changed() bool {
	data, err := readCapped(f.path)
	if err != nil {
		return false
	}
	return sha256.Sum256(data) != f.sum
}

// readCapped reads a configuration file of at most MaxConfigFileSize.
func readCapped(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxConfigFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read configuration %s: %w", path, err)
	}
	if len(data) > MaxConfigFileSize {
		return nil, fmt.Errorf("configuration %s is larger than %d bytes; no valid configuration is", path, MaxConfigFileSize)
	}
	return data, nil
}

// LoadFile reads and parses a configuration file as the agent does.
func LoadFile(path string) (*spec.Switch, error) {
	cfg, _, err := (&fileSource{path: path}).load()
	return cfg, err
}
