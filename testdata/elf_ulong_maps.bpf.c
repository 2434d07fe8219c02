// Map attributes written with __ulong (libbpf's bpf_helpers.h since 1.4; Debian's 1.1 lacks
// it, so it is defined here the same way): an anonymous enum whose one enumerator is the value,
// an ENUM64 when the value needs 64 bits (clang 15+). Built with clang-19, which emits ENUM64.
// ebpf-ts-clang: clang-19
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef __ulong
#define ___ulong_cat(a, b) a##b
#define ___ulong_name(n) ___ulong_cat(__unique_value, n)
#define __ulong(name, val) enum { ___ulong_name(__COUNTER__) = val } name
#endif

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__type(value, __u32);
	__ulong(max_entries, 64);
	__ulong(map_extra, 5);
} small_bloom SEC(".maps");

// A 64-bit value, as an arena's address hint is: ENUM64 in BTF. Only parsed (arenas need the
// kernel's permission), so the test checks the value the spec carries.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__ulong(max_entries, 16);
	__ulong(map_flags, BPF_F_NO_PREALLOC);
	__ulong(map_extra, 1ull << 44);
} wide_extra SEC(".maps");

SEC("socket")
int ulong_maps(struct __sk_buff *skb)
{
	__u32 v = skb->len;

	return bpf_map_peek_elem(&small_bloom, &v) == 0;
}

char LICENSE[] SEC("license") = "GPL";
