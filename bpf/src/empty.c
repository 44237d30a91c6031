// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* An empty tc program: the floor of BPF_PROG_TEST_RUN measurements. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int vem_empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}
