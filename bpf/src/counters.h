/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-port, per-CPU packet, byte and drop counters. */
#ifndef VEM_COUNTERS_H
#define VEM_COUNTERS_H

#include "maps.h"

static __always_inline struct vem_counters *vem_counters_of(__u32 slot)
{
	return bpf_map_lookup_elem(&vem_stats, &slot);
}

static __always_inline void vem_count_rx(struct vem_counters *c, struct __sk_buff *skb)
{
	if (c) {
		c->rx_packets++;
		c->rx_bytes += skb->len;
	}
}

static __always_inline void vem_count_tx(__u32 slot, struct __sk_buff *skb)
{
	struct vem_counters *c = vem_counters_of(slot);

	if (c) {
		c->tx_packets++;
		c->tx_bytes += skb->len;
	}
}

/* vem_drop counts a drop against a port's counters and returns the verdict. */
static __always_inline int vem_drop(struct vem_counters *c, enum vem_drop reason)
{
	if (c && reason < VEM_DROP_MAX)
		c->drops[reason]++;
	return TC_ACT_SHOT;
}

#endif
