package config

// ApplyDefaults fills in what the file may leave out: instance "default",
// socket /run/vem/<instance>.sock, macAgeing DefaultMACAgeing, a VTEP port of
// DefaultVXLANPort, and for port-channels rate "fast" in LACP modes and hash
// "src-dst-mac" in modes that hash. Parse and Load call it; call it yourself
// before Validate on a Config built in code.
func (c *Config) ApplyDefaults() {
	if c.Instance == "" {
		c.Instance = "default"
	}
	if c.Socket == "" {
		c.Socket = "/run/vem/" + c.Instance + ".sock"
	}
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
		if isLACP(pc.Mode) && pc.Rate == "" {
			pc.Rate = RateFast
		}
		if hashes(pc.Mode) && pc.Hash == "" {
			pc.Hash = HashSrcDstMAC
		}
	}
}

// isLACP reports whether a port-channel mode runs LACP.
func isLACP(mode string) bool {
	return mode == ModeLACPActive || mode == ModeLACPPassive
}

// hashes reports whether a port-channel mode spreads flows by hash;
// mac-pinning pins each vEth to one member instead.
func hashes(mode string) bool {
	return isLACP(mode) || mode == ModeStatic
}
