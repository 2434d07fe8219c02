// execsnoop: one event per execve(2), sent when the call returns, with the process that ran
// it (pid, parent's pid, uid, comm), the file and up to MAX_ARGS arguments.
// Used by examples/execsnoop.mjs.
//
// Why two tracepoints: the arguments are only readable on entry (after a successful exec
// the caller's memory is gone), the return value only on exit. Entry stores the event in a
// hash map under the thread's pid_tgid; exit completes it and sends it through perf.
// Why a PERCPU_ARRAY: the event is ~1.3 KiB and the BPF stack is 512 bytes, so it is built
// in a per-CPU map slot used as scratch memory. Nothing else writes that slot while we use
// it: the program is not migrated mid-run, and BPF tracing programs do not nest on a CPU
// (the kernel's per-CPU bpf_prog_active guard).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

// Only the kernel fields we read, marked for CO-RE: the loader finds their offsets in the
// running kernel's BTF, so the same object runs on any kernel whatever task_struct looks
// like (no full vmlinux.h needed).
struct task_struct {
	int tgid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

// The tracepoint contexts, as tracefs's events/syscalls/sys_{enter,exit}_execve/format
// describe them (8 bytes of common fields, then the syscall number, then the arguments).
struct sys_enter_execve_ctx {
	__u64 common;
	__s32 syscall_nr;
	const char *filename;
	const char *const *argv;
	const char *const *envp;
};

struct sys_exit_ctx {
	__u64 common;
	__s32 syscall_nr;
	__s64 ret;
};

#define TASK_COMM_LEN 16
#define FILENAME_LEN 256
#define MAX_ARGS 16
#define ARG_LEN 64 // bytes kept of each argument, NUL included: longer ones are cut

// What user space receives; examples/execsnoop.mjs decodes it by name through BTF.
struct event {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s32 retval;
	__u32 argc;
	__u32 args_truncated; // 1 if the command had more than MAX_ARGS arguments
	char comm[TASK_COMM_LEN];
	char filename[FILENAME_LEN];
	char argv[MAX_ARGS][ARG_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

// Execs in flight, by pid_tgid. Entries are removed on exit; one whose exit we never see
// (the tracer attached between the two) stays until the map is closed, hence the bound.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct event);
} execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

// Set by the example before load: report only failed execs (retval < 0).
const volatile __u32 failed_only = 0;

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint/syscalls/sys_enter_execve")
int execve_enter(struct sys_enter_execve_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0; // cannot happen for index 0, but the verifier wants the check

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->pid = id >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->retval = 0;
	e->argc = 0;
	e->args_truncated = 0;
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), ctx->filename);

	// A bounded loop (Linux 5.3+ verifies it; clang may unroll it anyway): each pointer of
	// the user's argv array, then the string it points to. The slot is reused across
	// events, so user space only looks at the first argc strings.
	for (__u32 i = 0; i < MAX_ARGS; i++) {
		const char *arg = NULL;
		if (bpf_probe_read_user(&arg, sizeof(arg), &ctx->argv[i]) || !arg)
			break;
		if (bpf_probe_read_user_str(e->argv[i], ARG_LEN, arg) < 0)
			break;
		e->argc = i + 1;
	}
	if (e->argc == MAX_ARGS) {
		const char *more = NULL;
		bpf_probe_read_user(&more, sizeof(more), &ctx->argv[MAX_ARGS]);
		e->args_truncated = more != NULL;
	}

	// Copies the scratch slot into the hash map (a map value may be the source of an update).
	bpf_map_update_elem(&execs, &id, e, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int execve_exit(struct sys_exit_ctx *ctx)
{
	// A multithreaded process that execs from a non-leader thread comes back with the
	// leader's pid_tgid (de_thread()); such an exec finds no entry and is not reported.
	__u64 id = bpf_get_current_pid_tgid();
	struct event *e = bpf_map_lookup_elem(&execs, &id);
	if (!e)
		return 0;

	e->retval = ctx->ret;
	if (!failed_only || ctx->ret < 0) {
		// comm now: after a successful exec it names the new program, not the caller.
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e));
	}
	bpf_map_delete_elem(&execs, &id);
	return 0;
}
