// Cgroup programs for test/kernel/cgroup.test.ts: one per hook the tests drive with real
// processes in a test cgroup. Each either refuses something the test then tries (and sees
// fail with EPERM) or counts what it sees into a global the test reads.
//
// Network-order fields are read byte by byte (be16, byte 0 of an address) rather than
// compared with bpf_htons()/bpf_htonl() constants or through the ihl bitfield: the object is
// built for both byte orders and the unit tests expect the same instructions in each.
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

// Not in the UAPI headers above; the values are the same on every architecture.
#define AF_INET 2
#define SOCK_DGRAM 2

char LICENSE[] SEC("license") = "GPL";

// A big-endian (network order) u16 from two bytes in memory.
static __always_inline __u16 be16(const void *p)
{
	const volatile __u8 *b = p;
	return (__u16)(b[0] << 8 | b[1]);
}

// Set at load (loadCollection's constants): the TCP port connect() may not reach, the UDP
// port whose datagrams are counted, and the device deny_dev refuses.
const volatile __u16 blocked_port = 0;
const volatile __u16 counted_port = 0;
const volatile __u32 denied_major = 0;
const volatile __u32 denied_minor = 0;

__u64 connects_a = 0;
__u64 connects_b = 0;
__u64 egress_packets = 0;
__u64 egress_bytes = 0;
__u64 ingress_packets = 0;
__u64 ingress_bytes = 0;
__u64 sysctl_reads = 0;

// connect() to 127.0.0.1:blocked_port is refused (0 = EPERM for the caller). The address and
// port are in network order: copied to the stack, their bytes are in the order they are sent.
SEC("cgroup/connect4")
int deny_connect4(struct bpf_sock_addr *ctx)
{
	__u32 ip = ctx->user_ip4;
	__u32 port = ctx->user_port;
	const volatile __u8 *a = (const volatile __u8 *)&ip;

	if (a[0] == 127 && a[1] == 0 && a[2] == 0 && a[3] == 1 && be16(&port) == blocked_port)
		return 0;
	return 1;
}

// Two programs that only count, for ALLOW_MULTI: both run for one connect().
SEC("cgroup/connect4")
int count_connect4_a(struct bpf_sock_addr *ctx)
{
	__sync_fetch_and_add(&connects_a, 1);
	return 1;
}

SEC("cgroup/connect4")
int count_connect4_b(struct bpf_sock_addr *ctx)
{
	__sync_fetch_and_add(&connects_b, 1);
	return 1;
}

// cgroup_skb programs see the packet from its IP header (the kernel pushes skb->data back to
// the network header for both directions), so skb->len is the IP datagram's length.
static __always_inline void count_udp(struct __sk_buff *skb, __u64 *packets, __u64 *bytes)
{
	__u8 ip[20];
	__u8 udp[8];
	__u32 ihl;

	if (bpf_skb_load_bytes(skb, 0, ip, sizeof(ip)))
		return;
	// Version 4 in the high nibble of byte 0, the header length in 32-bit words in the low
	// one; the protocol is byte 9.
	if ((*(volatile __u8 *)&ip[0] >> 4) != 4 || ip[9] != IPPROTO_UDP)
		return;
	ihl = (*(volatile __u8 *)&ip[0] & 0x0f) * 4;
	if (bpf_skb_load_bytes(skb, ihl, udp, sizeof(udp)) || be16(&udp[2]) != counted_port)
		return;
	__sync_fetch_and_add(packets, 1);
	__sync_fetch_and_add(bytes, skb->len);
}

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	count_udp(skb, &egress_packets, &egress_bytes);
	return 1;
}

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb)
{
	count_udp(skb, &ingress_packets, &ingress_bytes);
	return 1;
}

// socket(AF_INET, SOCK_DGRAM, …) is refused; other sockets are created as usual.
SEC("cgroup/sock_create")
int deny_udp4_socket(struct bpf_sock *ctx)
{
	if (ctx->family == AF_INET && ctx->type == SOCK_DGRAM)
		return 0;
	return 1;
}

// Opening (or mknod of) the character device denied_major:denied_minor is refused.
SEC("cgroup/dev")
int deny_dev(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 type = ctx->access_type & 0xffff;

	if (type == BPF_DEVCG_DEV_CHAR && ctx->major == denied_major && ctx->minor == denied_minor)
		return 0;
	return 1;
}

// Reading any sysctl under /proc/sys is refused and counted; writes go through.
SEC("cgroup/sysctl")
int deny_sysctl_read(struct bpf_sysctl *ctx)
{
	if (ctx->write)
		return 1;
	__sync_fetch_and_add(&sysctl_reads, 1);
	return 0;
}
