// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* vem datapath: tcx ingress programs for vEth ports and uplink members.
 *
 * A frame from a VM enters vem_veth_ingress on the host side of its vEth;
 * a frame from the physical network enters vem_uplink_ingress on an uplink
 * member. Both switch within the frame's segment: known unicast is
 * redirected to one port, everything else is flooded to the segment.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"
#include "counters.h"
#include "eth.h"
#include "learn.h"
#include "uplink.h"
#include "flood.h"
#include "vxlan.h"
#include "portsec.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* vem_deliver sends a frame to the local port mac table entry e names.
 * peer_ok is false when skb->protocol may not match the frame (after
 * decapsulating a non-IP frame): only the veth transmit path, which sets
 * it again, may carry such a frame. */
static __always_inline int vem_deliver(struct __sk_buff *skb, const struct vem_mac_entry *e,
				       int peer_ok)
{
	vem_count_tx(e->slot, skb);
	/* A veth whose peer sits in the VM's netns takes the frame straight
	 * into the peer's ingress: no second backlog queue, no reordering. */
	if ((e->flags & VEM_MAC_F_PEER) && peer_ok)
		return bpf_redirect_peer(e->ifindex, 0);
	return bpf_redirect(e->ifindex, 0);
}

SEC("tc")
int vem_veth_ingress(struct __sk_buff *skb)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	__u32 ifindex = skb->ifindex;
	const struct vem_segment *seg;
	struct vem_mac_entry *dst;
	struct vem_counters *cnt;
	struct ethhdr *eth = data;
	struct vem_port *port;
	int secure, r;

	port = bpf_map_lookup_elem(&vem_ports, &ifindex);
	if (!port)
		return vem_drop(vem_counters_of(0), VEM_DROP_UNKNOWN_PORT);
	cnt = vem_counters_of(port->slot);
	vem_count_rx(cnt, skb);

	if (port->flags & VEM_PORT_F_DOWN)
		return vem_drop(cnt, VEM_DROP_PORT_DOWN);
	if ((void *)(eth + 1) > data_end)
		return vem_drop(cnt, VEM_DROP_MALFORMED);
	/* The stack moves an outer 802.1Q tag into skb metadata before tc;
	 * check both so no tag of any depth enters from an access port. */
	if (skb->vlan_present || vem_is_vlan_proto(eth->h_proto))
		return vem_drop(cnt, VEM_DROP_TAGGED_ON_ACCESS);
	/* A secured port sends from its MAC or an allowed pair's. */
	secure = port->flags & VEM_PORT_F_SECURE;
	if (vem_is_multicast(eth->h_source) ||
	    (secure && !vem_mac_eq(eth->h_source, port->mac) && !vem_pair_mac(port->slot, eth->h_source)))
		return vem_drop(cnt, VEM_DROP_SPOOFED_SRC);
	if (vem_is_multicast(eth->h_dest) || eth->h_proto == bpf_htons(VEM_ETH_P_MAC_CONTROL)) {
		r = vem_link_local(port, eth);
		if (r != VEM_PASS)
			return vem_drop(cnt, r);
	}
	if (secure) {
		r = vem_portsec(skb, port);
		if (r != VEM_PASS)
			return vem_drop(cnt, r);
	}

	/* A port-secured vEth's MAC is a static entry (the source was just
	 * checked against it): only open ports are learned from. */
	if (!secure && vem_learn(port->segment, eth->h_source, ifindex, port->slot,
				 (port->flags & VEM_PORT_F_PEER) ? VEM_MAC_F_PEER : 0, 0, port->max_macs))
		return vem_drop(cnt, VEM_DROP_MAC_LIMIT);

	/* Known local unicast needs nothing of the segment: its lookup waits
	 * for the paths that do (MAC keys carry the segment already). */
	dst = vem_is_multicast(eth->h_dest) ? NULL : vem_lookup(port->segment, eth->h_dest);
	if (dst && !(dst->flags & VEM_MAC_F_REMOTE)) {
		if (dst->ifindex == ifindex)
			return vem_drop(cnt, VEM_DROP_HAIRPIN);
		return vem_deliver(skb, dst, 1);
	}
	seg = bpf_map_lookup_elem(&vem_segments, &port->segment);
	if (!seg)
		return vem_drop(cnt, VEM_DROP_NO_SEGMENT);
	if (!dst) {
		if (!vem_storm_ok(port, vem_storm_class(eth)))
			return vem_drop(cnt, VEM_DROP_STORM);
		return vem_flood(skb, seg, port, 0, cnt);
	}
	if (seg->type == VEM_SEG_VXLAN)
		return vem_vxlan_unicast(skb, seg, dst->vtep, cnt);
	return vem_to_uplink(skb, seg, port, cnt);
}

/* vem_flood_in floods a frame from the uplink to the segment's local
 * ports, unless this member is not the one that delivers floods. */
