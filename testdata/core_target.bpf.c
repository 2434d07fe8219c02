// The custom CO-RE target for core_relocs.bpf.c: the same type names with other layouts, as
// a different kernel would have them. Only its .BTF section is used (as libbpf's
// btf_custom_path and as our loadKernelSpec(path) target); the globals exist so that clang
// emits the types.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct core_inner {
	long long y;            /* moved first */
	int pad;
	int x;
};

typedef struct core_inner inner_alias_t;

enum core_enum { CE_B = 20, CE_A = 10, CE_NEW = 5 };
enum core_signed_enum { CSE_POS = 2, CSE_NEG = -7 };

struct core_sample {
	long long first;        /* new field shifts everything */
	short b;
	int a;
	unsigned int pad_bits : 6;
	unsigned int flags_u : 4;   /* wider and moved */
	int flags_s : 7;
	unsigned long long wide : 45;
	char name[32];
	union {
		struct {
			char c0;
			char c2;
		};
		long u1;
	};
	struct core_inner arr[6];
	struct core_inner inner;
	unsigned long long grows;
	long long grows_signed;
	void *ptr;
	unsigned char grid[3][4];
	inner_alias_t aliased;
	enum core_enum e;
	enum core_signed_enum se;
	int renamed_in_target;
};

struct core_flav {
	int pad;
	int new_field;
};

struct core_flex {
	long long n;
	int data[];
};

struct core_tm {
	int a;
	long b;
};

struct core_tm2 {
	long long extra;
	int a;
	struct core_inner *p;
};

enum core_tme { TME_Y = 3, TME_X = 9 };

struct core_sample g_sample;
struct core_tm g_tm;
struct core_tm2 g_tm2;
enum core_tme g_tme;
struct core_flav g_flav;
struct core_flex g_flex;
enum core_enum g_enum;
enum core_signed_enum g_signed_enum;

char LICENSE[] SEC("license") = "GPL";

/* A program, so that every testdata object has code for the disassembler tests. */
SEC("socket")
int core_target_unused(struct __sk_buff *ctx)
{
	return 0;
}
