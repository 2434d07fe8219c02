// netfilter programs for test/kernel/netfilter.test.ts: count IPv4 UDP datagrams to a port at
// the hook they are attached to, drop those to another port, and record the order in which two
// programs of one hook run (their priorities decide it).
//
// A NETFILTER program gets struct bpf_nf_ctx: the hook state and the sk_buff, both as kernel
// (BTF) pointers. The IP header is read from skb->head + skb->network_header, whose offsets in
// the running kernel's sk_buff CO-RE finds.
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#define NF_DROP 0
#define NF_ACCEPT 1

struct sk_buff {
	unsigned char *head;
	__u16 network_header;
} __attribute__((preserve_access_index));

struct nf_hook_state;

// include/net/netfilter/nf_bpf_link.h: the context layout nf_is_valid_access() checks.
struct bpf_nf_ctx {
	const struct nf_hook_state *state;
	struct sk_buff *skb;
};

const volatile __u16 count_port = 0;
const volatile __u16 drop_port = 0;
const volatile __u16 order_port = 0;

__u64 counted_packets = 0;
__u64 dropped_packets = 0;
// One hex digit per program run, first run in the highest digit.
__u64 order_trace = 0;

// The UDP destination port of an IPv4 packet, or 0. Read as bytes and assembled, so that the
// code is the same for either byte order (the unit tests compare the bpfel and bpfeb objects).
static __always_inline __u32 udp_dport(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	unsigned char *ip = skb->head + skb->network_header;
	__u8 hdr[10];
	__u8 port[2];

	if (bpf_probe_read_kernel(hdr, sizeof(hdr), ip))
		return 0;
	if ((hdr[0] >> 4) != 4 || hdr[9] != IPPROTO_UDP)
		return 0;
	if (bpf_probe_read_kernel(port, sizeof(port), ip + (hdr[0] & 0xf) * 4 + 2))
		return 0;
	return (__u32)port[0] << 8 | port[1];
}

SEC("netfilter")
int nf_count(struct bpf_nf_ctx *ctx)
{
	__u32 port = udp_dport(ctx);

	if (port == 0)
		return NF_ACCEPT;
	if (port == count_port)
		__sync_fetch_and_add(&counted_packets, 1);
	if (port == drop_port) {
		__sync_fetch_and_add(&dropped_packets, 1);
		return NF_DROP;
	}
	return NF_ACCEPT;
}

// One datagram at a time in the test: the read-modify-write is not contended.
static __always_inline int mark(struct bpf_nf_ctx *ctx, __u64 id)
{
	if (order_port != 0 && udp_dport(ctx) == order_port)
		order_trace = (order_trace << 4) | id;
	return NF_ACCEPT;
}

SEC("netfilter")
int nf_order_1(struct bpf_nf_ctx *ctx)
{
	return mark(ctx, 1);
}

SEC("netfilter")
int nf_order_2(struct bpf_nf_ctx *ctx)
{
	return mark(ctx, 2);
}

char LICENSE[] SEC("license") = "GPL";
