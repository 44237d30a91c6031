/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flooding of broadcast, multicast and unknown unicast within a segment. */
#ifndef VEM_FLOOD_H
#define VEM_FLOOD_H

#include "uplink.h"
#include "vxlan.h"

/* vem_flood copies the frame to every local port of the segment except the
 * one it came in on and, for frames from a vEth, to the uplink or every
 * remote VTEP of the bridge domain. Each target but the last gets a clone;
 * the last takes the original. Frames from the uplink are never sent back
 * to it (split horizon). */
static __always_inline int vem_flood(struct __sk_buff *skb, const struct vem_segment *seg,
				     const struct vem_port *port, int from_uplink, struct vem_counters *in)
{
	__u32 pending = 0, i, n = seg->nports, in_ifindex = skb->ifindex;
	__u16 pending_slot = 0;

	for (i = 0; i < VEM_MAX_FLOOD; i++) {
		const struct vem_flood_port *p;

		if (i >= n)
			break;
		p = &seg->ports[i];
		if (p->ifindex == in_ifindex)
			continue;
		if (pending && bpf_clone_redirect(skb, pending, 0) == 0)
			vem_count_tx(pending_slot, skb);
		pending = p->ifindex;
		pending_slot = p->slot;
	}

	if (!from_uplink && (seg->type == VEM_SEG_VLAN || seg->type == VEM_SEG_FLAT)) {
		if (pending && bpf_clone_redirect(skb, pending, 0) == 0)
			vem_count_tx(pending_slot, skb);
		return vem_to_uplink(skb, seg, port, in);
	}
	if (!from_uplink && seg->type == VEM_SEG_VXLAN && seg->nvteps) {
		if (pending && bpf_clone_redirect(skb, pending, 0) == 0)
			vem_count_tx(pending_slot, skb);
		return vem_vxlan_flood(skb, seg, in);
	}
	if (!pending)
		return TC_ACT_SHOT; /* nobody else in the segment: not a drop reason */
	vem_count_tx(pending_slot, skb);
	return bpf_redirect(pending, 0);
}

#endif
