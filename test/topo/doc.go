// Package topo builds network-namespace topologies for vem's end-to-end
// tests, demo and benchmarks, and always tears them down.
//
// A Topology owns every namespace it creates (named "<prefix>-<name>", made
// with "ip netns add" so they show in "ip netns list"), every process started
// in them, and a list of teardown hooks. Close stops the processes by PID,
// runs the hooks and deletes the namespaces, which destroys the veths inside.
// Nothing is ever created in the root network namespace.
//
// Commands run in a namespace two ways. Run and Start use "ip netns exec",
// which also enters a private mount namespace and remounts /sys: that hides
// the host's /sys/fs/bpf. RunNetOnly and StartNetOnly use "nsenter --net",
// which switches only the network namespace; the vem agent must run that way
// so its bpffs pins land in the host's /sys/fs/bpf.
//
// The package is not tied to package testing; ForTest and RequireRoot in
// testing.go are conveniences for tests.
package topo
