// tcx programs for test/kernel/tcx.test.ts: count IPv4 UDP datagrams to a port on ingress and
// egress, drop them on egress, and record the order in which the programs of one hook run.
//
// The ports are rodata constants the test sets at load time; the counters live in .bss and are
// read through the collection's variables. Every program returns TCX_NEXT unless it decides,
// so the programs of a hook all see each packet.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "skb_udp_dport.h"

// The tcx verdicts (include/uapi/linux/bpf.h since 6.6; Debian 12's headers predate them).
#define TCX_NEXT -1
#define TCX_DROP 2

const volatile __u16 count_port = 0;
const volatile __u16 drop_port = 0;
const volatile __u16 order_port = 0;

__u64 ingress_packets = 0;
__u64 egress_packets = 0;
__u64 dropped_packets = 0;
// One hex digit per program run, first run in the highest digit: 0x123 is order_1, order_2, order_3.
__u64 order_trace = 0;

SEC("tcx/ingress")
int count_ingress(struct __sk_buff *skb)
{
	if (count_port != 0 && udp_dport(skb) == count_port)
		__sync_fetch_and_add(&ingress_packets, 1);
	return TCX_NEXT;
}

SEC("tcx/egress")
int count_egress(struct __sk_buff *skb)
{
	if (count_port != 0 && udp_dport(skb) == count_port)
		__sync_fetch_and_add(&egress_packets, 1);
	return TCX_NEXT;
}

SEC("tcx/egress")
int drop_egress(struct __sk_buff *skb)
{
	if (drop_port != 0 && udp_dport(skb) == drop_port) {
		__sync_fetch_and_add(&dropped_packets, 1);
		return TCX_DROP;
	}
	return TCX_NEXT;
}

// The test sends one datagram at a time, so the read-modify-write below is not contended.
static __always_inline int mark(struct __sk_buff *skb, __u64 id)
{
	if (order_port != 0 && udp_dport(skb) == order_port)
		order_trace = (order_trace << 4) | id;
	return TCX_NEXT;
}

SEC("tcx/ingress")
int order_1(struct __sk_buff *skb)
{
	return mark(skb, 1);
}

SEC("tcx/ingress")
int order_2(struct __sk_buff *skb)
{
	return mark(skb, 2);
}

SEC("tcx/ingress")
int order_3(struct __sk_buff *skb)
{
	return mark(skb, 3);
}

char LICENSE[] SEC("license") = "GPL";
