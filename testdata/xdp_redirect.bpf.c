// XDP programs that do not attach to an interface themselves: devmap and cpumap programs,
// which the kernel runs on packets redirected into a devmap or cpumap entry holding them
// (struct bpf_devmap_val / bpf_cpumap_val with bpf_prog.fd), and a multi-buffer ("frags")
// program. xdp_to_devmap / xdp_to_cpumap redirect the UDP packets to watch_port into entry 0;
// the entry's program counts them in `hits` and drops them. Used by test/kernel/xdp.test.ts.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
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

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} tx_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpus SEC(".maps");

// 0: devmap program runs, 1: cpumap program runs, 2: frags packets, 3: their whole length.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

const volatile __u16 watch_port = 0;

static __always_inline void bump(__u32 i, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &i);
	if (v)
		__sync_fetch_and_add(v, n);
}

// True for an IPv4 UDP packet to watch_port.
static __always_inline int is_watched(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || be16(&eth->h_proto) != ETH_P_IP)
		return 0;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP)
		return 0;
	struct udphdr *udp = (void *)ip + ihl(ip);
	if ((void *)(udp + 1) > data_end)
		return 0;
	return be16(&udp->dest) == watch_port;
}

SEC("xdp")
int xdp_to_devmap(struct xdp_md *ctx)
{
	return is_watched(ctx) ? bpf_redirect_map(&tx_port, 0, 0) : XDP_PASS;
}

SEC("xdp")
int xdp_to_cpumap(struct xdp_md *ctx)
{
	return is_watched(ctx) ? bpf_redirect_map(&cpus, 0, 0) : XDP_PASS;
}

SEC("xdp/devmap")
int devmap_count(struct xdp_md *ctx)
{
	bump(0, 1);
	return XDP_DROP;
}

SEC("xdp/cpumap")
int cpumap_count(struct xdp_md *ctx)
{
	bump(1, 1);
	return XDP_DROP;
}

// Loaded with BPF_F_XDP_HAS_FRAGS (Linux 5.18): may see packets larger than a page, whose
// whole length bpf_xdp_get_buff_len() gives.
SEC("xdp.frags")
int frags_count(struct xdp_md *ctx)
{
	if (is_watched(ctx)) {
		bump(2, 1);
		bump(3, bpf_xdp_get_buff_len(ctx));
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
