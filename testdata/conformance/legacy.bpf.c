// SPDX-License-Identifier: MIT
// The pre-BTF object (iproute2, old samples/bpf): `struct bpf_map_def` in the "maps" section,
// global data and a static subprogram. Nothing here needs BTF, so its -g0 builds are objects
// of the kind toolchains without BTF produce. ex_counter runs under testRun: it counts packets
// in legacy_counts and returns 3 + packet length / 16.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct legacy_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct legacy_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

struct legacy_map_def SEC("maps") legacy_seen = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 16,
};

__u32 legacy_base = 3;

static __attribute__((noinline)) __u32 legacy_scale(__u32 len)
{
	return len / 16 + legacy_base;
}

SEC("socket")
int legacy_socket(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&legacy_counts, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	return legacy_scale(skb->len);
}

SEC("xdp")
int legacy_xdp(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 one = 1;

	bpf_map_update_elem(&legacy_seen, &len, &one, BPF_ANY);
	return legacy_scale(len) > 3 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
