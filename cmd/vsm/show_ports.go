package main

import (
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/vem-switch/vem/vsm/api"
)

func newShowPortsCmd(o *options) *cobra.Command {
	return newShow(o, "ports", "Show the pre-created and bound ports", (*api.Client).Ports, renderPorts)
}

// renderPorts prints one row a port: where it is bound (module, vEth,
// host, interface) and what it is (ID, MAC, segment, profile, dynamic
// port profile).
func renderPorts(w io.Writer, r api.PortsResponse) error {
	t := newTable("MODULE", "VETH", "HOST", "INTERFACE", "ID", "MAC", "SEGMENT", "PROFILE", "PORT-PROFILE", "STATE")
	for _, p := range r.Ports {
		var module, veth, host, iface, pp string
		state := "unbound"
		if b := p.Binding; b != nil {
			module, veth, host, iface, pp = strconv.Itoa(b.Module), "Vethernet"+strconv.Itoa(b.Vethernet), b.Host, b.Interface, b.PortProfile
			state = "bound"
		}
		t.Row(module, veth, host, iface, p.ID, p.MAC, p.Segment, p.Profile, pp, state)
	}
	return t.Write(w)
}
