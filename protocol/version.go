package protocol

import "fmt"

// The protocol version this package speaks.
const (
	VersionMajor = 1
	VersionMinor = 0
)

// CurrentVersion returns the protocol version this package speaks.
func CurrentVersion() *Version {
	return &Version{Major: VersionMajor, Minor: VersionMinor}
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
