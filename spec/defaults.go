package spec

// ApplyDefaults fills in what the file may leave out: instance "default",
// socket /run/vem/<instance>.sock, macAgeing DefaultMACAgeing, a VTEP port of
// DefaultVXLANPort, and for port-channels rate "fast" in LACP modes and hash
// "src-dst-mac" in modes that hash, and vsm.headlessAfter DefaultHeadlessAfter.
// Parse and Load call it; call it yourself
// before Validate on a Config built in code.
func (c *Switch) ApplyDefaults() {
	if c.Instance == "" {
		c.Instance = "default"
	}
	if c.Socket == "" {
		c.Socket = "/run/vem/" + c.Instance + ".sock"
	}
	c.applyVSMDefaults()
	c.applyOVSDefaults()
	if c.MACAgeing == 0 {
		c.MACAgeing = Duration(DefaultMACAgeing)
	}
	for i := range c.Segments {
		if c.Segments[i].Type == SegmentVXLAN && c.Segments[i].MTU == 0 {
			c.Segments[i].MTU = DefaultSegmentMTU
		}
	}
	if c.VTEP != nil && c.VTEP.Port == 0 {
		c.VTEP.Port = DefaultVXLANPort
	}
	for i := range c.PortChannels {
		pc := &c.PortChannels[i]
		if pc.Mode.IsLACP() && pc.Rate == "" {
			pc.Rate = RateFast
		}
		if pc.Mode.Hashes() && pc.Hash == "" {
			pc.Hash = HashSrcDstMAC
		}
	}
}
