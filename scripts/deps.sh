#!/usr/bin/env bash
# Installs what vem's make targets need on a fresh Debian machine, and only
# what is missing. Usage: scripts/deps.sh run|test|libvirt|bench|generate
set -euo pipefail

want=()
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || want+=("$2")
}

# guests: real QEMU guests under a private libvirtd (test/guest,
# test/libvirtd, test/e2e/qemu_*, bench -guests). The guest's kernel is
# fetched with apt-get download (linux-image-amd64), not installed.
guests() {
	need qemu-system-x86_64 qemu-system-x86; need virsh libvirt-clients; need libvirtd libvirt-daemon
	[ -f /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] || want+=(libvirt-daemon-driver-qemu)
	dpkg -s busybox-static >/dev/null 2>&1 || want+=(busybox-static)
	need unshare util-linux; need iperf3 iperf3
	apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt_update=1
}
apt_update=0

case "${1:-test}" in
run) need ip iproute2; need nsenter util-linux; need ping iputils-ping ;;
test) need ip iproute2; need nsenter util-linux; need ping iputils-ping; need tcpdump tcpdump; need iperf3 iperf3; need tshark tshark
	# The tests rebuild the eBPF objects to prove the committed ones current.
	need clang-19 clang-19; need llvm-strip-19 llvm-19; [ -f /usr/include/bpf/bpf_helpers.h ] || want+=(libbpf-dev)
	need ovs-vswitchd openvswitch-switch
	need protoc protobuf-compiler
	# systemd-analyze verifies the units, setpriv runs the agent with the
	# unit's capabilities (deploy/).
	need systemd-analyze systemd; need setpriv util-linux
	# promtool checks a real scrape of /metrics (test/e2e/metrics_test.go).
	need promtool prometheus
	# libvirt's headers and pkg-config build the libvirt watcher's cgo
	# package (cmd/vem-libvirt, agent/libvirtwatch/libvirtconn); its tests
	# use libvirt's test driver, in-process and behind a private libvirtd.
	[ -f /usr/include/libvirt/libvirt.h ] || want+=(libvirt-dev); need pkg-config pkg-config; need libvirtd libvirt-daemon
	guests ;;
libvirt) [ -f /usr/include/libvirt/libvirt.h ] || want+=(libvirt-dev); need pkg-config pkg-config ;;
bench) need ip iproute2; need nsenter util-linux; need ping iputils-ping; need iperf3 iperf3; need nstat iproute2
	guests ;;
generate) need clang-19 clang-19; need llvm-strip-19 llvm-19; [ -f /usr/include/bpf/bpf_helpers.h ] || want+=(libbpf-dev); need protoc protobuf-compiler ;;
*) echo "usage: $0 run|test|libvirt|bench|generate" >&2; exit 2 ;;
esac

if [ "$apt_update" = 1 ] && [ ${#want[@]} -eq 0 ] && [ "$(id -u)" = 0 ]; then
	apt-get update -qq # the guest's kernel package must be known
fi
if [ ${#want[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages: ${want[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "installing: ${want[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

# bpffs: the agent mounts it itself, but tests that load programs directly
# need it too.
if [ "$(id -u)" = 0 ] && ! stat -f -c %T /sys/fs/bpf 2>/dev/null | grep -q bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
