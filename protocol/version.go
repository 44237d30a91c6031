package protocol

import (
	"fmt"
	"strconv"
)

// The protocol version this source defines. A build may speak another
// minor version (see versionMinor); CurrentVersion is what it speaks.
const (
	VersionMajor = 1
	VersionMinor = 0
)

// versionMinor, when not empty, is the minor version this build speaks
// instead of VersionMinor, set at link time:
//
//	go build -ldflags "-X github.com/vem-switch/vem/protocol.versionMinor=1" ./cmd/vsm
//
// so that a rolling upgrade between two builds that differ in protocol
// minor version can be rehearsed with the same source. -X sets only
// strings; an invalid one stops the program at start.
var versionMinor string

// minor is the minor version this build speaks.
var minor = func() uint32 {
	m, err := parseMinor(versionMinor)
	if err != nil {
		panic(err)
	}
	return m
}()

// parseMinor is the minor version a build's versionMinor sets:
// VersionMinor if empty.
func parseMinor(s string) (uint32, error) {
	if s == "" {
		return VersionMinor, nil
	}
	m, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("protocol: the build's minor version %q is not a number", s)
	}
	return uint32(m), nil
}

// CurrentVersion returns the protocol version this build speaks.
func CurrentVersion() *Version {
	return &Version{Major: VersionMajor, Minor: minor}
}

// compatible reports whether a peer speaking v can talk to one speaking
// local: the same major, minors at most one apart.
func compatible(local, v *Version) error {
	if v == nil {
		return fmt.Errorf("%w: none given", ErrVersion)
	}
	if v.GetMajor() != local.GetMajor() {
		return fmt.Errorf("%w %s: this side speaks %s and accepts only major version %d",
			ErrVersion,
			versionString(v), versionString(local), local.GetMajor())
	}
	d := int64(v.GetMinor()) - int64(local.GetMinor())
	if d < -1 || d > 1 {
		return fmt.Errorf("%w %s: this side speaks %s and accepts minor versions %d..%d", ErrVersion,
			versionString(v), versionString(local), max(int64(local.GetMinor())-1, 0), local.GetMinor()+1)
	}
	return nil
}

// negotiate is the version two compatible peers speak: the lower minor.
func negotiate(a, b *Version) *Version {
	return &Version{Major: a.GetMajor(), Minor: min(a.GetMinor(), b.GetMinor())}
}

// versionString formats v as major.minor.
func versionString(v *Version) string {
	return fmt.Sprintf("%d.%d", v.GetMajor(), v.GetMinor())
}
