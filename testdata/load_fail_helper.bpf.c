// A socket filter calling bpf_skb_store_bytes(), a helper only tc/lwt programs may use: the
// verifier answers "program of this type cannot use helper bpf_skb_store_bytes#9" (6.2+;
// "unknown func" before). loadCollection must name the helper, the program type and versions.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int store_from_socket_filter(struct __sk_buff *skb)
{
	__u32 v = 1;

	bpf_skb_store_bytes(skb, 0, &v, sizeof(v), 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
