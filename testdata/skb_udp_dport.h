// SPDX-License-Identifier: MIT
// Shared by the tc-style test programs (tcx.bpf.c, netkit.bpf.c): the UDP destination port of
// an IPv4 packet of an skb, or 0. The IP header starts at net_offset (a constant the tests may
// set: ETH_HLEN after the Ethernet header of veth, lo and netkit). The headers are read as
// bytes and the port assembled from them, so that the code is the same for either byte order
// (the unit tests compare the bpfel and bpfeb objects instruction by instruction).
#ifndef SKB_UDP_DPORT_H
#define SKB_UDP_DPORT_H

const volatile __u32 net_offset = ETH_HLEN;

static __always_inline __u32 udp_dport(struct __sk_buff *skb)
{
	__u8 ip[10];
	__u8 port[2];

	if (bpf_skb_load_bytes(skb, net_offset, ip, sizeof(ip)))
		return 0;
	// Version 4 (ARP and IPv6 have other values in the first nibble) and protocol UDP.
	if ((ip[0] >> 4) != 4 || ip[9] != IPPROTO_UDP)
		return 0;
	// The destination port follows the source port after the IP header (IHL words).
	if (bpf_skb_load_bytes(skb, net_offset + (ip[0] & 0xf) * 4 + 2, port, sizeof(port)))
		return 0;
	return (__u32)port[0] << 8 | port[1];
}

#endif
