// netmon: bytes and packets sent and received, per cgroup and per socket, by the processes
// of the cgroup the programs are attached to (and its descendants). Used by
// examples/netmon.mjs.
//
// cgroup_skb programs see every IPv4/IPv6 packet a socket of the cgroup sends (egress) or
// receives (ingress), from the IP header on: skb->len is the IP packet's length. They run
// where the kernel finds them convenient (softirq for received packets and TCP ACKs), so
// "current" is not the socket's process there and cgroup_skb has no helper for it. The
// process is taken at socket creation instead: cgroup/sock_create runs in the creating
// process (a socket(2) call), and the socket cookie ties that process to the packets.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_COMM_LEN 16

struct counters {
	__u64 tx_bytes;
	__u64 tx_packets;
	__u64 rx_bytes;
	__u64 rx_packets;
};

// One socket: who created it (pid 0 when netmon did not see it created: sockets older than
// netmon, and sockets accept(2) returns, which are not created by socket(2)), and its traffic.
struct socket_stats {
	__u32 pid;
	char comm[TASK_COMM_LEN];
	struct counters c;
};

// The cgroup of the socket (cgroup v2 id, the inode number of its directory) → traffic.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct counters);
} by_cgroup SEC(".maps");

// Socket cookie → creator and traffic. LRU: sockets come and go, and closed ones are never
// deleted here; the least recently used make room.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct socket_stats);
} by_socket SEC(".maps");

static __always_inline void add(struct counters *c, __u64 len, int egress)
{
	if (egress) {
		__sync_fetch_and_add(&c->tx_bytes, len);
		__sync_fetch_and_add(&c->tx_packets, 1);
	} else {
		__sync_fetch_and_add(&c->rx_bytes, len);
		__sync_fetch_and_add(&c->rx_packets, 1);
	}
}

static __always_inline void account(struct __sk_buff *skb, int egress)
{
	__u64 len = skb->len;
	// 0 when the packet has no full socket (TCP SYN-ACKs of a listener, time-wait ACKs).
	__u64 cgroup = bpf_skb_cgroup_id(skb);
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct counters *c = bpf_map_lookup_elem(&by_cgroup, &cgroup);

	if (!c) {
		struct counters zero = {};

		bpf_map_update_elem(&by_cgroup, &cgroup, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&by_cgroup, &cgroup);
	}
	if (c)
		add(c, len, egress);

	struct socket_stats *s = bpf_map_lookup_elem(&by_socket, &cookie);
	if (!s) {
		struct socket_stats unknown = {};

		bpf_map_update_elem(&by_socket, &cookie, &unknown, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&by_socket, &cookie);
	}
	if (s)
		add(&s->c, len, egress);
}

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	account(skb, 1);
	return 1; // let the packet through
}

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb)
{
	account(skb, 0);
	return 1;
}

SEC("cgroup/sock_create")
int record_creator(struct bpf_sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct socket_stats s = {};

	s.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(s.comm, sizeof(s.comm));
	bpf_map_update_elem(&by_socket, &cookie, &s, BPF_ANY);
	return 1; // allow the socket
}
