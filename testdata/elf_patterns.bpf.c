// SPDX-License-Identifier: MIT
// The patterns people write most, in one loadable object: an event struct larger than the
// 512-byte BPF stack built in a PERCPU_ARRAY scratch slot and sent with perf output, a hash
// keyed by pid_tgid correlating sys_enter with sys_exit, `const volatile` configuration in
// .rodata, counters in .bss, bpf_printk, a BPF-to-BPF call and a tail call through a prog
// array. Written to pass the verifier (kernel tests load it later), not only to parse.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_PATH 600

struct event {
	__u64 pid_tgid;
	__u64 duration_ns;
	__s64 syscall_id;
	__s64 ret;
	char comm[16];
	char path[MAX_PATH];
};

// The raw_syscalls tracepoint formats (/sys/kernel/tracing/events/raw_syscalls/*/format).
struct sys_enter_args {
	__u64 common;
	__s64 id;
	__u64 args[6];
};

struct sys_exit_args {
	__u64 common;
	__s64 id;
	__s64 ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct event);
	__uint(max_entries, 1);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct start {
	__u64 ts;
	__s64 id;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, struct start);
	__uint(max_entries, 10240);
} inflight SEC(".maps");

const volatile __u32 filter_tgid = 0;
const volatile __u64 min_duration_ns = 0;
const volatile _Bool debug = 0;

__u64 enter_count;
__u64 exit_count;
__u64 dropped;

static __noinline int wanted(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	return filter_tgid == 0 || filter_tgid == tgid;
}

SEC("tp/raw_syscalls/sys_enter")
int on_enter(struct sys_enter_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct start s = {};

	if (!wanted(pid_tgid))
		return 0;
	__sync_fetch_and_add(&enter_count, 1);
	s.ts = bpf_ktime_get_ns();
	s.id = ctx->id;
	bpf_map_update_elem(&inflight, &pid_tgid, &s, BPF_ANY);
	return 0;
}

SEC("tp/raw_syscalls/sys_exit")
int on_exit(struct sys_exit_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	struct start *s;
	struct event *e;
	__u64 now;

	s = bpf_map_lookup_elem(&inflight, &pid_tgid);
	if (!s)
		return 0;
	now = bpf_ktime_get_ns();
	__sync_fetch_and_add(&exit_count, 1);
	if (now - s->ts < min_duration_ns)
		goto out;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		goto out;
	e->pid_tgid = pid_tgid;
	e->duration_ns = now - s->ts;
	e->syscall_id = s->id;
	e->ret = ctx->ret;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->path[0] = 0;
	if (debug)
		bpf_printk("exit %lld after %llu ns", e->syscall_id, e->duration_ns);
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e)) < 0)
		__sync_fetch_and_add(&dropped, 1);
out:
	bpf_map_delete_elem(&inflight, &pid_tgid);
	return 0;
}

int classify_tail(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct __sk_buff *));
} tails SEC(".maps") = {
	.values = { [0] = (void *)&classify_tail },
};

SEC("socket")
int classify_tail(struct __sk_buff *skb)
{
	return 42;
}

SEC("socket")
int classify(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &tails, 0);
	return 0;
}

char _license[] SEC("license") = "GPL";
