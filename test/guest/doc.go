// Package guest builds and describes a minimal QEMU guest for vem's tests
// on real virtual machines: Debian's kernel (the linux-image-amd64
// package, fetched with apt-get download and unpacked, never installed)
// and a busybox-static initramfs whose init
//
//   - mounts proc, sys and dev and loads virtio_net and the modules it
//     needs (copied from the kernel package, in dependency order),
//   - brings up each NIC and gives it the address the kernel command line
//     names for it (vem.ip=eth0:192.0.2.11/24), and keeps doing so for NICs
//     that appear later (hot-plug), logging "vem-guest: up eth1 ..." on the
//     console and "vem-guest: gone eth1" when one goes,
//   - runs the command lines it reads on its second serial port (the
//     command channel, see Console), so a test can ping or run iperf3 from
//     inside the guest.
//
// The kernel answers ping by itself. Build caches the result keyed by the
// kernel and busybox package versions and the init script, so only the
// first run of a machine pays for the download (about 70 MB).
package guest
