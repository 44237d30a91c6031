/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* VXLAN (RFC 7348) encapsulation and decapsulation in the program itself:
 * outer Ethernet / IPv4 / UDP / VXLAN, next hop from the kernel's FIB. */
#ifndef VEM_VXLAN_H
#define VEM_VXLAN_H

#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/in.h>
#include "counters.h"
#include "eth.h"
#include "learn.h"
#include "uplink.h"

#ifndef AF_INET
#define AF_INET 2
#endif
/* Newer than the uapi headers this builds with (Linux 6.3+). */
#define VEM_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)

#define VEM_VXLAN_I_FLAG 0x08000000 /* flags word: I set, the rest reserved */
#define VEM_IP_DF 0x4000

struct vem_vxlanhdr {
	__be32 flags;
	__be32 vni;  /* VNI in the upper 24 bits, the low 8 reserved */
};

/* The headers vem puts in front of a frame, and the frame's own Ethernet
 * header after them: bpf_skb_adjust_room opens its room after the MAC
 * header, so the inner header has to move, and writing it with the outer
 * ones costs one helper call instead of two. */
struct vem_outer {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	struct vem_vxlanhdr vx;
	struct ethhdr inner;
} __attribute__((packed, aligned(4)));

/* 50 bytes on the wire in front of the inner frame. */
#define VEM_VXLAN_HLEN 50
_Static_assert(__builtin_offsetof(struct vem_outer, inner) == VEM_VXLAN_HLEN,
	       "VXLAN headers are 50 bytes");
#define VEM_VXLAN_WRITE (VEM_VXLAN_HLEN + ETH_HLEN)

/* Verdict of vem_vxlan_rx for a frame that is not VXLAN to this VTEP. */
#define VEM_NOT_VXLAN (-100)

/* vem_outer_csum returns the checksum of o's IPv4 header (ip.check 0). */
static __always_inline __u16 vem_outer_csum(const struct vem_outer *o)
{
	/* The IP header sits 14 bytes into a 4-aligned struct: 2-aligned. */
	const __u16 *w = (const __u16 *)((const __u8 *)o + sizeof(struct ethhdr));
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)sizeof(struct iphdr) / 2; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* vem_vxlan_xmit addresses the encapsulated frame to remote and sends it
 * (or a clone of it) on the underlay. o holds the outer headers to write;
 * only the destination, checksum and MACs differ between VTEPs. */
