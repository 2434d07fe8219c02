// sock_filter: a socket filter (SO_ATTACH_BPF) that counts the datagrams its socket receives
// and drops those larger than max_len; used by test/kernel/socket-filter.test.ts.
//
// For a UDP socket the filter runs in udp_queue_rcv_one_skb() with skb->data at the UDP
// header, so skb->len is 8 bytes of header plus the payload. The return value is how many
// bytes to keep: 0 drops the datagram, skb->len keeps all of it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Payload plus UDP header above which a datagram is dropped; set by the test.
volatile const __u32 max_len = 100;

// [0] datagrams seen, [1] datagrams dropped, [2] bytes kept.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} filter_counts SEC(".maps");

static __always_inline void add(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&filter_counts, &slot);
	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("socket")
int drop_large(struct __sk_buff *skb)
{
	add(0, 1);
	if (skb->len > max_len) {
		add(1, 1);
		return 0;
	}
	add(2, skb->len);
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
