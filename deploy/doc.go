// Package deploy holds no code: its directory holds what runs vem on a
// host, the systemd units (systemd/), the Kubernetes DaemonSet
// (kubernetes/) and an example agent file, and its tests check them: the
// units with systemd-analyze verify, the manifest decoded strictly against
// the Kubernetes API types, make install's tree (the agent's versions side
// by side under /usr/lib/vem, current linking the one the unit starts) and
// make install-libvirt's, the agent running on a namespace topology with
// only the capabilities the unit grants it, and vem-libvirt with none.
package deploy
