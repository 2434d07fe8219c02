// sockmap: programs on the sockets of a SOCKMAP; used by test/kernel/sockmap.test.ts.
//
// - redirect_msg (sk_msg): whatever a socket of msg_map sends is counted and put into the
//   receive queue of the socket at key 1 (bpf_msg_redirect_map with BPF_F_INGRESS), as if
//   that socket had received it;
// - count_skb (sk_skb/stream_verdict) with whole_message (sk_skb/stream_parser): counts the
//   bytes the sockets of skb_map receive and lets them through (SK_PASS).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} msg_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} skb_map SEC(".maps");

// [0] sk_msg messages, [1] sk_msg bytes, [2] sk_skb skbs, [3] sk_skb bytes, [4] parser runs.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} sock_counts SEC(".maps");

static __always_inline void add(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&sock_counts, &slot);
	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("sk_msg")
int redirect_msg(struct sk_msg_md *msg)
{
	add(0, 1);
	add(1, msg->size);
	return bpf_msg_redirect_map(msg, &msg_map, 1, BPF_F_INGRESS);
}

SEC("sk_skb/stream_parser")
int whole_message(struct __sk_buff *skb)
{
	add(4, 1);
	return skb->len;
}

SEC("sk_skb/stream_verdict")
int count_skb(struct __sk_buff *skb)
{
	add(2, 1);
	add(3, skb->len);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
