// SPDX-License-Identifier: MIT
// Legacy "maps" whose definitions are longer than `struct bpf_map_def` (iproute2's
// `struct bpf_elf_map` adds id, pinning, inner_id, inner_idx): a loader must keep the extra
// bytes rather than reject or drop them. The map definitions all have the same size, as
// libbpf requires of a legacy maps section.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct elf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int id;
	unsigned int pinning;
	unsigned int inner_id;
	unsigned int inner_idx;
};

struct elf_map_def SEC("maps") ext_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 1,
	.id = 7,
	.pinning = 2,
};

SEC("classifier")
int ext_classifier(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&ext_counts, &key);
	if (v)
		*v += skb->len;
	return 0;
}

char _license[] SEC("license") = "GPL";
