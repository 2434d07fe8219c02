// SPDX-License-Identifier: MIT
// One program per kind of network and cgroup hook, each counting its runs in `runs`, for
// test/kernel/auto-attach-net.test.ts: attachAll({ interface, cgroup, netns }) attaches the
// ones whose section names the kind of hook, and lists the socket filter as not attached.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum { XDP, TC, CGROUP_SKB, SK_LOOKUP, SOCKET, NR };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NR);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&runs, &which);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("xdp")
int auto_xdp(struct xdp_md *ctx)
{
	count(XDP);
	return XDP_PASS;
}

SEC("tc/ingress")
int auto_tc(struct __sk_buff *skb)
{
	count(TC);
	return 0; // TC_ACT_OK: let the packet go on
}

SEC("cgroup_skb/egress")
int auto_cgroup_skb(struct __sk_buff *skb)
{
	count(CGROUP_SKB);
	return 1; // allow
}

SEC("sk_lookup")
int auto_sk_lookup(struct bpf_sk_lookup *ctx)
{
	count(SK_LOOKUP);
	return SK_PASS;
}

SEC("socket")
int auto_socket(struct __sk_buff *skb)
{
	count(SOCKET);
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
