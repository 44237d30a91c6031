package spec

// Limits are the capacities of the datapath a Switch is applied to. The
// agent passes the ones its eBPF objects declare (bpf.Capacity); a
// supervisor that validates for hosts it cannot see uses DefaultLimits.
type Limits struct {
	// Segments is how many segments one switch may hold.
	Segments int
	// PortsPerSegment is how many admin-up vEths one segment floods to.
	PortsPerSegment int
	// VTEPsPerBridgeDomain is how many remote VTEPs one bridge domain
	// replicates to.
	VTEPsPerBridgeDomain int
	// Members is how many members one port-channel may have.
	Members int
	// Ports is how many ports (vEths and uplink members) one switch may
	// hold.
	Ports int
}

// DefaultLimits are the capacities of this release's datapath; the
// agent's tests keep them equal to what its eBPF objects declare.
var DefaultLimits = Limits{
	Segments:             4096,
	PortsPerSegment:      64,
	VTEPsPerBridgeDomain: 32,
	Members:              16,
	Ports:                4095,
}
