/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Port security of vEths beyond the source MAC (Neutron's anti-spoofing
 * and its DHCP and RA guard), link-local destinations and storm control.
 *
 * What applies where:
 *   every vEth          link-local destinations (vem_link_local), storm
 *                       control (vem_storm_ok);
 *   secured vEth        extra source MACs (vem_pair_mac), and unless it is
 *                       trusted, the DHCP and RA guard (vem_portsec);
 *   secured, bound vEth source IPv4/IPv6 addresses, ARP and neighbour
 *                       discovery against the port's bindings (vem_portsec);
 *   open vEth           the MAC limit (learn.h).
 * Each check returns VEM_PASS or the drop reason. */
#ifndef VEM_PORTSEC_H
#define VEM_PORTSEC_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include "maps.h"
#include "eth.h"

#define VEM_PASS (-1)

#define VEM_ETH_P_MAC_CONTROL 0x8808 /* PAUSE, PFC */
#define VEM_LL_PAUSE 1               /* its link-local kind: 01:80:c2:00:00:01 */

#define VEM_DHCP4_SERVER 67
#define VEM_DHCP4_CLIENT 68
#define VEM_DHCP6_CLIENT 546
#define VEM_DHCP6_SERVER 547

#define VEM_ICMP6_MLD_REPORT 131
#define VEM_ICMP6_MLD_DONE 132
#define VEM_ICMP6_RA 134
#define VEM_ICMP6_NS 135
#define VEM_ICMP6_NA 136
#define VEM_ICMP6_REDIRECT 137
#define VEM_ICMP6_MLD2_REPORT 143

#define VEM_ND_OPT_SLLA 1
#define VEM_ND_OPT_TLLA 2

#define VEM_IP6_EXT_MAX 4   /* extension headers walked to find the upper layer */
#define VEM_ND_OPTS_MAX 4   /* neighbour discovery options looked at */

#define VEM_STORM_BURST_NS 1000000000ULL /* a second's worth of packets back to back */

