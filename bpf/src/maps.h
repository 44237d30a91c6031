/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of the datapath, declared in one place. All are pinned by name
 * under /sys/fs/bpf/vem/<instance>/ so a restarted agent adopts them. */
#ifndef VEM_MAPS_H
#define VEM_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "types.h"

/* Hash maps the agent rewrites whole values in are not preallocated: the
 * kernel then frees replaced values after an RCU grace period, so a program
 * never reads a value that is being reused (no torn flood lists). */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VEM_MAX_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);              /* ifindex */
	__type(value, struct vem_port);
} vem_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VEM_MAX_SEGMENTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);              /* segment ID */
	__type(value, struct vem_segment);
} vem_segments SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VEM_VLAN_IDS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);              /* VID, 0 = untagged */
	__type(value, __u32);            /* segment ID, 0 = none */
} vem_vlans SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VEM_MAX_SEGMENTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);              /* VNI */
	__type(value, __u32);            /* segment ID */
} vem_vnis SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);              /* always 0 */
	__type(value, struct vem_uplink);
} vem_uplinks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __be32);             /* remote VTEP */
	__type(value, struct vem_nexthop);
} vem_nexthops SEC(".maps");

/* LRU: a full table evicts the least recently used MACs, never stops
 * forwarding to the ones in use. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VEM_MAC_ENTRIES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct vem_mac_key);
	__type(value, struct vem_mac_entry);
} vem_macs SEC(".maps");

/* MACs the agent installs: a port-secured vEth's own MAC, known from its
 * configuration. Never learned, aged or evicted (a hash, not an LRU: a
 * table full of learned MACs cannot push a local VM out), and looked up
 * before the learned table. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VEM_MAX_PORTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct vem_mac_key);
	__type(value, struct vem_mac_entry);
} vem_static_macs SEC(".maps");

/* Address bindings of port-secured vEths (portsec.h): the full-length
 * ones (a port's own /32 and /128 addresses, the common case) in a hash,
 * looked up first, and the shorter prefixes of allowed address pairs in
 * an LPM trie. Keys carry the source MAC, so a pair binds its own MAC. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VEM_MAX_ADDRS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct vem_addr_key);  /* prefixlen always VEM_ADDR_KEY_BITS */
	__type(value, __u8);               /* unused */
} vem_host_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VEM_MAX_ADDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required of LPM tries */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct vem_addr_key);
	__type(value, __u8);               /* unused */
} vem_addrs SEC(".maps");

/* Extra source MACs of port-secured vEths (allowed address pairs). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VEM_MAX_ADDRS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct vem_port_mac);
	__type(value, __u8);               /* unused */
} vem_port_macs SEC(".maps");

/* MACs learned per slot, for the MAC limit of open vEths: counted by
 * vem_learn as entries come and move, recounted by the agent's ageing
 * sweep (which sees deletions and LRU evictions the program cannot). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VEM_MAX_PORTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);              /* slot */
	__type(value, __s32);
} vem_learned SEC(".maps");

/* Storm control buckets per slot: shared by every CPU (updated with
 * atomic adds), so a port's rate holds however its traffic spreads. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VEM_MAX_PORTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);              /* slot */
	__type(value, struct vem_storm);
} vem_storms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VEM_MAX_PORTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);              /* slot */
	__type(value, struct vem_counters);
} vem_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, struct vem_config);
} vem_settings SEC(".maps");

#endif
