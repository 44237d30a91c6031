// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Baselines for BPF_PROG_TEST_RUN measurements, benchmarked beside the
 * datapath in the same run (machines here are noisy, so only figures
 * taken together compare):
 *   vem_empty           the floor of the method: a program that does nothing;
 *   vem_bare_redirect   the least a switch can do: look the destination MAC
 *                       up and redirect, with no ports, security, learning
 *                       or counters. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual BSD/GPL";

struct bare_mac {
	__u8 addr[ETH_ALEN];
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct bare_mac);
	__type(value, __u32); /* ifindex */
	__uint(max_entries, 1024);
} bare_fdb SEC(".maps");

SEC("tc")
int vem_empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int vem_bare_redirect(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct bare_mac key = {};
	__u32 *ifindex;

	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	__builtin_memcpy(key.addr, eth->h_dest, ETH_ALEN);
	ifindex = bpf_map_lookup_elem(&bare_fdb, &key);
	if (!ifindex)
		return TC_ACT_SHOT;
	return bpf_redirect(*ifindex, 0);
}
