// SPDX-License-Identifier: MIT
// Input 1 of linked/selfcheck.bpfel.o, linked with selfcheck_b.c by `bpftool gen object`
// (build.sh). Every definition that should win the link returns 0 (or the value its caller
// checks), every one that should lose returns its line number, and each program returns 0
// when all of them resolved the way libbpf's linker resolves them.
#include "selfcheck.h"

/* Weak here, strong in b: b's wins. */
__weak __noinline int weak_here_strong_there(void)
{
	return opaque(__LINE__);
}

/* Strong here, weak in b: this one wins. */
__noinline int strong_here_weak_there(void)
{
	return opaque(0);
}

/* Weak in both inputs: the first input's (this one) wins. */
__weak __noinline int weak_in_both(void)
{
	return opaque(0);
}

/* Static in both inputs, one name: each input calls its own. */
static __noinline int same_static(void)
{
	return opaque(1);
}

/* Global, hidden: static linkage in BTF once linked. */
__attribute__((visibility("hidden"))) __noinline int hidden_in_a(void)
{
	return opaque(0);
}

/* Defined in b. */
extern int defined_in_b(int x);

/*
 * Variables: weak here, strong in b; strong here, weak in b; static in both; extern. A winner
 * holds 1 (not 0, which would put it in .bss while the loser's line number is in .data, and
 * the linker refuses one symbol in two sections).
 */
__weak int weak_var = __LINE__;
int strong_var = 1;
static volatile int same_static_var = 1;
extern int var_in_b;

/* Maps: a 20-byte legacy definition here, 28-byte ones in b, in one linked `maps` section. */
struct legacy_map_def SEC("maps") legacy_a = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

/* A BTF map defined here and weakly in b, one map once linked; one declared extern here. */
struct shared_def shared SEC(".maps");
extern struct shared_def only_in_b SEC(".maps");

SEC("socket")
int check_a(struct __sk_buff *skb)
{
	__u32 key = 0;
	int r;

	if ((r = weak_here_strong_there()))
		return r;
	if ((r = strong_here_weak_there()))
		return r;
	if ((r = weak_in_both()))
		return r;
	if ((r = hidden_in_a()))
		return r;
	if (same_static() != 1)
		return __LINE__;
	if (defined_in_b(21) != 42)
		return __LINE__;
	if (weak_var != 1)
		return weak_var;
	if (strong_var != 1)
		return strong_var;
	if (var_in_b != 1)
		return __LINE__;
	if (same_static_var != 1)
		return __LINE__;
	if (!bpf_map_lookup_elem(&legacy_a, &key))
		return __LINE__;
	if (!bpf_map_lookup_elem(&shared, &key) || !bpf_map_lookup_elem(&only_in_b, &key))
		return __LINE__;
	return 0;
}

char _license[] SEC("license") = "GPL";
