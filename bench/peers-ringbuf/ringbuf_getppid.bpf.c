// SPDX-License-Identifier: GPL-2.0
// bench:ringbuf producer, loaded by peer.c with libbpf (bench/ringbuf.mjs hand-assembles the
// same logic for ebpf-ts). Every getppid() entry of the target process sends one 64-byte record
// with bpf_ringbuf_output(); counters[0] counts attempts, counters[1] failed outputs (ring full:
// a ring buffer has no PERF_RECORD_LOST, the producer is the only one who knows).
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* Written by the loader before load (the only .rodata variable: peer.c relies on that). */
const volatile __u32 target_tgid = 0;

struct record {
	__u64 seq;
	__u64 ts_ns;
	__u32 tgid;
	__u32 cpu;
	__u8 pad[40];
};
_Static_assert(sizeof(struct record) == 64, "64-byte records, like bench:perf");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024); /* overridden by RINGBUF_BYTES in peer.c */
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 k_fired = 0, k_failed = 1;
	struct record r = {};
	__u64 *fired, *failed;

	if (tgid != target_tgid)
		return 0;
	fired = bpf_map_lookup_elem(&counters, &k_fired);
	if (!fired)
		return 0;
	r.seq = __sync_fetch_and_add(fired, 1);
	r.ts_ns = bpf_ktime_get_ns();
	r.tgid = tgid;
	r.cpu = bpf_get_smp_processor_id();
	/* flags 0: the kernel decides when to wake the consumer (only when it had caught up). */
	if (bpf_ringbuf_output(&ring, &r, sizeof(r), 0) < 0) {
		failed = bpf_map_lookup_elem(&counters, &k_failed);
		if (failed)
			__sync_fetch_and_add(failed, 1);
	}
	return 0;
}
