// netns_flow: a flow dissector (BPF_FLOW_DISSECTOR) for IPv4 that counts the packets it
// dissects and the UDP ones among them, and fills the flow keys the kernel reads back
// (addresses, protocol, transport offset). Used by test/kernel/netns-link.test.ts, whose
// namespace carries no UDP but the test's.
//
// The header is read as bytes and only single bytes are compared: no bpf_htons(), no iphdr
// bitfields, no multi-byte constants, so the object compiles to the same instructions in both
// byte orders (test/unit/collection-spec.test.ts compares them).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define IPPROTO_UDP 17
#define ETH_P_IP 0x0800

// [0] packets dissected, [1] IPv4 UDP packets.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} flow_counts SEC(".maps");

static __always_inline void add(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&flow_counts, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	struct bpf_flow_keys *keys = skb->flow_keys;
	// Read as words so the addresses copy as words; single bytes through `ip`.
	__u32 words[5];
	__u8 *ip = (__u8 *)words;

	add(0);
	if (bpf_skb_load_bytes(skb, keys->nhoff, words, sizeof(words)))
		return BPF_DROP;
	if ((ip[0] >> 4) != 4 || (ip[0] & 0xf) < 5)
		return BPF_DROP;
	keys->addr_proto = ETH_P_IP;
	keys->ipv4_src = words[3];
	keys->ipv4_dst = words[4];
	keys->ip_proto = ip[9];
	keys->thoff = keys->nhoff + (ip[0] & 0xf) * 4;
	if (ip[9] == IPPROTO_UDP)
		add(1);
	return BPF_OK;
}

char LICENSE[] SEC("license") = "GPL";
