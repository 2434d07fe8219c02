// sk_lookup: steers TCP connections and UDP datagrams for local port steer_port to the
// sockets in lookup_sockets (key 0: a TCP listener, key 1: a UDP socket), whatever port those
// are bound to; used by test/kernel/netns-link.test.ts.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

// The port (host byte order, as bpf_sk_lookup.local_port has it) to steer; set by the test.
volatile const __u32 steer_port = 7007;

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} lookup_sockets SEC(".maps");

// [0] TCP lookups steered, [1] UDP lookups steered, [2] steering failed.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} lookup_counts SEC(".maps");

static __always_inline void add(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&lookup_counts, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("sk_lookup")
int steer(struct bpf_sk_lookup *ctx)
{
	__u32 key;
	struct bpf_sock *sk;
	long err;

	if (ctx->local_port != steer_port)
		return SK_PASS;
	if (ctx->protocol == IPPROTO_TCP)
		key = 0;
	else if (ctx->protocol == IPPROTO_UDP)
		key = 1;
	else
		return SK_PASS;
	sk = bpf_map_lookup_elem(&lookup_sockets, &key);
	if (!sk) {
		add(2);
		return SK_PASS;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	add(err ? 2 : key);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
