#!/usr/bin/env bash
# Installs what vem's make targets need on a fresh Debian machine, and only
# what is missing. Usage: scripts/deps.sh run|test|libvirt|bench|generate
set -euo pipefail

want=()
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || want+=("$2")
}

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
	[ -f /usr/include/libvirt/libvirt.h ] || want+=(libvirt-dev); need pkg-config pkg-config; need libvirtd libvirt-daemon ;;
libvirt) [ -f /usr/include/libvirt/libvirt.h ] || want+=(libvirt-dev); need pkg-config pkg-config ;;
bench) need ip iproute2; need nsenter util-linux; need ping iputils-ping; need iperf3 iperf3; need nstat iproute2 ;;
generate) need clang-19 clang-19; need llvm-strip-19 llvm-19; [ -f /usr/include/bpf/bpf_helpers.h ] || want+=(libbpf-dev); need protoc protobuf-compiler ;;
*) echo "usage: $0 run|test|libvirt|bench|generate" >&2; exit 2 ;;
esac

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
