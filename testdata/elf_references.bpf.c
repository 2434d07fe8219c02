// SPDX-License-Identifier: MIT
// Symbolic references: instructions relocated against symbols this object does not define.
// Inline assembly names them (`%0 = MY_CONST ll`), and a function that is only declared is
// called by name. The ELF reader keeps each name on its instruction; the user resolves it
// before loading (CollectionSpec.resolveReference) to a value, a map, a variable or another
// program's code. Each socket program returns 0 when its references were resolved the way the
// kernel test resolves them, and its line number otherwise.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} values SEC(".maps");

__u64 tally = 7;

/* Defined nowhere: the test resolves it to the program answer_impl. */
int answer(struct __sk_buff *skb);

static __always_inline __u64 my_const(void)
{
	__u64 x;
	asm volatile("%0 = MY_CONST ll" : "=r"(x));
	return x;
}

static __always_inline void *my_map(void)
{
	void *m;
	asm volatile("%0 = MY_MAP ll" : "=r"(m));
	return m;
}

static __always_inline __u64 *my_variable(void)
{
	__u64 *p;
	asm volatile("%0 = MY_VARIABLE ll" : "=r"(p));
	return p;
}

SEC("socket")
int refs_constant(struct __sk_buff *skb)
{
	return my_const() == 0x123456789abcdefULL ? 0 : __LINE__;
}

SEC("socket")
int refs_map(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(my_map(), &key);
	if (!v)
		return __LINE__;
	*v += 1;
	return 0;
}

SEC("socket")
int refs_variable(struct __sk_buff *skb)
{
	return *my_variable() == 7 ? 0 : __LINE__;
}

SEC("socket")
int refs_call(struct __sk_buff *skb)
{
	return answer(skb) == 42 ? 0 : __LINE__;
}

/* A static subprogram: it must travel with answer_impl into refs_call. */
static __noinline unsigned int half(unsigned int x)
{
	return x / 2;
}

SEC("socket")
int answer_impl(struct __sk_buff *skb)
{
	/* volatile: keeps clang from folding half(84) into 42 and dropping the call. */
	volatile unsigned int twice_the_answer = 84;

	return half(twice_the_answer);
}

SEC("socket")
int refs_addend(struct __sk_buff *skb)
{
	__u64 x;

	/* The addend stays in the instruction and is added to the value, as a linker adds it. */
	asm volatile("%0 = MY_CONST + 8 ll" : "=r"(x));
	return x == 0x123456789abcdefULL + 8 ? 0 : __LINE__;
}

char _license[] SEC("license") = "GPL";