static __always_inline int vem_vxlan_xmit(struct __sk_buff *skb, struct vem_outer *o,
					  const struct vem_config *cfg, __be32 remote,
					  int clone, struct vem_counters *in)
{
	const struct vem_nexthop *nh = bpf_map_lookup_elem(&vem_nexthops, &remote);
	struct bpf_fib_lookup fib = {};
	__u32 ifindex, zero = 0;
	struct vem_uplink *upl;
	__u16 slot = 0;
	int rc;

	o->ip.daddr = remote;
	o->ip.check = 0;
	o->ip.check = vem_outer_csum(o);
	if (nh) {
		/* The agent's cache of the kernel's route and neighbour. */
		rc = BPF_FIB_LKUP_RET_SUCCESS;
		ifindex = nh->ifindex;
		slot = nh->slot;
		__builtin_memcpy(o->eth.h_source, nh->smac, ETH_ALEN);
		__builtin_memcpy(o->eth.h_dest, nh->dmac, ETH_ALEN);
	} else {
		struct vem_port *up;

		fib.family = AF_INET;
		fib.l4_protocol = IPPROTO_UDP;
		fib.ipv4_src = cfg->vtep_addr;
		fib.ipv4_dst = remote;
		fib.ifindex = cfg->underlay_ifindex;
		rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_OUTPUT);
		if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
			return vem_drop(in, rc == BPF_FIB_LKUP_RET_FRAG_NEEDED ? VEM_DROP_OVERSIZE : VEM_DROP_NO_ROUTE);
		ifindex = fib.ifindex;
		if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
			/* Byte copies: h_source is only 2-aligned in the packed struct. */
			__builtin_memcpy(o->eth.h_source, fib.smac, ETH_ALEN);
			__builtin_memcpy(o->eth.h_dest, fib.dmac, ETH_ALEN);
		}
		up = bpf_map_lookup_elem(&vem_ports, &ifindex);
		if (up)
			slot = up->slot;
	}

	/* Over a port-channel, spread tunnels across the members by the
	 * outer flow (the UDP source port carries the inner hash). */
	upl = (!nh || (nh->flags & VEM_NEXTHOP_F_SPREAD)) ? bpf_map_lookup_elem(&vem_uplinks, &zero) : NULL;
	if (upl && upl->nmembers > 1 && ifindex == cfg->underlay_ifindex) {
		__u16 mslot;
		__u32 m = vem_uplink_member(upl, bpf_ntohs(o->udp.source), &mslot);

		if (m) {
			ifindex = m;
			slot = mslot;
		}
	}
	if (bpf_skb_store_bytes(skb, 0, o, VEM_VXLAN_WRITE, 0))
		return vem_drop(in, VEM_DROP_MALFORMED);

	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		/* redirect_neigh resolves the next hop (queueing the frame) but
		 * works only for skbs of an IP protocol, and cannot clone; the
		 * agent keeps VTEP next hops resolved for the other cases. */
		struct bpf_redir_neigh rn = { .nh_family = AF_INET, .ipv4_nh = fib.ipv4_dst };

		if (clone || skb->protocol != bpf_htons(ETH_P_IP))
			return vem_drop(in, VEM_DROP_NO_NEIGH);
		vem_count_tx(slot, skb);
		return bpf_redirect_neigh(ifindex, &rn, sizeof(rn), 0);
	}
	if (clone) {
		if (bpf_clone_redirect(skb, ifindex, 0))
			return vem_drop(in, VEM_DROP_REDIRECT);
		vem_count_tx(slot, skb);
		return TC_ACT_OK;
	}
	vem_count_tx(slot, skb);
	return bpf_redirect(ifindex, 0);
}

/* vem_vxlan_wrap puts VXLAN_HLEN bytes in front of the frame and fills o
 * with everything but the per-VTEP fields. IP frames take
 * bpf_skb_adjust_room, which keeps GSO and checksum offload working for
 * the inner TCP; the rest (ARP, ...) are never GSO and take a plain
 * headroom push. Returns 0 or a drop reason. */
static __always_inline int vem_vxlan_wrap(struct __sk_buff *skb, const struct vem_segment *seg,
					  const struct vem_config *cfg, struct vem_outer *o)
{
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
		      BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
		      BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN);
	__u32 inner_len = skb->len, h;

	if (!cfg->vtep_addr)
		return VEM_DROP_NO_ROUTE;
	/* The segment MTU bounds the inner L3 packet; GSO super-packets are
	 * cut to gso_size by the stack and were sized by the VM's own MTU. */
	if (seg->mtu && inner_len > (__u32)seg->mtu + ETH_HLEN && !skb->gso_size)
		return VEM_DROP_OVERSIZE;
	h = vem_flow_hash(skb, VEM_HASH_SRC_DST_IP_L4PORT);
	__builtin_memset(o, 0, sizeof(*o));
	if (bpf_skb_load_bytes(skb, 0, &o->inner, sizeof(o->inner)))
		return VEM_DROP_MALFORMED;

	/* The room opens after the MAC header; the inner Ethernet header is
	 * written back at its end with the outer headers (vem_vxlan_xmit).
	 * A plain headroom push leaves it in place, and rewriting it there
	 * changes nothing. */
	if ((skb->protocol == bpf_htons(ETH_P_IP) || skb->protocol == bpf_htons(ETH_P_IPV6)) &&
	    bpf_skb_adjust_room(skb, VEM_VXLAN_HLEN, BPF_ADJ_ROOM_MAC, flags) == 0) {
	} else if (skb->gso_size || bpf_skb_change_head(skb, VEM_VXLAN_HLEN, 0)) {
		/* adjust_room refuses a frame that is already a tunnel's
		 * (skb->encapsulation set, the VM's own VXLAN say); without
		 * GSO a plain headroom push carries it. */
		return VEM_DROP_MALFORMED;
	}

	o->eth.h_proto = bpf_htons(ETH_P_IP);
	o->ip.version = 4;
	o->ip.ihl = 5;
	o->ip.tot_len = bpf_htons(inner_len + VEM_VXLAN_HLEN - ETH_HLEN);
	o->ip.id = (__u16)h;
	o->ip.frag_off = (cfg->vtep_flags & VEM_VTEP_F_DF) ? bpf_htons(VEM_IP_DF) : 0;
	o->ip.ttl = 64;
	o->ip.protocol = IPPROTO_UDP;
	o->ip.saddr = cfg->vtep_addr;
	/* Source port from the inner flow: entropy for ECMP and
	 * port-channel hashing in the underlay (RFC 7348 section 5). */
	o->udp.source = bpf_htons(49152 | (h & 0x3fff));
	o->udp.dest = cfg->vtep_port;
	o->udp.len = bpf_htons(inner_len + VEM_VXLAN_HLEN - ETH_HLEN - sizeof(struct iphdr));
	o->vx.flags = bpf_htonl(VEM_VXLAN_I_FLAG);
	o->vx.vni = bpf_htonl(seg->vni << 8);
	return 0;
}