/* ARP for IPv4 over Ethernet (RFC 826). */
struct vem_arp {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

/* ICMPv6 neighbour solicitation and advertisement (RFC 4861 4.3, 4.4). */
struct vem_nd {
	__u8 type;
	__u8 code;
	__be16 csum;
	__be32 flags;
	struct in6_addr target;
};

/* vem_link_local returns VEM_DROP_LINK_LOCAL for a frame to an IEEE 802.1
 * reserved address 01:80:c2:00:00:0X, or a MAC control frame (PAUSE, PFC:
 * EtherType 0x8808, to any address), that the port may not send: bit X
 * of the port's link_local allows 01:80:c2:00:00:0X, bit 1 MAC control. */
static __always_inline int vem_link_local(const struct vem_port *port, const struct ethhdr *eth)
{
	const __u8 *d = eth->h_dest;
	__u32 kind;

	if (eth->h_proto == bpf_htons(VEM_ETH_P_MAC_CONTROL))
		kind = VEM_LL_PAUSE;
	else if (*(const __u32 *)d == bpf_htonl(0x0180c200) && d[4] == 0 && d[5] < 16)
		kind = d[5];
	else
		return VEM_PASS;
	return (port->link_local >> kind) & 1 ? VEM_PASS : VEM_DROP_LINK_LOCAL;
}

/* vem_pair_mac reports whether mac is an extra source MAC of the port in
 * slot (an allowed address pair's). */
static __always_inline int vem_pair_mac(__u16 slot, const __u8 *mac)
{
	struct vem_port_mac k = { .slot = slot };

	vem_mac_copy(k.mac, mac);
	return bpf_map_lookup_elem(&vem_port_macs, &k) != NULL;
}

static __always_inline int vem_ip6_unspecified(const struct in6_addr *a)
{
	return (a->in6_u.u6_addr32[0] | a->in6_u.u6_addr32[1] | a->in6_u.u6_addr32[2] |
		a->in6_u.u6_addr32[3]) == 0;
}

/* vem_bound_maps reports whether the address in k->addr is bound to the
 * port for the source MAC smac in the binding maps: the port's own
 * bindings (key MAC zero) when smac is the port's MAC, else those of the
 * pair with that MAC; a binding written with the port's MAC spelled out
 * is found too. Single addresses are one hash lookup; only a miss walks
 * the prefix trie. */
static __always_inline int vem_bound_maps(const struct vem_port *port, const __u8 *smac, int own,
					  struct vem_addr_key *k)
{
	k->prefixlen = VEM_ADDR_KEY_BITS;
	k->slot = port->slot;
	if (!own)
		vem_mac_copy(k->mac, smac);
	if (bpf_map_lookup_elem(&vem_host_addrs, k) || bpf_map_lookup_elem(&vem_addrs, k))
		return 1;
	if (!own)
		return 0;
	vem_mac_copy(k->mac, smac);
	return bpf_map_lookup_elem(&vem_host_addrs, k) || bpf_map_lookup_elem(&vem_addrs, k);
}

/* vem_bound4 reports whether IPv4 addr is bound to the port for source
 * MAC smac: one of the port entry's own addresses, or in the maps. */
static __always_inline int vem_bound4(const struct vem_port *port, const __u8 *smac, __be32 addr)
{
	struct vem_addr_key k = { .family = 4 };
	int own = vem_mac_eq(smac, port->mac);

	if (addr == 0)
		return 0; /* unused entries are 0.0.0.0; the callers allow it where it may be */
	if (own) {
#pragma unroll
		for (int i = 0; i < VEM_PORT_ADDRS; i++)
			if (port->addr4[i] == addr)
				return 1;
	}
	__builtin_memcpy(k.addr, &addr, 4);
	return vem_bound_maps(port, smac, own, &k);
}

static __always_inline int vem_bound6(const struct vem_port *port, const __u8 *smac,
				      const struct in6_addr *addr)
{
	struct vem_addr_key k = { .family = 6 };
	int own = vem_mac_eq(smac, port->mac);
	const __be32 *a = addr->in6_u.u6_addr32;

	if (vem_ip6_unspecified(addr))
		return 0;
	if (own) {
#pragma unroll
		for (int i = 0; i < VEM_PORT_ADDRS; i++)
			if (port->addr6[i][0] == a[0] && port->addr6[i][1] == a[1] &&
			    port->addr6[i][2] == a[2] && port->addr6[i][3] == a[3])
				return 1;
	}
	__builtin_memcpy(k.addr, addr, 16);
	return vem_bound_maps(port, smac, own, &k);
}

/* vem_eui64_ll reports whether a is the link-local address derived from
 * mac (fe80::/64 with the modified EUI-64 interface identifier). */
static __always_inline int vem_eui64_ll(const struct in6_addr *a, const __u8 *mac)
{
	const __u8 *b = a->in6_u.u6_addr8;

	return a->in6_u.u6_addr32[0] == bpf_htonl(0xfe800000) && a->in6_u.u6_addr32[1] == 0 &&
	       b[8] == (mac[0] ^ 2) && b[9] == mac[1] && b[10] == mac[2] && b[11] == 0xff &&
	       b[12] == 0xfe && b[13] == mac[3] && b[14] == mac[4] && b[15] == mac[5];
}

/* vem_portsec_arp checks an ARP packet of a bound port: the sender MAC
 * must be the frame's source (already one the port may send from), the
 * sender IP bound to it, or 0.0.0.0 (a probe, RFC 5227). */
static __always_inline int vem_portsec_arp(const struct vem_port *port, const struct ethhdr *eth,
					   void *end)
{
	const struct vem_arp *arp = (const void *)(eth + 1);
	__be32 spa;

	if ((void *)(arp + 1) > end)
		return VEM_DROP_MALFORMED;
	if (arp->htype != bpf_htons(1) || arp->ptype != bpf_htons(ETH_P_IP) || arp->hlen != 6 ||
	    arp->plen != 4 || !vem_mac_eq(arp->sha, eth->h_source))
		return VEM_DROP_ARP_SPOOF;
	__builtin_memcpy(&spa, arp->spa, 4);
	if (spa == 0 || vem_bound4(port, arp->sha, spa))
		return VEM_PASS;
	return VEM_DROP_ARP_SPOOF;
}

/* vem_portsec_ip4 applies the DHCP server guard and, on a bound port,
 * the source address check to an IPv4 packet. DHCP clients may send from
 * 0.0.0.0 (UDP 68 to 67) before they have an address. */
static __always_inline int vem_portsec_ip4(const struct vem_port *port, const struct ethhdr *eth,
					   void *end)
{
	struct iphdr *ip = (void *)(eth + 1);
	int dhcp_client = 0;

	if ((void *)(ip + 1) > end)
		return VEM_DROP_MALFORMED;
	/* Ports are only in the first fragment (offset 0). */
	if (ip->protocol == IPPROTO_UDP && !(ip->frag_off & bpf_htons(0x1fff))) {
		__u32 hl = ip->ihl * 4;
		struct udphdr *udp = (void *)ip + hl;

		if (hl < sizeof(*ip) || (void *)(udp + 1) > end)
			return VEM_DROP_MALFORMED;
		if (udp->source == bpf_htons(VEM_DHCP4_SERVER) && udp->dest == bpf_htons(VEM_DHCP4_CLIENT) &&
		    !(port->flags & VEM_PORT_F_TRUSTED))
			return VEM_DROP_DHCP_SERVER;
		dhcp_client = udp->source == bpf_htons(VEM_DHCP4_CLIENT) &&
			      udp->dest == bpf_htons(VEM_DHCP4_SERVER);
	}
	if (!(port->flags & VEM_PORT_F_BIND))
		return VEM_PASS;
	if (ip->saddr == 0)
		return dhcp_client ? VEM_PASS : VEM_DROP_IP_SPOOF;
	return vem_bound4(port, eth->h_source, ip->saddr) ? VEM_PASS : VEM_DROP_IP_SPOOF;
}

/* vem_ip6_upper finds the upper-layer header of an IPv6 packet behind up
 * to VEM_IP6_EXT_MAX extension headers: its protocol in *proto and its
 * offset from ip6 in *off. It returns 0, 1 for a later fragment (no
 * upper-layer header to look at), or -1 when it gives up (too many or
 * truncated extension headers). */
static __always_inline int vem_ip6_upper(const struct ipv6hdr *ip6, void *end, __u8 *proto,
					 __u32 *off)
{
	__u8 nh = ip6->nexthdr;
	__u32 o = sizeof(*ip6);

#pragma unroll
	for (int i = 0; i < VEM_IP6_EXT_MAX; i++) {
		const __u8 *h = (const void *)ip6 + o;

		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
		    nh != IPPROTO_FRAGMENT)
			break;
		if ((void *)(h + 8) > end)
			return -1;
		if (nh == IPPROTO_FRAGMENT) {
			if ((h[2] << 8 | h[3]) & 0xfff8)
				return 1;
			o += 8;
		} else {
			o += (h[1] + 1) * 8;
		}
		nh = h[0];
	}
	if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	    nh == IPPROTO_FRAGMENT)
		return -1;
	*proto = nh;
	*off = o;
	return 0;
}

