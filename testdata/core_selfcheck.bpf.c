// Self-checking CO-RE programs: each returns 0 when every relocation it makes came out right
// for its target, and otherwise the number of the first check that failed. Run with
// BPF_PROG_TEST_RUN after loadCollection:
//   selfcheck_kernel  — against the running kernel's BTF. Facts the program can see at run
//                       time (its own pid/tgid/comm, read through relocated task_struct
//                       offsets) are compared with what helpers report.
//   selfcheck_custom  — against core_target.bpf.c's BTF (the kernelBTF option). The target
//                       layout is known at compile time: `struct sc_target_sample` below is a
//                       copy of core_target's `struct core_sample` under a name CO-RE ignores,
//                       filled in a global and read back through the relocated local type.
//                       (Bitfield reads are left to core_relocs' libbpf comparison: clang emits
//                       a different instruction count for them per byte order.)
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

/* ---- running kernel -------------------------------------------------------------------- */

struct task_struct {
	int pid;
	int tgid;
	char comm[16];
	int ebpf_ts_no_such_field;
} __pai;

struct ebpf_ts_no_such_type {
	int x;
} __pai;

enum bpf_map_type___local { BPF_MAP_TYPE_HASH___local = 99 };

SEC("raw_tp")
int selfcheck_kernel(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	char comm[16] = {}, kcomm[16] = {};
	int pid = 0, tgid = 0;

	if (!bpf_core_type_exists(struct task_struct))
		return 1;
	if (bpf_core_type_exists(struct ebpf_ts_no_such_type))
		return 2;
	if (!bpf_core_field_exists(task->pid) || bpf_core_field_exists(task->ebpf_ts_no_such_field))
		return 3;
	if (bpf_core_field_size(task->pid) != 4 || bpf_core_field_size(task->comm) != 16)
		return 4;
	if (BPF_CORE_READ_INTO(&pid, task, pid) || BPF_CORE_READ_INTO(&tgid, task, tgid))
		return 5;
	if ((__u32)pid != (__u32)pid_tgid)
		return 6;
	if ((__u32)tgid != (__u32)(pid_tgid >> 32))
		return 7;
	if (bpf_get_current_comm(comm, sizeof(comm)) || BPF_CORE_READ_STR_INTO(&kcomm, task, comm) <= 0)
		return 8;
	for (int i = 0; i < 16; i++)
		if (comm[i] != kcomm[i])
			return 9;
	if (!bpf_core_field_exists(struct task_struct, comm))
		return 10;
	return 0;
}

/* ---- custom target (core_target.bpf.c) ------------------------------------------------- */

struct core_inner {
	int x;
	long long y;
} __pai;

enum core_enum { CE_A = 1, CE_B = 2, CE_GONE = 3 };

struct core_sample {
	int a;
	short b;
	unsigned int flags_u : 3;
	int flags_s : 5;
	struct core_inner inner;
	char name[16];
	unsigned int grows;
	int vanishes;
	enum core_enum e;
} __pai;

/* core_target.bpf.c's struct core_sample, verbatim, under a name with no CO-RE meaning. */
struct sc_target_inner {
	long long y;
	int pad;
	int x;
};

struct sc_target_sample {
	long long first;
	short b;
	int a;
	unsigned int pad_bits : 6;
	unsigned int flags_u : 4;
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
	struct sc_target_inner arr[6];
	struct sc_target_inner inner;
	unsigned long long grows;
	long long grows_signed;
	void *ptr;
	unsigned char grid[3][4];
	struct sc_target_inner aliased;
	int e;
	int se;
	int renamed_in_target;
};

/*
 * The values the direct reads must find, at the target's offsets. A global (a .data map
 * value) rather than a stack copy: stores of constants compile differently per byte order,
 * and the program should look the same in bpfel and bpfeb.
 */
struct sc_target_sample sc_target = {
	.a = 1234,
	.b = -5,
	.inner = { .x = 77, .y = 0x1122334455LL },
	.name = { [3] = 'z' },
	.grows = 0xabcdef,
};

SEC("socket")
int selfcheck_custom(struct __sk_buff *skb)
{
	struct core_sample *s = (void *)&sc_target;

	/* Field offsets and sizes are the target's. */
	if (bpf_core_field_offset(s->a) != __builtin_offsetof(struct sc_target_sample, a))
		return 1;
	if (bpf_core_field_offset(s->inner.y) != __builtin_offsetof(struct sc_target_sample, inner.y))
		return 2;
	if (bpf_core_field_size(s->name) != 32 || bpf_core_field_size(s->grows) != 8)
		return 3;
	if (bpf_core_field_exists(s->vanishes) || !bpf_core_field_exists(s->flags_s))
		return 4;
	if (bpf_core_type_size(struct core_sample) != sizeof(struct sc_target_sample))
		return 5;
	/* Enum values are the target's: CE_A is 10 and CE_B 20 there, CE_GONE does not exist. */
	if (bpf_core_enum_value(enum core_enum, CE_A) != 10 || bpf_core_enum_value(enum core_enum, CE_B) != 20)
		return 6;
	if (bpf_core_enum_value_exists(enum core_enum, CE_GONE))
		return 7;
	/* Direct reads through the relocated local type see the values written at target offsets. */
	if (s->a != 1234 || s->b != -5)
		return 8;
	if (s->inner.x != 77 || s->inner.y != 0x1122334455LL)
		return 9;
	if (s->name[3] != 'z')
		return 10;
	if (s->grows != 0xabcdef) /* 4-byte local load of an 8-byte unsigned target field: resized */
		return 11;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
