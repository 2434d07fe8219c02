// netkit programs for test/kernel/netkit.test.ts: count IPv4 UDP datagrams to a port on the
// primary side (packets the primary device sends) and on the peer side (packets the peer
// sends), drop them on the peer side, and record the order of two programs of one side.
//
// netkit devices are Ethernet devices in either mode (netkit_setup() calls ether_setup(), and
// netkit_xmit() needs ETH_HLEN bytes and runs the programs with the MAC header at skb->data).
// The default L3 mode only means IFF_NOARP and all-zero MAC addresses: the packet a program
// sees still starts with a 14-byte Ethernet header, so the IP header is at net_offset
// ETH_HLEN (skb_udp_dport.h).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "skb_udp_dport.h"

// The netkit verdicts (include/uapi/linux/if_link.h since 6.7; Debian 12's headers predate them).
#define NETKIT_NEXT -1
#define NETKIT_DROP 2

const volatile __u16 count_port = 0;
const volatile __u16 drop_port = 0;
const volatile __u16 order_port = 0;

__u64 primary_packets = 0;
__u64 peer_packets = 0;
__u64 dropped_packets = 0;
// One hex digit per program run, first run in the highest digit.
__u64 order_trace = 0;

SEC("netkit/primary")
int count_primary(struct __sk_buff *skb)
{
	if (count_port != 0 && udp_dport(skb) == count_port)
		__sync_fetch_and_add(&primary_packets, 1);
	return NETKIT_NEXT;
}

SEC("netkit/peer")
int count_peer(struct __sk_buff *skb)
{
	if (count_port != 0 && udp_dport(skb) == count_port)
		__sync_fetch_and_add(&peer_packets, 1);
	return NETKIT_NEXT;
}

SEC("netkit/peer")
int drop_peer(struct __sk_buff *skb)
{
	if (drop_port != 0 && udp_dport(skb) == drop_port) {
		__sync_fetch_and_add(&dropped_packets, 1);
		return NETKIT_DROP;
	}
	return NETKIT_NEXT;
}

// The test sends one datagram at a time, so the read-modify-write below is not contended.
static __always_inline int mark(struct __sk_buff *skb, __u64 id)
{
	if (order_port != 0 && udp_dport(skb) == order_port)
		order_trace = (order_trace << 4) | id;
	return NETKIT_NEXT;
}

SEC("netkit/primary")
int order_1(struct __sk_buff *skb)
{
	return mark(skb, 1);
}

SEC("netkit/primary")
int order_2(struct __sk_buff *skb)
{
	return mark(skb, 2);
}

char LICENSE[] SEC("license") = "GPL";
