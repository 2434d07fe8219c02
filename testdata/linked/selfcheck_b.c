// SPDX-License-Identifier: MIT
// Input 2 of linked/selfcheck.bpfel.o (see selfcheck_a.c): the other half of each pair.
#include "selfcheck.h"

__noinline int weak_here_strong_there(void)
{
	return opaque(0);
}

__weak __noinline int strong_here_weak_there(void)
{
	return opaque(__LINE__);
}

__weak __noinline int weak_in_both(void)
{
	return opaque(__LINE__);
}

static __noinline int same_static(void)
{
	return opaque(2);
}

/* A global subprogram of this input, calling a static one. */
__noinline int defined_in_b(int x)
{
	return x * same_static();
}

int weak_var = 1;
__weak int strong_var = __LINE__;
static volatile int same_static_var = 2;
int var_in_b = 1;

struct legacy_elf_map SEC("maps") legacy_b_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 8,
	.id = 7,
};

struct legacy_elf_map SEC("maps") legacy_b_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 3,
	.pinning = 0,
};

__weak struct shared_def shared SEC(".maps");
struct shared_def only_in_b SEC(".maps");

SEC("socket")
int check_b(struct __sk_buff *skb)
{
	__u32 key = 0;
	int r;

	if ((r = weak_here_strong_there()))
		return r;
	if ((r = strong_here_weak_there()))
		return r;
	if ((r = weak_in_both()))
		return r;
	if (same_static() != 2)
		return __LINE__;
	if (same_static_var != 2)
		return __LINE__;
	if (bpf_map_lookup_elem(&legacy_b_hash, &key))
		return __LINE__;
	if (!bpf_map_lookup_elem(&legacy_b_array, &key))
		return __LINE__;
	if (!bpf_map_lookup_elem(&shared, &key))
		return __LINE__;
	return 0;
}
