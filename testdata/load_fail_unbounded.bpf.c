// An index read from the packet used into a map value without a bounds check: "R? unbounded
// memory access, make sure to bounds check any such access".
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct slots {
	__u8 bytes[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slots);
} table SEC(".maps");

SEC("socket")
int unchecked_index(struct __sk_buff *skb)
{
	__u32 key = 0, index = 0;
	struct slots *s;

	if (bpf_skb_load_bytes(skb, 0, &index, sizeof(index)))
		return 0;
	s = bpf_map_lookup_elem(&table, &key);
	if (!s)
		return 0;
	return s->bytes[index];
}

char LICENSE[] SEC("license") = "GPL";
