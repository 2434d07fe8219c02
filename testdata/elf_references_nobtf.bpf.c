// SPDX-License-Identifier: MIT
// ebpf-ts-cflags: -g0
// Symbolic references in an object without BTF (-g0): nothing says whether an undefined
// symbol is a kconfig value, a kernel symbol or a constant, so every one stays a name on its
// instruction — the __kconfig extern included — for the user to resolve before loading.
// Legacy map definitions, since BTF-defined maps need BTF. Each socket program returns 0 when
// its references were resolved the way the kernel test resolves them, its line number
// otherwise.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct legacy_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct legacy_map_def SEC("maps") counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

/* What the test points LINUX_KERNEL_VERSION at, after setting it with rewriteConstants. */
const volatile __u32 kernel_version_stand_in = 0;

extern __u32 LINUX_KERNEL_VERSION __kconfig;

/* Defined nowhere: the test resolves it to twice_impl, a subprogram twice_entry carries. */
int twice(int x);

SEC("socket")
int nobtf_kconfig(struct __sk_buff *skb)
{
	return LINUX_KERNEL_VERSION == 0x060c00 ? 0 : __LINE__;
}

SEC("socket")
int nobtf_constant(struct __sk_buff *skb)
{
	__u64 x;
	asm volatile("%0 = MY_CONST ll" : "=r"(x));
	return x == 5 ? 0 : __LINE__;
}

SEC("socket")
int nobtf_call(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	if (!v)
		return __LINE__;
	return twice(21) == 42 ? 0 : __LINE__;
}

__noinline int twice_impl(int x)
{
	return x * 2;
}

SEC("socket")
int twice_entry(struct __sk_buff *skb)
{
	return twice_impl(1);
}

char _license[] SEC("license") = "GPL";