/* vem_vxlan_unicast encapsulates the frame to one remote VTEP. */
static __always_inline int vem_vxlan_unicast(struct __sk_buff *skb, const struct vem_segment *seg,
					     __be32 remote, struct vem_counters *in)
{
	const struct vem_config *cfg = vem_config();
	struct vem_outer o;
	int reason;

	if (!cfg)
		return vem_drop(in, VEM_DROP_NO_ROUTE);
	reason = vem_vxlan_wrap(skb, seg, cfg, &o);
	if (reason)
		return vem_drop(in, reason);
	return vem_vxlan_xmit(skb, &o, cfg, remote, 0, in);
}

/* vem_vxlan_flood replicates the frame to every VTEP of the bridge domain
 * (head-end replication): wrapped once, re-addressed per VTEP. */
static __always_inline int vem_vxlan_flood(struct __sk_buff *skb, const struct vem_segment *seg,
					   struct vem_counters *in)
{
	const struct vem_config *cfg = vem_config();
	__u32 i, n = seg->nvteps;
	struct vem_outer o;
	int reason;

	if (!cfg || n == 0)
		return TC_ACT_SHOT; /* no remote VTEP: nothing to replicate to */
	reason = vem_vxlan_wrap(skb, seg, cfg, &o);
	if (reason)
		return vem_drop(in, reason);
	for (i = 0; i < VEM_MAX_VTEPS - 1; i++) {
		if (i + 1 >= n)
			break;
		vem_vxlan_xmit(skb, &o, cfg, seg->vteps[i], 1, in);
	}
	if (i >= VEM_MAX_VTEPS)
		return TC_ACT_SHOT;
	return vem_vxlan_xmit(skb, &o, cfg, seg->vteps[i], 0, in);
}

/* vem_vxlan_listed reports whether vtep is in the bridge domain's list. */
static __always_inline int vem_vxlan_listed(const struct vem_segment *seg, __be32 vtep)
{
	for (__u32 i = 0; i < VEM_MAX_VTEPS; i++) {
		if (i >= seg->nvteps)
			break;
		if (seg->vteps[i] == vtep)
			return 1;
	}
	return 0;
}

/* Decapsulation result for the caller's switching. */
struct vem_rx {
	__u32 segment;
	const struct vem_segment *seg;
	__be32 vtep;      /* outer source: the sending VTEP */
	int peer_ok;      /* skb->protocol matches the inner frame */
};

/* vem_vxlan_rx decapsulates VXLAN addressed to this VTEP. It returns
 * VEM_NOT_VXLAN for anything else (left untouched), 0 with rx filled in
 * after decapsulation, or a drop verdict. */
