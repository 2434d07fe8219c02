// writesnoop: one event per write(2), sent when the call returns: who wrote (pid, thread,
// comm), to which fd, how many bytes were asked for and how many were written.
// Used by examples/writesnoop.mjs.
//
// Entry and exit are two programs; a hash map keyed by pid_tgid carries the arguments from
// one to the other (a thread is in at most one write at a time, so the key is unique).
// Events go through a BPF ring buffer (Linux 5.8+): one ring shared by all CPUs, so they
// arrive in order, and a full ring is seen by the program (reserve fails) and counted.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// The tracepoint contexts, as tracefs's events/syscalls/sys_{enter,exit}_write/format
// describe them: every syscall argument takes 8 bytes, whatever its C type.
struct sys_enter_write_ctx {
	__u64 common;
	__s32 syscall_nr;
	__u64 fd;
	const char *buf;
	__u64 count;
};

struct sys_exit_ctx {
	__u64 common;
	__s32 syscall_nr;
	__s64 ret;
};

struct write_args {
	__u32 fd;
	__u64 count;
};

#define TASK_COMM_LEN 16

// What user space receives; examples/writesnoop.mjs decodes it by name through BTF.
// The 64-bit fields come first so that no padding sits between fields. pid and tid are
// not neighbours so that clang does not merge their stores into one 64-bit store of
// pid_tgid, rotated on little-endian targets only: the bpfel and bpfeb objects keep the
// same instructions, which the spec tests compare.
struct event {
	__u64 requested;
	__s64 written; // bytes written, or -errno
	__u32 pid;
	__u32 fd;
	__u32 tid;
	char comm[TASK_COMM_LEN];
};

// A ring buffer map has no value type, and clang only writes types into BTF that globals or
// functions refer to: this otherwise unused global keeps `struct event` in the object's BTF,
// where user space looks it up by name to decode the events.
struct event *event_type_for_btf __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct write_args);
} writes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

// Set by the example before load: its own pid. Every line it prints is a write; tracing
// those would make each event cause another one.
const volatile __u32 self_tgid = 0;

// Events that found the ring full. A global in .bss: user space reads it as a variable.
__u64 dropped = 0;

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint/syscalls/sys_enter_write")
int write_enter(struct sys_enter_write_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) == self_tgid)
		return 0;
	struct write_args args = { .fd = ctx->fd, .count = ctx->count };
	bpf_map_update_elem(&writes, &id, &args, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_write")
int write_exit(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct write_args *args = bpf_map_lookup_elem(&writes, &id);
	if (!args)
		return 0; // our own writes, or a write that began before we attached

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->pid = id >> 32;
		e->fd = args->fd;
		e->tid = (__u32)id;
		e->requested = args->count;
		e->written = ctx->ret;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		bpf_ringbuf_submit(e, 0);
	} else {
		__sync_fetch_and_add(&dropped, 1);
	}
	bpf_map_delete_elem(&writes, &id);
	return 0;
}
