#!/bin/busybox sh
# vem test guest init (package test/guest). Console: ttyS0; command
# channel: ttyS1.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "vem-guest: init, kernel $(uname -r), $(nproc) cpu"
for m in $(cat /lib/modules/load); do
	insmod "/lib/modules/$m.ko" || echo "vem-guest: insmod $m failed"
done
ip link set lo up
# One segment, several NICs: each answers ARP for its own address only.
sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2

# addr IFNAME prints the address vem.ip= gives IFNAME on the command line.
addr() {
	for a in $(cat /proc/cmdline); do
		case "$a" in vem.ip="$1":*) echo "${a#vem.ip=$1:}" ;; esac
	done
}

# The command channel: each line read on ttyS1 runs in sh; its output and
# then "vem-guest-done RC" go back on ttyS1.
if [ -e /dev/ttyS1 ]; then
	(
		stty -F /dev/ttyS1 raw -echo 2>/dev/null
		while read -r line; do
			sh -c "$line" </dev/null >/dev/ttyS1 2>&1
			echo "vem-guest-done $?" >/dev/ttyS1
		done </dev/ttyS1
	) &
fi

up=" "
while :; do
	now=" "
	for d in /sys/class/net/*; do
		n="${d##*/}"
		[ "$n" = lo ] && continue
		now="$now$n "
		case "$up" in *" $n "*) continue ;; esac
		ip link set "$n" up
		a="$(addr "$n")"
		[ -n "$a" ] && ip addr add "$a" dev "$n"
		echo "vem-guest: up $n mac $(cat "$d/address") addr ${a:-none}"
	done
	for n in $up; do
		case "$now" in *" $n "*) ;; *) echo "vem-guest: gone $n" ;; esac
	done
	up="$now"
	sleep 0.2
done
