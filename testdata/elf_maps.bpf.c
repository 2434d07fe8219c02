// SPDX-License-Identifier: MIT
// BTF-defined maps of many kinds, for the ELF reader's `.maps` parsing: key/value given as
// types and as sizes, map_flags, numa_node, pinning, map_extra, map-in-map with an inner map
// template (`values`) and statically initialised slots, and a prog array whose slots name
// programs (tail calls). Nothing here needs to pass the verifier except the programs.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct point {
	int x;
	int y;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct point);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} points SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 16);
	__uint(max_entries, 4);
} sized_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64);
	__type(value, __u64);
	__uint(max_entries, 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(numa_node, 0);
	__uint(map_flags, BPF_F_NUMA_NODE);
} pinned_lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
} events_perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__type(value, __u32);
	__uint(max_entries, 8);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__type(value, __u64);
	__uint(max_entries, 100);
	__uint(map_extra, 3);
} bloom SEC(".maps");

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_key);
	__type(value, __u32);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
	__uint(max_entries, 64);
} stacks SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2);
};

struct inner inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_array SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__type(key, __u32);
		__type(value, __u64);
		__uint(max_entries, 32);
	});
} outer_hash SEC(".maps");

int tail_target_0(struct __sk_buff *skb);
int tail_target_1(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 3);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct __sk_buff *));
} jump_table SEC(".maps") = {
	.values = { [0] = (void *)&tail_target_0, [2] = (void *)&tail_target_1 },
};

SEC("socket")
int tail_target_0(struct __sk_buff *skb)
{
	return 1;
}

SEC("socket")
int tail_target_1(struct __sk_buff *skb)
{
	return 2;
}

SEC("socket")
int use_maps(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct point *p = bpf_map_lookup_elem(&points, &key);
	__u64 *pc = bpf_map_lookup_elem(&percpu, &key);
	void *inner = bpf_map_lookup_elem(&outer_array, &key);
	if (p && pc)
		*pc += p->x;
	if (inner) {
		__u32 *v = bpf_map_lookup_elem(inner, &key);
		if (v)
			return *v;
	}
	bpf_map_push_elem(&queue, &key, 0);
	bpf_ringbuf_output(&events_rb, &key, sizeof(key), 0);
	bpf_tail_call(skb, &jump_table, 0);
	return 0;
}

char _license[] SEC("license") = "Dual MIT/GPL";
