// Package headless keeps what a VEM needs to forward without its VSM: the
// checkpoint of the last configuration it applied, so that an agent
// restarted (even after kill -9), or a host rebooted while no VSM is
// reachable, comes back on its last known configuration and goes on
// serving the ports whose profile and segment it knows.
//
// A Checkpoint holds the applied configuration (a spec.Switch), its
// generation, the module number, the VSM the VEM was attached to and its
// epoch, the port bindings and the remote MACs. Store keeps one in a
// bbolt file, replaced whole in one transaction at every apply, so a
// crash leaves either the old checkpoint or the new one, never a mix.
//
// The stored value is JSON with a schema version (Schema); the file
// carries a magic value and the schema too. A file of another program, a
// newer schema or a value that does not decode and validate is refused
// with an error matching ErrForeign, ErrSchema or ErrCorrupt: never
// silently dropped, since forwarding on an empty configuration would tear
// down every port.
package headless
