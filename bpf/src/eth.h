/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Ethernet helpers. */
#ifndef VEM_ETH_H
#define VEM_ETH_H

#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>

#define VEM_ETH_P_SLOW 0x8809 /* slow protocols: LACP, marker */

static __always_inline int vem_is_multicast(const __u8 *mac)
{
	return mac[0] & 1;
}

static __always_inline int vem_mac_eq(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

static __always_inline void vem_mac_copy(__u8 *dst, const __u8 *src)
{
	*(__u32 *)dst = *(const __u32 *)src;
	*(__u16 *)(dst + 4) = *(const __u16 *)(src + 4);
}

static __always_inline int vem_is_vlan_proto(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

#endif