/* vem_nd_lladdr checks the source (NS) or target (NA) link-layer address
 * options of a neighbour discovery message at nd, rem bytes of options
 * long: each must be the frame's source MAC; an NS from :: (DAD) may carry
 * none. A message with more options than are looked at is refused rather
 * than let an option hide behind the others. */
static __always_inline int vem_nd_lladdr(const struct vem_nd *nd, void *end, __s32 rem, __u8 want,
					 const __u8 *smac, int unspecified)
{
	const __u8 *opt = (const void *)(nd + 1);

#pragma unroll
	for (int i = 0; i < VEM_ND_OPTS_MAX; i++) {
		__s32 len;

		if (rem <= 0)
			return VEM_PASS;
		if ((void *)(opt + 2) > end)
			return VEM_DROP_MALFORMED;
		len = opt[1] * 8;
		if (len == 0 || len > rem)
			return VEM_DROP_ND_SPOOF; /* invalid (RFC 4861 4.6): hosts discard it */
		if (opt[0] == want &&
		    (unspecified || (void *)(opt + 8) > end || !vem_mac_eq(opt + 2, smac)))
			return VEM_DROP_ND_SPOOF;
		opt += len;
		rem -= len;
	}
	return rem > 0 ? VEM_DROP_ND_SPOOF : VEM_PASS;
}

/* vem_portsec_ip6 applies the DHCPv6 server and RA guard and, on a bound
 * port, the source address and neighbour discovery checks to an IPv6
 * packet. The unspecified source is for DAD and MLD only; the link-local
 * address derived from the source MAC is always the port's. */
