package bpf

import (
	"fmt"
	"sync"
)

// Limits are the datapath's capacities, read from the generated types and
// the compiled object's map sizes rather than written down a second time:
// a desired state that exceeds one is refused before anything is written.
type Limits struct {
	// Segments is how many segments the segment table holds.
	Segments int
	// PortsPerSegment is how many local ports one segment floods to.
	PortsPerSegment int
	// VTEPsPerBridgeDomain is how many remote VTEPs one bridge domain
	// replicates to.
	VTEPsPerBridgeDomain int
	// Members is how many port-channel members the uplink hashes over.
	Members int
	// Ports is how many ports (vEths and uplink members) get a counter
	// slot; slot 0 counts unattributed drops.
	Ports int
}

var (
	limitsOnce sync.Once
	limits     Limits
	limitsErr  error
)

// Capacity returns the datapath's limits.
func Capacity() (Limits, error) {
	limitsOnce.Do(func() {
		spec, err := loadVem()
		if err != nil {
			limitsErr = fmt.Errorf("read datapath limits: %w", err)
			return
		}
		var seg vemVemSegment
		var up vemVemUplink
		limits = Limits{
			Segments:             int(spec.Maps[vemMapVemSegments].MaxEntries),
			PortsPerSegment:      len(seg.Ports),
			VTEPsPerBridgeDomain: len(seg.Vteps),
			Members:              len(up.Ifindex),
			Ports:                int(spec.Maps[vemMapVemStats].MaxEntries) - 1,
		}
	})
	return limits, limitsErr
}
