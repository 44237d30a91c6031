package spec

// Segment returns the segment called name.
func (c *Switch) Segment(name string) (*Segment, bool) {
	for i := range c.Segments {
		if c.Segments[i].Name == name {
			return &c.Segments[i], true
		}
	}
	return nil, false
}

// Profile returns the profile called name.
func (c *Switch) Profile(name string) (*Profile, bool) {
	for i := range c.Profiles {
		if c.Profiles[i].Name == name {
			return &c.Profiles[i], true
		}
	}
	return nil, false
}

// PortChannel returns the port-channel called name.
func (c *Switch) PortChannel(name string) (*PortChannel, bool) {
	for i := range c.PortChannels {
		if c.PortChannels[i].Name == name {
			return &c.PortChannels[i], true
		}
	}
	return nil, false
}

// PortPolicy returns the profile that applies to p: the one it names, or
// DefaultProfile when it names none. Secure by default: an open port is
// an explicit profile.
func (c *Switch) PortPolicy(p Port) Profile {
	if prof, ok := c.Profile(p.Profile); ok && p.Profile != "" {
		return *prof
	}
	return DefaultProfile
}

// DefaultProfile is the policy of a port that names no profile: admin up
// with port security.
var DefaultProfile = Profile{PortSecurity: true}

// UplinkInterfaces returns the physical interfaces behind the uplink: the
// members of the port-channel it names, in file order, or the uplink
// interface itself. It is empty when there is no uplink.
func (c *Switch) UplinkInterfaces() []string {
	if c.Uplink == "" {
		return nil
	}
	if pc, ok := c.PortChannel(c.Uplink); ok {
		ifaces := make([]string, len(pc.Members))
		for i, m := range pc.Members {
			ifaces[i] = m.Interface
		}
		return ifaces
	}
	return []string{c.Uplink}
}
