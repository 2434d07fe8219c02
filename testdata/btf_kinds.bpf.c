// SPDX-License-Identifier: MIT
// Exercises every BTF kind clang emits, for the BTF parser, marshaller and C formatter tests:
// ints of every encoding, pointers, multi-dimensional arrays, structs with bitfields and
// anonymous members, unions, signed enums, enum64, forward declarations, typedefs, const /
// volatile / restrict, funcs with global and static linkage, function pointers (variadic
// too), vars in .data/.bss/.rodata datasecs, floats, decl tags and type tags, a BTF map and a
// CO-RE flavored struct name.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user __attribute__((btf_type_tag("user")))

typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;

enum color { RED = -1, GREEN = 0, BLUE = 7 };
enum big { BIG_SMALL = 1, BIG_LARGE = 0x100000000ULL, BIG_MAX = 0xffffffffffffffffULL };

struct opaque; // only ever pointed at: a FWD

struct bits {
	unsigned int a : 3;
	int b : 5;
	unsigned long long c : 40;
	_Bool flag : 1;
	char tail;
} __tag("bits_tag");

union value {
	u32 word;
	unsigned char bytes[4];
	float f;
};

struct nested {
	int id __tag("member_tag");
	struct {
		int x, y;
	} point;
	union {
		long l;
		void *p;
	};
	int matrix[2][3];
	const volatile char *name;
	struct opaque *handle;
	int __user *uptr;
	int (*callback)(int, const char *);
	int (*vcallback)(int, ...);
	struct nested *next;
	union value val;
	enum color color;
	enum big big;
	double d;
	struct bits bits;
};

struct flavored___v2 {
	int renamed;
};

struct nested global_nested = { .id = 1 };
struct bits global_bits;
const volatile u64 config_value = 42;
s8 small_data = -3;
float global_float = 1.5f;
struct flavored___v2 flavor;
int tagged_var __tag("var_tag") = 7;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, struct nested);
} nested_map SEC(".maps");

static __attribute__((noinline)) int helper(struct nested *restrict n __tag("param_tag"), int k) __tag("func_tag")
{
	return n->id + k;
}

__attribute__((noinline)) int global_func(int x)
{
	return x * 2;
}

SEC("socket")
int kinds(struct __sk_buff *skb)
{
	u32 key = 0;
	struct nested *n = bpf_map_lookup_elem(&nested_map, &key);

	if (!n)
		return 0;
	return helper(n, skb->len) + global_func(small_data) + global_bits.b + config_value + flavor.renamed + tagged_var +
	       global_nested.id;
}

char _license[] SEC("license") = "MIT";