static __always_inline int vem_portsec_ip6(const struct vem_port *port, const struct ethhdr *eth,
					   void *end)
{
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	const struct vem_nd *nd = NULL;
	__u8 proto = 0, icmp = 0;
	int unspecified, r;
	__u32 off = 0;

	if ((void *)(ip6 + 1) > end)
		return VEM_DROP_MALFORMED;
	r = vem_ip6_upper(ip6, end, &proto, &off);
	if (r < 0)
		return VEM_DROP_MALFORMED;
	if (r == 0 && proto == IPPROTO_UDP) {
		struct udphdr *udp = (void *)ip6 + off;

		if ((void *)(udp + 1) > end)
			return VEM_DROP_MALFORMED;
		if (udp->source == bpf_htons(VEM_DHCP6_SERVER) && udp->dest == bpf_htons(VEM_DHCP6_CLIENT) &&
		    !(port->flags & VEM_PORT_F_TRUSTED))
			return VEM_DROP_DHCP_SERVER;
	} else if (r == 0 && proto == IPPROTO_ICMPV6) {
		const __u8 *h = (const void *)ip6 + off;

		if ((void *)(h + 1) > end)
			return VEM_DROP_MALFORMED;
		icmp = h[0];
		if ((icmp == VEM_ICMP6_RA || icmp == VEM_ICMP6_REDIRECT) && !(port->flags & VEM_PORT_F_TRUSTED))
			return VEM_DROP_ROUTER_ADVERT;
		if (icmp == VEM_ICMP6_NS || icmp == VEM_ICMP6_NA) {
			nd = (const void *)h;
			if ((void *)(nd + 1) > end)
				return VEM_DROP_MALFORMED;
		}
	}
	if (!(port->flags & VEM_PORT_F_BIND))
		return VEM_PASS;

	unspecified = vem_ip6_unspecified(&ip6->saddr);
	if (unspecified) {
		if (icmp != VEM_ICMP6_NS && icmp != VEM_ICMP6_MLD_REPORT && icmp != VEM_ICMP6_MLD_DONE &&
		    icmp != VEM_ICMP6_MLD2_REPORT)
			return VEM_DROP_IP_SPOOF;
	} else if (!vem_eui64_ll(&ip6->saddr, eth->h_source) && !vem_bound6(port, eth->h_source, &ip6->saddr)) {
		return VEM_DROP_IP_SPOOF;
	}
	if (!nd)
		return VEM_PASS;
	if (icmp == VEM_ICMP6_NA && !vem_eui64_ll(&nd->target, eth->h_source) &&
	    !vem_bound6(port, eth->h_source, &nd->target))
		return VEM_DROP_ND_SPOOF;
	return vem_nd_lladdr(nd, end, (__s32)bpf_ntohs(ip6->payload_len) + sizeof(*ip6) - off - sizeof(*nd),
			     icmp == VEM_ICMP6_NS ? VEM_ND_OPT_SLLA : VEM_ND_OPT_TLLA, eth->h_source, unspecified);
}

/* vem_portsec applies the checks of a port-secured vEth that look past
 * the Ethernet header. */
static __always_inline int vem_portsec(struct __sk_buff *skb, const struct vem_port *port)
{
	void *end = (void *)(long)skb->data_end;
	const struct ethhdr *eth = (void *)(long)skb->data;

	if ((void *)(eth + 1) > end)
		return VEM_DROP_MALFORMED;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return vem_portsec_ip4(port, eth, end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return vem_portsec_ip6(port, eth, end);
	if (eth->h_proto == bpf_htons(ETH_P_ARP) && (port->flags & VEM_PORT_F_BIND))
		return vem_portsec_arp(port, eth, end);
	return VEM_PASS;
}

/* vem_storm_class returns the storm control class of a frame that is
 * flooded: broadcast, multicast, or unicast to an unknown MAC. */
static __always_inline __u32 vem_storm_class(const struct ethhdr *eth)
{
	const __u8 *d = eth->h_dest;

	if (!vem_is_multicast(d))
		return VEM_STORM_UNKNOWN_UNICAST;
	if (*(const __u32 *)d == 0xffffffff && *(const __u16 *)(d + 4) == 0xffff)
		return VEM_STORM_BROADCAST;
	return VEM_STORM_MULTICAST;
}

/* vem_storm_ok reports whether a flooded frame of class conforms to the
 * port's rate. The bucket is a GCRA (virtual scheduling): tat is when the
 * next packet is due at the rate; a packet conforms unless tat runs more
 * than the burst ahead of now, and moves tat one interval on. An idle
 * bucket (tat in the past) restarts full. One bucket per port and class
 * is shared by every CPU: tat moves by atomic adds, so concurrent CPUs
 * cannot lose each other's packets; the restart is a plain store, which
 * at worst lets a few extra packets through when a storm begins on
 * several CPUs at once. The clock is the coarse one (a tick, 1 to 10 ms,
 * is nothing against a second's burst; the precise one cost some 20 ns
 * more per flooded packet here). */
static __always_inline int vem_storm_ok(const struct vem_port *port, __u32 class)
{
	__u32 slot = port->slot, pps;
	struct vem_storm *s;
	__u64 now, tat, interval;

	if (class >= VEM_STORM_CLASSES)
		return 1;
	pps = port->storm_pps[class];
	if (!pps)
		return 1;
	s = bpf_map_lookup_elem(&vem_storms, &slot);
	if (!s)
		return 1;
	interval = 1000000000ULL / pps;
	now = bpf_ktime_get_coarse_ns();
	tat = *(volatile __u64 *)&s->tat[class];
	if (tat < now) {
		s->tat[class] = now + interval;
		return 1;
	}
	if (tat - now > VEM_STORM_BURST_NS)
		return 0;
	__sync_fetch_and_add(&s->tat[class], interval);
	return 1;
}

#endif
