// Package ovs runs a private Open vSwitch inside a test namespace and reads
// its LACP and bond state, so that vem's LACP can be tested against an
// independent implementation.
//
// Start creates a fresh database in a directory of the caller's, runs
// ovsdb-server and ovs-vswitchd in the namespace as processes the topology
// tracks and stops by PID, and points every OVS command at that directory
// (OVS_RUNDIR, OVS_DBDIR, OVS_LOGDIR, OVS_SYSCONFDIR, explicit sockets), so
// nothing touches the host's /var/run/openvswitch or a system OVS. Bridges
// use the userspace datapath (datapath_type=netdev): the openvswitch kernel
// module is not needed.
//
// The commands are run with os/exec rather than through
// github.com/digitalocean/go-openvswitch: its Client applies one flag list
// to ovs-vsctl and ovs-appctl alike (so a private --db and -t target cannot
// both be set), cannot set the environment, has no bond or LACP commands and
// creates bridges without a datapath type, which fails without the kernel
// module.
package ovs
