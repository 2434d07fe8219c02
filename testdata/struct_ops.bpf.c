// SPDX-License-Identifier: GPL-2.0
// A Reno-like TCP congestion control as struct_ops, for test/kernel/struct-ops.test.ts and the
// struct_ops unit tests. Three maps of one type:
// - ebpfts_cc_map (.struct_ops): registered by the map update itself (5.6+), name "ebpfts_cc_map";
// - ebpfts_cc (.struct_ops.link): registered by a struct_ops link (6.4+), name "ebpfts_cc";
// - ebpfts_cc_v2 (.struct_ops.link): the same name with another init, for Link.update(map)
//   (tcp_update_congestion_control() only swaps in a map whose name is the old one's).
// The programs count their calls in globals the test reads.
//
// struct tcp_congestion_ops is declared here with fewer members, in another order and with
// other offsets than any kernel's: the loader must place each member by name.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define __pai __attribute__((preserve_access_index))

// A CC a non-initial network namespace may select as its default (tcp_set_default_congestion_control()).
#define TCP_CONG_NON_RESTRICTED 0x1

struct sock;

struct tcp_sock {
	__u32 snd_cwnd;
	__u32 snd_cwnd_cnt;
	__u32 snd_cwnd_clamp;
	__u32 snd_ssthresh;
	__u32 prior_cwnd;
} __pai;

struct tcp_congestion_ops {
	char name[16];
	__u32 flags;
	void (*init)(struct sock *sk);
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
};

__u64 init_calls = 0;
__u64 init_v2_calls = 0;
__u64 cong_avoid_calls = 0;

SEC("struct_ops/ebpfts_init")
void BPF_PROG(ebpfts_init, struct sock *sk)
{
	__sync_fetch_and_add(&init_calls, 1);
}

SEC("struct_ops/ebpfts_init_v2")
void BPF_PROG(ebpfts_init_v2, struct sock *sk)
{
	__sync_fetch_and_add(&init_v2_calls, 1);
}

SEC("struct_ops/ebpfts_ssthresh")
__u32 BPF_PROG(ebpfts_ssthresh, struct sock *sk)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u32 half = tp->snd_cwnd >> 1;

	return half < 2 ? 2 : half;
}

SEC("struct_ops/ebpfts_cong_avoid")
void BPF_PROG(ebpfts_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u32 cwnd = tp->snd_cwnd;

	__sync_fetch_and_add(&cong_avoid_calls, 1);
	if (cwnd < tp->snd_ssthresh) {
		// Slow start: one segment per segment acked, up to ssthresh.
		cwnd += acked;
		tp->snd_cwnd = cwnd < tp->snd_ssthresh ? cwnd : tp->snd_ssthresh;
		return;
	}
	// Congestion avoidance: one segment per window acked.
	tp->snd_cwnd_cnt += acked;
	if (tp->snd_cwnd_cnt >= cwnd) {
		tp->snd_cwnd_cnt -= cwnd;
		if (cwnd < tp->snd_cwnd_clamp)
			tp->snd_cwnd = cwnd + 1;
	}
}

SEC("struct_ops/ebpfts_undo_cwnd")
__u32 BPF_PROG(ebpfts_undo_cwnd, struct sock *sk)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;

	return tp->snd_cwnd > tp->prior_cwnd ? tp->snd_cwnd : tp->prior_cwnd;
}

SEC(".struct_ops")
struct tcp_congestion_ops ebpfts_cc_map = {
	.name = "ebpfts_cc_map",
	.flags = TCP_CONG_NON_RESTRICTED,
	.init = (void *)ebpfts_init,
	.ssthresh = (void *)ebpfts_ssthresh,
	.cong_avoid = (void *)ebpfts_cong_avoid,
	.undo_cwnd = (void *)ebpfts_undo_cwnd,
};

SEC(".struct_ops.link")
struct tcp_congestion_ops ebpfts_cc = {
	.name = "ebpfts_cc",
	.flags = TCP_CONG_NON_RESTRICTED,
	.init = (void *)ebpfts_init,
	.ssthresh = (void *)ebpfts_ssthresh,
	.cong_avoid = (void *)ebpfts_cong_avoid,
	.undo_cwnd = (void *)ebpfts_undo_cwnd,
};

SEC(".struct_ops.link")
struct tcp_congestion_ops ebpfts_cc_v2 = {
	.name = "ebpfts_cc",
	.flags = TCP_CONG_NON_RESTRICTED,
	.init = (void *)ebpfts_init_v2,
	.ssthresh = (void *)ebpfts_ssthresh,
	.cong_avoid = (void *)ebpfts_cong_avoid,
	.undo_cwnd = (void *)ebpfts_undo_cwnd,
};
