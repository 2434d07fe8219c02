// sockalloc: one event per socket that gets a file (socket(2), socketpair(2), accept(2)):
// who created it, its type (SOCK_STREAM, …) and address family (AF_INET, …).
// Used by examples/sockalloc.mjs.
//
// A kprobe on sock_alloc_file(struct socket *sock, int flags, const char *dname): the
// socket is complete by then (sock->sk is set), and every path that hands a socket to user
// space goes through it. Kernel functions are not a stable interface: if a kernel renames
// or inlines it, attaching fails with SymbolNotFoundError listing similar names.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

// Only the fields we read, relocated by CO-RE against the running kernel's BTF: the offset of
// sk in struct socket, or of __sk_common in struct sock, differs between kernel versions and
// configurations, and no header from one kernel would be right for all.
struct sock_common {
	unsigned short skc_family;
} __pai;

struct sock {
	struct sock_common __sk_common;
} __pai;

struct socket {
	short type;
	struct sock *sk;
} __pai;

// The first argument of the probed function, in the register the architecture passes it in.
// Instead of compiling once per architecture (libbpf's __TARGET_ARCH_*), both layouts are
// described as "flavors" of pt_regs (the ___suffix is ignored when matching kernel types),
// and the loader keeps the one whose field exists in this kernel; the other branch is
// dead code after relocation. The registers are copied out with BPF_CORE_READ rather than
// loaded from ctx directly: clang merges the two branches into one load at a computed
// offset, and the verifier only accepts ctx loads at a constant offset in the instruction.
struct pt_regs___x86 {
	unsigned long di;
} __pai;

struct pt_regs___arm64 {
	unsigned long regs[31];
} __pai;

static __always_inline void *first_arg(void *ctx)
{
	if (bpf_core_field_exists(struct pt_regs___x86, di))
		return (void *)BPF_CORE_READ((struct pt_regs___x86 *)ctx, di);
	return (void *)BPF_CORE_READ((struct pt_regs___arm64 *)ctx, regs[0]);
}

#define TASK_COMM_LEN 16

struct event {
	__u32 pid;
	__u16 type;
	__u16 family;
	char comm[TASK_COMM_LEN];
};

// The event only lives on the stack, and clang writes into BTF only the types that globals
// or functions refer to: this otherwise unused global keeps `struct event` in the object's
// BTF, where user space looks it up by name to decode the samples.
struct event *event_type_for_btf __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("kprobe/sock_alloc_file")
int sock_alloc_file_entry(void *ctx)
{
	struct socket *sock = first_arg(ctx);
	struct event e = {};

	e.pid = bpf_get_current_pid_tgid() >> 32;
	// BPF_CORE_READ follows the pointers with bpf_probe_read_kernel, each offset relocated.
	e.type = BPF_CORE_READ(sock, type);
	e.family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}
