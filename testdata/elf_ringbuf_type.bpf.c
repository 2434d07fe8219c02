// SPDX-License-Identifier: MIT
// A ring buffer whose record type is declared on the map, `__type(value, struct event)`, as
// libbpf-style code (and `ebpf-ts gen`) does: the type is kept in the spec for decoders while
// the map is created with key and value sizes 0, which is all the kernel accepts. The socket
// program submits one record per test run (test/kernel/ringbuf-type.test.ts).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u32 seq;
	char tag[12];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
	__type(value, struct event);
} events SEC(".maps");

__u32 seq;

SEC("socket")
int submit_event(struct __sk_buff *skb)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->seq = ++seq;
	// Volatile byte stores: clang merges plain ones (and a memcpy of the string) into wider
	// stores of constants whose value depends on the byte order; the test wants one program
	// for both.
	volatile char *tag = e->tag;
	tag[0] = 'e';
	tag[1] = 'b';
	tag[2] = 'p';
	tag[3] = 'f';
	tag[4] = '-';
	tag[5] = 't';
	tag[6] = 's';
	tag[7] = 0;
	bpf_ringbuf_submit(e, 0);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