static __always_inline int vem_flood_in(struct __sk_buff *skb, const struct vem_segment *seg,
					const struct vem_port *port, struct vem_counters *cnt)
{
	if (port->flags & VEM_PORT_F_NO_FLOOD_RX)
		return vem_drop(cnt, VEM_DROP_NOT_DESIGNATED);
	return vem_flood(skb, seg, port, 1, cnt);
}

/* vem_switch_decapsulated switches a frame that came out of a VXLAN
 * tunnel into its segment: local ports only. */
static __always_inline int vem_switch_decapsulated(struct __sk_buff *skb, const struct vem_port *port,
						   struct vem_counters *cnt, const struct vem_rx *rx)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	struct ethhdr *eth = data;
	struct vem_mac_entry *dst;

	if ((void *)(eth + 1) > data_end)
		return vem_drop(cnt, VEM_DROP_MALFORMED);
	if (vem_is_multicast(eth->h_source))
		return vem_drop(cnt, VEM_DROP_SPOOFED_SRC);
	if (vem_looped(rx->segment, eth->h_source))
		return vem_drop(cnt, VEM_DROP_LOOPED);
	vem_learn(rx->segment, eth->h_source, skb->ifindex, port->slot, VEM_MAC_F_REMOTE, rx->vtep, 0);
	if (vem_is_multicast(eth->h_dest))
		return vem_flood(skb, rx->seg, port, 1, cnt);
	dst = vem_lookup(rx->segment, eth->h_dest);
	if (!dst)
		return vem_flood(skb, rx->seg, port, 1, cnt);
	if (dst->flags & VEM_MAC_F_REMOTE)
		return vem_drop(cnt, VEM_DROP_HAIRPIN);
	return vem_deliver(skb, dst, rx->peer_ok);
}

SEC("tc")
int vem_uplink_ingress(struct __sk_buff *skb)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	__u32 ifindex = skb->ifindex, vid, *segid;
	const struct vem_config *cfg;
	const struct vem_segment *seg;
	struct vem_mac_entry *dst;
	struct vem_counters *cnt;
	struct ethhdr *eth = data;
	struct vem_port *port;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
	/* LACPDUs and markers belong to the agent's LACP machines. */
	if (eth->h_proto == bpf_htons(VEM_ETH_P_SLOW) && !skb->vlan_present)
		return TC_ACT_OK;

	port = bpf_map_lookup_elem(&vem_ports, &ifindex);
	if (!port)
		return vem_drop(vem_counters_of(0), VEM_DROP_UNKNOWN_PORT);
	cnt = vem_counters_of(port->slot);
	vem_count_rx(cnt, skb);
	if (port->flags & VEM_PORT_F_DOWN)
		return vem_drop(cnt, VEM_DROP_PORT_DOWN);
	if (!(port->flags & VEM_PORT_F_COLLECTING))
		return vem_drop(cnt, VEM_DROP_NOT_COLLECTING);

	cfg = vem_config();
	if (cfg && cfg->vtep_addr && !skb->vlan_present && eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct vem_rx rx = {};
		int rc = vem_vxlan_rx(skb, cfg, cnt, &rx);

		if (rc == 0)
			return vem_switch_decapsulated(skb, port, cnt, &rx);
		if (rc != VEM_NOT_VXLAN)
			return rc;
	}
	if (vem_to_host(skb, cfg, port))
		return TC_ACT_OK;

	vid = skb->vlan_present ? (skb->vlan_tci & 0x0fff) : 0;
	segid = bpf_map_lookup_elem(&vem_vlans, &vid);
	if (!segid || !*segid)
		return vem_drop(cnt, VEM_DROP_UNKNOWN_VLAN);
	seg = bpf_map_lookup_elem(&vem_segments, segid);
	if (!seg)
		return vem_drop(cnt, VEM_DROP_NO_SEGMENT);
	if (skb->vlan_present && bpf_skb_vlan_pop(skb))
		return vem_drop(cnt, VEM_DROP_MALFORMED);

	/* vlan_pop may move the data: reload the packet pointers. */
	data_end = (void *)(long)skb->data_end;
	data = (void *)(long)skb->data;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return vem_drop(cnt, VEM_DROP_MALFORMED);
	if (vem_is_vlan_proto(eth->h_proto))
		return vem_drop(cnt, VEM_DROP_MALFORMED); /* nested tag */
	if (vem_is_multicast(eth->h_source))
		return vem_drop(cnt, VEM_DROP_SPOOFED_SRC);

	if (vem_looped(*segid, eth->h_source))
		return vem_drop(cnt, VEM_DROP_LOOPED);
	vem_learn(*segid, eth->h_source, ifindex, port->slot, VEM_MAC_F_REMOTE, 0, 0);

	if (vem_is_multicast(eth->h_dest))
		return vem_flood_in(skb, seg, port, cnt);
	dst = vem_lookup(*segid, eth->h_dest);
	if (!dst)
		return vem_flood_in(skb, seg, port, cnt);
	if (dst->flags & VEM_MAC_F_REMOTE)
		return vem_drop(cnt, VEM_DROP_HAIRPIN);
	return vem_deliver(skb, dst, 1);
}
