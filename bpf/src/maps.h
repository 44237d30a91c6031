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
