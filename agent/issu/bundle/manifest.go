package bundle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
)

// ManifestFile is the manifest's name in a bundle.
const ManifestFile = "manifest.json"

// AgentFile is the agent binary's name in a bundle.
const AgentFile = "vem-agent"

// Format is the manifest format this package writes and reads.
const Format = 1

// maxManifest bounds the manifest read: a bundle's is a few hundred bytes.
const maxManifest = 64 << 10

// Manifest is a bundle's manifest.json:
//
//	{
//	  "format": 1,
//	  "version": "1.3.0",
//	  "protocol": "1.0",
//	  "upgradesFrom": "1.2.0",
//	  "downgradesTo": "1.2.0",
//	  "files": {"vem-agent": "<sha256 hex>"}
//	}
type Manifest struct {
	// Format is the manifest's format: 1.
	Format int `json:"format"`
	// Version is the agent's version as `vem-agent --version` prints it
	// and as the install directory is named: letters, digits, ".", "_",
	// "+", "-", at most 64, not starting with "." or "-". A semantic
	// version (1.3.0, v1.3.0-rc.1) is ordered against the others; any other
	// name (a commit, "dev") is not, and then the floors below must be
	// empty.
	Version string `json:"version"`
	// Protocol is the VEM–VSM control protocol version (major.minor) the
	// agent speaks. A bundle whose major differs from the running one's, or
	// whose minor is more than one away, is refused: the VSM pair would
	// not accept both during the window.
	Protocol string `json:"protocol"`
	// UpgradesFrom, if set, is the oldest version this one takes over
	// (adopts and migrates the pins and state of); a running agent older
	// than it is refused.
	UpgradesFrom string `json:"upgradesFrom,omitempty"`
	// DowngradesTo, if set, is the oldest version that can take over from
	// this one (a rollback to anything older is refused).
	DowngradesTo string `json:"downgradesTo,omitempty"`
	// Files maps every file of the bundle but the manifest (slash-separated
	// paths relative to the bundle) to its SHA-256, hex. It holds AgentFile.
	Files map[string]string `json:"files"`
}

var versionName = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,63}$`)

// reservedNames are the install root's own entries, never a version.
var reservedNames = []string{"current", "previous"}

// CheckVersion reports whether v can name a version (and its install
// directory).
func CheckVersion(v string) error {
	if v == "" {
		return errors.New("empty")
	}
	if !versionName.MatchString(v) {
		return fmt.Errorf("%q: want letters, digits, '.', '_', '+', '-' (at most 64, not starting with '.' or '-')", v)
	}
	if slices.Contains(reservedNames, v) || strings.Contains(v, "..") {
		return fmt.Errorf("%q is reserved", v)
	}
	return nil
}

// canonical is v as a semantic version ("v" prefixed), or "" if it is
// not one.
func canonical(v string) string {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return ""
	}
	return v
}

// Compare orders two versions: -1, 0 or +1, and ok false when either is
// not a semantic version (they cannot be ordered).
func Compare(a, b string) (c int, ok bool) {
	ca, cb := canonical(a), canonical(b)
	if ca == "" || cb == "" {
		return 0, false
	}
	return semver.Compare(ca, cb), true
}

// ParseProtocol parses a major.minor protocol version.
func ParseProtocol(s string) (major, minor uint32, err error) {
	maj, min, ok := strings.Cut(s, ".")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want major.minor", s)
	}
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%q: want major.minor, two numbers", s)
	}
	return uint32(a), uint32(b), nil
}

// ParseManifest decodes and checks a manifest: unknown fields, a second
// JSON value, a missing or malformed field each fail with an error naming
// the field.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > maxManifest {
		return nil, fmt.Errorf("%s: larger than %d bytes", ManifestFile, maxManifest)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: data after the manifest object", ManifestFile)
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Check checks every field, naming the first that is wrong.
func (m *Manifest) Check() error {
	field := func(name string, err error) error {
		return fmt.Errorf("%s: %s: %w", ManifestFile, name, err)
	}
	if m.Format != Format {
		return field("format", fmt.Errorf("%d: this version reads format %d", m.Format, Format))
	}
	if err := CheckVersion(m.Version); err != nil {
		return field("version", err)
	}
	if _, _, err := ParseProtocol(m.Protocol); err != nil {
		return field("protocol", err)
	}
	for _, f := range []struct{ name, v string }{{"upgradesFrom", m.UpgradesFrom}, {"downgradesTo", m.DowngradesTo}} {
		if f.v == "" {
			continue
		}
		if canonical(f.v) == "" {
			return field(f.name, fmt.Errorf("%q is not a semantic version (1.2.0)", f.v))
		}
		if canonical(m.Version) == "" {
			return field(f.name, fmt.Errorf("set, but version %q is not a semantic version and cannot be ordered", m.Version))
		}
		if c, _ := Compare(f.v, m.Version); c > 0 {
			return field(f.name, fmt.Errorf("%s is newer than version %s", f.v, m.Version))
		}
	}
	if len(m.Files) == 0 {
		return field("files", errors.New("missing"))
	}
	if _, ok := m.Files[AgentFile]; !ok {
		return field("files", fmt.Errorf("no %s", AgentFile))
	}
	for name, sum := range m.Files {
		if err := checkFileName(name); err != nil {
			return field("files", err)
		}
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return field("files", fmt.Errorf("%s: sha256 %q is not 64 hex digits", name, sum))
		}
	}
	return nil
}

// checkFileName refuses a file name that could leave the bundle or shadow
// the manifest.
func checkFileName(name string) error {
	switch {
	case name == "" || name != path.Clean(name) || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../"):
		return fmt.Errorf("%q is not a clean path inside the bundle", name)
	case name == ManifestFile:
		return fmt.Errorf("%q lists the manifest itself", name)
	case strings.ContainsAny(name, "\\\x00"):
		return fmt.Errorf("%q holds a backslash or NUL", name)
	}
	return nil
}

// Marshal encodes the manifest as it is written: indented, names sorted.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
