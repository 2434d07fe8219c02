// sk_reuseport: an SK_REUSEPORT program (SO_ATTACH_REUSEPORT_EBPF) that sends every datagram
// or connection of its SO_REUSEPORT group to the socket at `target` in reuse_sockets; used by
// test/kernel/socket-filter.test.ts.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// The index in reuse_sockets of the socket that gets everything; set by the test.
volatile const __u32 target = 1;

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} reuse_sockets SEC(".maps");

// [0] selections made, [1] selections that failed (no socket at target).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} select_counts SEC(".maps");

SEC("sk_reuseport")
int select_target(struct sk_reuseport_md *md)
{
	__u32 key = target;
	__u32 slot = bpf_sk_select_reuseport(md, &reuse_sockets, &key, 0) == 0 ? 0 : 1;
	__u64 *v = bpf_map_lookup_elem(&select_counts, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
