// xdp_count: packets and bytes per protocol seen by an interface, from XDP (xdp_count) or from
// tc (tc_count, a cls_bpf direct-action classifier), plus one UDP destination port counted on
// its own and, if asked, dropped. Used by examples/xdp-count.mjs and the XDP and tc kernel tests.
//
// Keys of `counts`: the IP protocol for IPv4 and IPv6 packets (IPPROTO_UDP = 17, IPPROTO_ICMP
// = 1, IPPROTO_ICMPV6 = 58, ...), 0x10000 | EtherType for everything else (ARP: 0x10806).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>

// A big-endian (network order) u16 read byte by byte: the same instructions in both byte
// orders of the object, unlike bpf_ntohs, which is a no-op on big-endian targets.
static __always_inline __u16 be16(const void *p)
{
	const volatile __u8 *b = p;
	return (__u16)(b[0] << 8 | b[1]);
}

// The IPv4 header's length in bytes from its first byte (version in the high nibble, IHL in
// the low one), not the ihl bitfield, whose position in struct iphdr depends on byte order.
static __always_inline __u32 ihl(const struct iphdr *ip)
{
	return (*(const volatile __u8 *)ip & 0x0f) * 4;
}

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct counter);
} counts SEC(".maps");

// The packets to UDP port watch_port: one entry.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counter);
} watched SEC(".maps");

// Set before loading (CollectionSpec.rewriteConstants): a UDP destination port to count on its
// own (0: none) and whether to drop what goes to it.
const volatile __u16 watch_port = 0;
const volatile __u8 drop_watched = 0;

static __always_inline void add(struct counter *c, __u64 bytes)
{
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, bytes);
}

static __always_inline void count_key(__u32 key, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(&counts, &key);
	if (c) {
		add(c, bytes);
		return;
	}
	struct counter first = { 1, bytes };
	// Another CPU may have created the entry meanwhile: then add to it.
	if (bpf_map_update_elem(&counts, &key, &first, BPF_NOEXIST) != 0) {
		c = bpf_map_lookup_elem(&counts, &key);
		if (c)
			add(c, bytes);
	}
}

// Counts a UDP datagram to watch_port in `watched`; returns 1 when it must be dropped. Called
// only with a packet pointer: a pointer that may also be 0 (no UDP header) would reach the
// dereference on older verifiers (5.10), which lose the key that rules that path out when it
// is spilled to the stack for the map lookup.
static __always_inline int watch(struct udphdr *udp, void *data_end, __u64 bytes)
{
	if (watch_port == 0 || (void *)(udp + 1) > data_end)
		return 0;
	if (be16(&udp->dest) != watch_port)
		return 0;
	__u32 zero = 0;
	struct counter *w = bpf_map_lookup_elem(&watched, &zero);
	if (w)
		add(w, bytes);
	return drop_watched;
}

// Counts one Ethernet frame; returns 1 when it must be dropped.
static __always_inline int count(void *data, void *data_end, __u64 bytes)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 0;
	__u16 proto = be16(&eth->h_proto);
	if (proto == ETH_P_IP) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return 0;
		__u32 key = ip->protocol;
		count_key(key, bytes);
		return key == IPPROTO_UDP ? watch((void *)ip + ihl(ip), data_end, bytes) : 0;
	}
	if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return 0;
		__u32 key = ip6->nexthdr;
		count_key(key, bytes);
		return key == IPPROTO_UDP ? watch((void *)(ip6 + 1), data_end, bytes) : 0;
	}
	count_key(0x10000 | proto, bytes);
	return 0;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	return count(data, data_end, data_end - data) ? XDP_DROP : XDP_PASS;
}

// A program that lets everything through, to replace xdp_count with.
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	return count(data, data_end, skb->len) ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
