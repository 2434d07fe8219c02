// SPDX-License-Identifier: MIT
// CO-RE relocations against the running kernel's BTF, with the kernel types declared locally
// (no vmlinux.h): field byte offsets of real reads, field existence and size, type existence,
// size and kernel id, enum value existence and value. CO-RE records live in .BTF.ext, and clang
// refuses the CO-RE builtins without -g, so this source is built with -g only.
// conformance-needs-btf
// core_socket runs under testRun and returns 0 where every relocation resolved as on any
// kernel with BTF; otherwise the line of the first check that failed. It calls no helper (the
// relocations become constants), so any kernel loads it. core_tracepoint reads through
// relocated field offsets (bpf_probe_read_kernel); it loads but has no test run.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

struct task_struct___core {
	int pid;
	int tgid;
	char comm[16];
	struct task_struct___core *real_parent;
	int core_no_such_field;
} __pai;

struct core_no_such_type {
	int x;
} __pai;

enum bpf_map_type___core {
	BPF_MAP_TYPE_RINGBUF___core = 27,
	BPF_MAP_TYPE_CORE_NO_SUCH_VALUE___core = 1000,
};

SEC("socket")
int core_socket(struct __sk_buff *skb)
{
	struct task_struct___core *t = (void *)0;

	if (bpf_core_field_size(t->comm) != 16)
		return __LINE__;
	if (!bpf_core_field_exists(t->tgid) || bpf_core_field_exists(t->core_no_such_field))
		return __LINE__;
	if (bpf_core_field_offset(t->tgid) != bpf_core_field_offset(t->pid) + 4)
		return __LINE__;
	if (!bpf_core_type_exists(struct task_struct___core) || bpf_core_type_exists(struct core_no_such_type))
		return __LINE__;
	if (bpf_core_type_size(struct task_struct___core) < 1000 || bpf_core_type_id_kernel(struct task_struct___core) == 0)
		return __LINE__;
	if (!bpf_core_enum_value_exists(enum bpf_map_type___core, BPF_MAP_TYPE_RINGBUF___core) ||
	    bpf_core_enum_value_exists(enum bpf_map_type___core, BPF_MAP_TYPE_CORE_NO_SUCH_VALUE___core))
		return __LINE__;
	if (bpf_core_enum_value(enum bpf_map_type___core, BPF_MAP_TYPE_RINGBUF___core) != 27)
		return __LINE__;
	return 0;
}

__u32 core_parent_tgid;

SEC("tracepoint/sched/sched_process_exec")
int core_tracepoint(void *ctx)
{
	struct task_struct___core *t = (void *)bpf_get_current_task();

	core_parent_tgid = BPF_CORE_READ(t, real_parent, tgid);
	return 0;
}

char _license[] SEC("license") = "GPL";