static __always_inline int vem_vxlan_rx(struct __sk_buff *skb, const struct vem_config *cfg,
					struct vem_counters *cnt, struct vem_rx *rx)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data, inner;
	struct vem_vxlanhdr *vx;
	struct udphdr *udp;
	struct iphdr *ip;
	__u32 vni, *segid;
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO;

	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return VEM_NOT_VXLAN;
	if (ip->daddr != cfg->vtep_addr || ip->protocol != IPPROTO_UDP)
		return VEM_NOT_VXLAN;
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return VEM_NOT_VXLAN; /* options or fragments: the stack's business */
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end || udp->dest != cfg->vtep_port)
		return VEM_NOT_VXLAN;

	/* VXLAN to us from here on: every failure is a counted drop. */
	if (skb->len < VEM_VXLAN_HLEN + ETH_HLEN)
		return vem_drop(cnt, VEM_DROP_MALFORMED);
	if (data + VEM_VXLAN_HLEN + ETH_HLEN > data_end) {
		/* Headers not all in the linear part: pull them in. */
		if (bpf_skb_pull_data(skb, VEM_VXLAN_HLEN + ETH_HLEN))
			return vem_drop(cnt, VEM_DROP_MALFORMED);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		if (data + VEM_VXLAN_HLEN + ETH_HLEN > data_end)
			return vem_drop(cnt, VEM_DROP_MALFORMED);
	}
	ip = data + ETH_HLEN;
	vx = data + VEM_VXLAN_HLEN - sizeof(*vx);
	if (vx->flags != bpf_htonl(VEM_VXLAN_I_FLAG) || (vx->vni & bpf_htonl(0xff)))
		return vem_drop(cnt, VEM_DROP_VXLAN_FLAGS);
	vni = bpf_ntohl(vx->vni) >> 8;
	segid = bpf_map_lookup_elem(&vem_vnis, &vni);
	if (!segid)
		return vem_drop(cnt, VEM_DROP_UNKNOWN_VNI);
	rx->segment = *segid;
	rx->seg = bpf_map_lookup_elem(&vem_segments, segid);
	if (!rx->seg)
		return vem_drop(cnt, VEM_DROP_UNKNOWN_VNI);
	rx->vtep = ip->saddr;
	if (!(cfg->vtep_flags & VEM_VTEP_F_ANY_SOURCE) && !vem_vxlan_listed(rx->seg, rx->vtep))
		return vem_drop(cnt, VEM_DROP_UNKNOWN_VTEP);

	__builtin_memcpy(&inner, data + VEM_VXLAN_HLEN, sizeof(inner));
	rx->peer_ok = inner.h_proto == bpf_htons(ETH_P_IP) || inner.h_proto == bpf_htons(ETH_P_IPV6);
	if (inner.h_proto == bpf_htons(ETH_P_IPV6))
		flags |= VEM_ADJ_ROOM_DECAP_L3_IPV6;
	if (bpf_skb_adjust_room(skb, -VEM_VXLAN_HLEN, BPF_ADJ_ROOM_MAC, flags))
		return vem_drop(cnt, VEM_DROP_MALFORMED);
	if (bpf_skb_store_bytes(skb, 0, &inner, sizeof(inner), 0))
		return vem_drop(cnt, VEM_DROP_MALFORMED);
	return 0;
}

/* vem_to_host reports frames on the uplink that belong to the host's own
 * stack when it holds the VTEP address: unicast to the uplink's MAC and
 * ARP for the VTEP address (the underlay must resolve it). */
static __always_inline int vem_to_host(struct __sk_buff *skb, const struct vem_config *cfg,
				       const struct vem_port *port)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__be32 *tip;

	if (!cfg || !cfg->vtep_addr || skb->vlan_present || (void *)(eth + 1) > data_end)
		return 0;
	if (vem_mac_eq(eth->h_dest, port->mac))
		return 1;
	if (eth->h_proto != bpf_htons(ETH_P_ARP))
		return 0;
	/* ARP for IPv4 over Ethernet: the target IP follows the 8-byte
	 * header, the sender's MAC and IP and the target's MAC. */
	tip = (void *)(eth + 1) + 8 + 6 + 4 + 6;
	if ((void *)(tip + 1) > data_end)
		return 0;
	return *tip == cfg->vtep_addr;
}

#endif
