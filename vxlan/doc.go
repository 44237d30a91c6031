// Package vxlan holds vem's VXLAN model: the bridge domains of VXLAN
// segments (VNI, MTU and the head-end replication list of remote VTEPs),
// the local VTEP and the underlay interface it sends on, and the next
// hops of remote VTEPs that the agent keeps resolved for the datapath.
//
// The encapsulation itself is done by the eBPF programs (bpf/src/vxlan.h);
// this package decides what they are given.
package vxlan
