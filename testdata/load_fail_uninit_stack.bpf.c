// A map key struct with padding, built on the stack field by field: the 3 bytes after `kind`
// are never written, and bpf_map_update_elem() reads all 16. Without CAP_PERFMON the verifier
// refuses ("invalid indirect read from stack", "invalid read from stack" since 6.x); with it
// (root) uninitialised stack reads are allowed since 6.4, so the test drops CAP_PERFMON and
// CAP_SYS_ADMIN while keeping CAP_BPF.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
	__u8 kind;      /* 3 bytes of padding follow */
	__u32 port;
	__u64 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct flow_key);
	__type(value, __u64);
} flows SEC(".maps");

SEC("socket")
int padded_key(struct __sk_buff *skb)
{
	struct flow_key key;
	__u64 one = 1;

	key.kind = 1;
	key.port = skb->len;
	key.addr = skb->protocol;
	bpf_map_update_elem(&flows, &key, &one, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
