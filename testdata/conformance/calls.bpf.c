// SPDX-License-Identifier: MIT
// BPF-to-BPF calls: static and global subprograms, one called from several programs and from
// another subprogram, and a static callback passed to bpf_loop (a function address, not a
// call). Needs no BTF: without it the kernel verifies the global functions as static ones.
// calls_socket and calls_xdp run under testRun and return fixed values for a 64-byte packet.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int calls_double(int x)
{
	return x * 2;
}

__attribute__((noinline)) int calls_global_add(int a, int b)
{
	return calls_double(a) + b;
}

static int calls_step(__u32 i, void *ctx)
{
	*(int *)ctx += i;
	return 0;
}

SEC("socket")
int calls_socket(struct __sk_buff *skb)
{
	int sum = 0;

	bpf_loop(4, calls_step, &sum, 0); /* 0 + 1 + 2 + 3 */
	return calls_global_add(skb->len, sum);
}

SEC("xdp")
int calls_xdp(struct xdp_md *ctx)
{
	return calls_global_add(1, calls_double(ctx->data_end - ctx->data) == 128 ? 0 : 5);
}

char _license[] SEC("license") = "GPL";
