// SPDX-License-Identifier: MIT
// The consumer side of a BPF_MAP_TYPE_USER_RINGBUF (6.1) for test/kernel/user-ringbuf.test.ts:
// `drain`, run with BPF_PROG_TEST_RUN, calls bpf_user_ringbuf_drain() once and sums what the
// records say into globals the test reads back.
//
// A record written by the test is { u32 len; u32 seq; u64 value; } followed by filler whose
// last byte is (seq & 0xff), `len` being the whole record's length. For each record the
// callback checks that the kernel sees exactly `len` bytes (a byte at len - 1 is readable, one
// at len is not), that sequence numbers follow each other, and sums values, lengths and last
// bytes. Records shorter than the 16-byte header are only counted.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 64 * 1024);
} user_rb SEC(".maps");

struct rec_hdr {
	__u32 len;
	__u32 seq;
	__u64 value;
};

__u64 records;
__u64 short_records;
__u64 value_sum;
__u64 len_sum;
__u64 tail_sum;
__u64 bad_len;
__u64 order_errors;
__u32 next_seq;
// When non-zero, the callback stops the drain (returns 1) after this many records per run.
__u32 stop_after;
__u32 seen_this_run;
__s64 last_drain;

static long on_record(struct bpf_dynptr *dynptr, void *ctx)
{
	struct rec_hdr h;
	__u8 tail;

	seen_this_run++;
	if (bpf_dynptr_read(&h, sizeof(h), dynptr, 0, 0)) {
		short_records++;
	} else {
		records++;
		value_sum += h.value;
		len_sum += h.len;
		if (h.seq != next_seq)
			order_errors++;
		next_seq = h.seq + 1;
		if (h.len > sizeof(h)) {
			if (bpf_dynptr_read(&tail, 1, dynptr, h.len - 1, 0))
				bad_len++;
			else
				tail_sum += tail;
		}
		// The record must end exactly at len.
		if (!bpf_dynptr_read(&tail, 1, dynptr, h.len, 0))
			bad_len++;
	}
	if (stop_after != 0 && seen_this_run >= stop_after)
		return 1;
	return 0;
}

SEC("syscall")
int drain(void *ctx)
{
	seen_this_run = 0;
	last_drain = bpf_user_ringbuf_drain(&user_rb, on_record, NULL, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
