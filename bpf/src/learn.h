/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* MAC learning and lookup per segment, with ageing. */
#ifndef VEM_LEARN_H
#define VEM_LEARN_H

#include "maps.h"
#include "eth.h"

/* A known MAC's timestamp is refreshed at most this often, so steady
 * traffic does not bounce the entry's cache line between CPUs. */
#define VEM_LEARN_REFRESH_NS 1000000000ULL

static __always_inline const struct vem_config *vem_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vem_settings, &zero);
}

static __always_inline __u64 vem_ageing_ns(void)
{
	const struct vem_config *cfg = vem_config();

	return cfg ? cfg->ageing_ns : 0;
}

/* vem_learned_add moves the learned-MAC count of slot by delta. */
static __always_inline void vem_learned_add(__u32 slot, __s32 delta)
{
	__s32 *n = bpf_map_lookup_elem(&vem_learned, &slot);

	if (n)
		__sync_fetch_and_add(n, delta);
}

/* vem_learn records that mac was seen on ifindex in segment, behind the
 * remote VTEP vtep when it came in over VXLAN. It returns -1, learning
 * nothing, when mac is new to the port and the port has learned max_macs
 * already (0: no limit); 0 otherwise.
 *
 * vem_learned counts the entries per slot as they are added and move.
 * The program cannot see the agent's deletions or the LRU's evictions,
 * so the count can only run high between the agent's sweeps, which
 * recount it:
 * a port at its limit learns again once a sweep has removed its aged MACs
 * (an aged entry counts until the sweep deletes it). */
static __always_inline int vem_learn(__u32 segment, const __u8 *mac, __u32 ifindex,
				     __u16 slot, __u8 flags, __be32 vtep, __u32 max_macs)
{
	struct vem_mac_key key = { .segment = segment };
	struct vem_mac_entry *e, fresh = {};
	__u64 now = bpf_ktime_get_coarse_ns();
	__u16 old_slot;

	vem_mac_copy(key.mac, mac);
	e = bpf_map_lookup_elem(&vem_macs, &key);
	if (e && e->ifindex == ifindex && e->flags == flags && e->vtep == vtep) {
		if (now - e->seen_ns > VEM_LEARN_REFRESH_NS)
			e->seen_ns = now;
		return 0;
	}
	if (max_macs && (!e || e->slot != slot)) {
		__u32 s = slot;
		__s32 *n = bpf_map_lookup_elem(&vem_learned, &s);

		if (n && *n >= 0 && (__u32)*n >= max_macs)
			return -1;
	}
	/* New MAC, or a MAC that moved: replace the entry atomically. */
	fresh.ifindex = ifindex;
	fresh.slot = slot;
	fresh.flags = flags;
	fresh.vtep = vtep;
	fresh.seen_ns = now;
	if (e) {
		old_slot = e->slot;
		if (bpf_map_update_elem(&vem_macs, &key, &fresh, BPF_ANY) == 0 && old_slot != slot) {
			vem_learned_add(old_slot, -1);
			vem_learned_add(slot, 1);
		}
	} else if (bpf_map_update_elem(&vem_macs, &key, &fresh, BPF_NOEXIST) == 0) {
		/* NOEXIST: of CPUs learning the same MAC at once, one counts it. */
		vem_learned_add(slot, 1);
	}
	return 0;
}

/* vem_lookup returns the entry for mac in segment: the static one, else
 * the learned one unless it aged out (the agent deletes aged entries
 * later); NULL when there is neither. */
static __always_inline struct vem_mac_entry *vem_lookup(__u32 segment, const __u8 *mac)
{
	struct vem_mac_key key = { .segment = segment };
	struct vem_mac_entry *e;
	__u64 ageing;

	vem_mac_copy(key.mac, mac);
	e = bpf_map_lookup_elem(&vem_static_macs, &key);
	if (e)
		return e;
	e = bpf_map_lookup_elem(&vem_macs, &key);
	if (!e)
		return NULL;
	ageing = vem_ageing_ns();
	if (ageing && bpf_ktime_get_coarse_ns() - e->seen_ns > ageing)
		return NULL;
	return e;
}

#endif

#ifndef VEM_LEARN_LOOP_H
#define VEM_LEARN_LOOP_H
/* vem_looped reports a frame from the uplink whose source is the static
 * MAC of a port-secured local vEth: the upstream reflected our own frame
 * (floods come back on another member, or a loop). Learning it would move
 * the VM's MAC to the uplink; it is dropped instead ("deja-vu" check). A
 * MAC on a port without port security may move, as a migrated VM's does.
 * A static remote MAC (the VSM's MAC distribution) does come from the
 * uplink: it is not a loop. */
static __always_inline int vem_looped(__u32 segment, const __u8 *mac)
{
	struct vem_mac_key key = { .segment = segment };
	struct vem_mac_entry *e;

	vem_mac_copy(key.mac, mac);
	e = bpf_map_lookup_elem(&vem_static_macs, &key);
	return e && !(e->flags & VEM_MAC_F_REMOTE);
}
#endif
