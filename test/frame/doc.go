// Package frame builds, sends and receives real Ethernet frames for vem's
// tests: byte-exact builders for Ethernet, 802.1Q, IPv4/UDP and ARP, and an
// AF_PACKET socket opened inside a test namespace that reports the VLAN tag
// the kernel strips on receive.
//
// On veth the kernel moves an 802.1Q tag out of a received frame's data into
// packet metadata; Socket.Recv reports it (Frame.Tagged, Frame.VLAN) from
// PACKET_AUXDATA, and Frame.WithTag rebuilds the bytes that were on the wire.
package frame
