/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Uplink egress: member choice by flow hash, VLAN tag push. */
#ifndef VEM_UPLINK_H
#define VEM_UPLINK_H

#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include "counters.h"
#include "eth.h"

static __always_inline __u32 vem_mix(__u32 h)
{
	/* murmur3 finaliser: spreads xor-folded inputs over all bits. */
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* vem_flow_hash hashes the fields the mode names. Each pair is folded with
 * xor, so both directions of a flow hash alike (one member per flow). */
static __always_inline __u32 vem_flow_hash(struct __sk_buff *skb, __u32 mode)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 h;

	if ((void *)(eth + 1) > end)
		return 0;
	h = (*(__u32 *)eth->h_dest ^ *(__u32 *)eth->h_source) ^
	    ((__u32)(*(__u16 *)(eth->h_dest + 4) ^ *(__u16 *)(eth->h_source + 4)) << 8);
	if (mode == VEM_HASH_SRC_DST_MAC)
		return vem_mix(h);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return vem_mix(h);
		h = ip->saddr ^ ip->daddr;
		if (mode == VEM_HASH_SRC_DST_IP_L4PORT && ip->ihl == 5 &&
		    !(ip->frag_off & bpf_htons(0x3fff)) &&
		    (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP)) {
			__u16 *ports = (void *)(ip + 1);

			if ((void *)(ports + 2) <= end)
				h ^= (__u32)(ports[0] ^ ports[1]) * 0x9e3779b1 + ip->protocol;
		}
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return vem_mix(h);
		h = ip6->saddr.in6_u.u6_addr32[0] ^ ip6->saddr.in6_u.u6_addr32[3] ^
		    ip6->daddr.in6_u.u6_addr32[0] ^ ip6->daddr.in6_u.u6_addr32[3];
		if (mode == VEM_HASH_SRC_DST_IP_L4PORT &&
		    (ip6->nexthdr == IPPROTO_TCP || ip6->nexthdr == IPPROTO_UDP)) {
			__u16 *ports = (void *)(ip6 + 1);

			if ((void *)(ports + 2) <= end)
				h ^= (__u32)(ports[0] ^ ports[1]) * 0x9e3779b1 + ip6->nexthdr;
		}
	}
	return vem_mix(h);
}

/* vem_uplink_member returns member (hash % n) of the distributing set, or
 * 0 when no member is distributing. */
static __always_inline __u32 vem_uplink_member(const struct vem_uplink *up, __u32 hash, __u16 *slot)
{
	__u32 n = up->nmembers, i = 0;

	if (n == 0 || n > VEM_MAX_MEMBERS)
		return 0;
	if (n > 1)
		i = hash % n;
	/* i < n <= 16 already; the mask proves it to the verifier, which
	 * loses the bound through the modulo (the barrier keeps clang from
	 * dropping the mask it knows to be redundant). */
	asm volatile("" : "+r"(i));
	i &= VEM_MAX_MEMBERS - 1;
	*slot = up->slot[i];
	return up->ifindex[i];
}

/* vem_uplink_pick returns the member a frame from port goes out on: its
 * pinned member (mac-pinning) or the one its flow hashes to; 0 when no
 * member is distributing. */
static __always_inline __u32 vem_uplink_pick(struct __sk_buff *skb, const struct vem_port *port,
					     __u16 *slot)
{
	__u32 zero = 0, n;
	struct vem_uplink *up;

	if (port && port->pin_ifindex) {
		*slot = port->pin_slot;
		return port->pin_ifindex;
	}
	up = bpf_map_lookup_elem(&vem_uplinks, &zero);
	if (!up)
		return 0;
	n = up->nmembers;
	return vem_uplink_member(up, n > 1 ? vem_flow_hash(skb, up->hash) : 0, slot);
}

/* vem_to_uplink sends a frame from port out of the uplink with the
 * segment's tag. */
static __always_inline int vem_to_uplink(struct __sk_buff *skb, const struct vem_segment *seg,
					 const struct vem_port *port, struct vem_counters *in)
{
	__u16 slot = 0;
	__u32 member;

	if (seg->type != VEM_SEG_VLAN && seg->type != VEM_SEG_FLAT)
		return vem_drop(in, VEM_DROP_NO_UPLINK);
	member = vem_uplink_pick(skb, port, &slot);
	if (!member)
		return vem_drop(in, VEM_DROP_NO_UPLINK);
	/* The tag goes into skb metadata (hardware-accelerated tag); the
	 * device or the stack inserts it on the wire. No 8021q module needed. */
	if (seg->vlan && bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), seg->vlan))
		return vem_drop(in, VEM_DROP_MALFORMED);
	vem_count_tx(slot, skb);
	return bpf_redirect(member, 0);
}

#endif
