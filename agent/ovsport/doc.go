// Package ovsport is the agent's Open vSwitch port source: on hosts where
// libvirt plugs VMs into an OVS bridge (<virtualport type='openvswitch'>),
// it follows the Interface table of ovsdb-server and turns the interfaces
// plugged for a VM into vEth ports, handed to the agent as one whole
// snapshot at a time, like the agent's other sources; and it marks the
// interfaces whose port forwards as OVN's ovn-controller does, with
// external_ids:ovn-installed="true", removed when the port no longer
// forwards.
//
// # What an interface says
//
// libvirt's virNetDevOpenvswitchAddPort writes on the Interface row, from
// the domain XML the libvirt hook reads (package agent/hook):
//
//	external_ids:iface-id      the virtualport's interfaceid
//	external_ids:attached-mac  the interface's <mac address>
//	external_ids:vm-id         the domain's UUID (vm-uuid is accepted too)
//	external_ids:port-profile  the virtualport's profileid, if any
//	external_ids:iface-status  "active" (others write "inactive")
//
// The mapping to a vem port is the hook's (hook.Port): the row's name is
// the tap (the target dev), attached-mac its MAC, iface-id its interface
// ID, port-profile its profile. What libvirt's interface XML cannot say,
// the hook reads from vem's <metadata> entry and this source from vem's
// own keys on the same row, with the same names and rules:
//
//	external_ids:vem-segment   the segment (else the file's ovs.segment)
//	external_ids:vem-profile   the profile; must agree with port-profile
//	external_ids:vem-ips       the port's addresses, space or comma separated
//
// A row without iface-id is not vem's and is never read further nor
// written. A row whose iface-status is "inactive" is not bound (its port
// detaches). A row whose external_ids are wrong (they are written by
// others: untrusted) is refused with the reason in the log; the other
// rows are not affected.
//
// # Sessions
//
// The source monitors the Interface table (OVSDB "monitor", RFC 7047):
// the monitor's first reply is the whole table and replaces everything the
// source held (a full resync at every (re)connection), the updates that
// follow change it. When ovsdb-server goes away the ports stay as they
// are and the source reconnects with backoff. The ovn-installed marks are
// written through github.com/digitalocean/go-openvswitch's ovsdb client
// (pure Go, JSON-RPC), whose Transact takes any operation; that client
// cannot monitor (a notification would reach its reply dispatch without
// an id), so the monitor runs on a connection of its own.
package ovsport
