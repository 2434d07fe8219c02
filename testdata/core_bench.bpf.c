// The load benchmark's object (bench/load.mjs): CO-RE reads of task_struct against the
// running kernel in four socket filters, plus a map and .rodata/.bss, so that a load exercises
// kernel BTF, CO-RE, object BTF, maps and func/line info the way a real tracing tool does. It
// uses only sections every loader benchmarked beside us understands (libbpf 1.1,
// cilium/ebpf 0.9.1). Each program returns 0 when its reads agree with the helpers.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

struct mm_struct {
	unsigned long task_size;
	unsigned long start_stack;
} __pai;

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	char comm[16];
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct mm_struct *mm;
	int prio;
	unsigned int policy;
} __pai;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

const volatile __u32 min_pid = 0;
__u64 runs;

static __always_inline struct task_struct *current(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

SEC("socket")
int bench_ids(struct __sk_buff *skb)
{
	struct task_struct *t = current();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = BPF_CORE_READ(t, pid), tgid = BPF_CORE_READ(t, tgid);
	__u32 leader = BPF_CORE_READ(t, group_leader, pid);

	runs++;
	if (pid < min_pid)
		return 0;
	bpf_map_update_elem(&seen, &pid, &id, BPF_ANY);
	return (pid != (__u32)id) + (tgid != (__u32)(id >> 32)) + (leader != tgid);
}

SEC("socket")
int bench_comm(struct __sk_buff *skb)
{
	struct task_struct *t = current();
	char a[16] = {}, b[16] = {};

	bpf_get_current_comm(a, sizeof(a));
	BPF_CORE_READ_STR_INTO(&b, t, comm);
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return 1;
	return 0;
}

SEC("socket")
int bench_parent(struct __sk_buff *skb)
{
	struct task_struct *t = current();
	int ppid = BPF_CORE_READ(t, real_parent, tgid);
	int pprio = BPF_CORE_READ(t, real_parent, prio);
	unsigned int policy = BPF_CORE_READ(t, policy);

	return ppid <= 0 || pprio < 0 || policy > 7;
}

SEC("socket")
int bench_mm(struct __sk_buff *skb)
{
	struct task_struct *t = current();
	unsigned long size = BPF_CORE_READ(t, mm, task_size);
	unsigned long stack = BPF_CORE_READ(t, mm, start_stack);
	unsigned int flags = BPF_CORE_READ(t, flags);

	if (!bpf_core_field_exists(t->mm))
		return 2;
	return size == 0 || stack == 0 || stack > size || (flags & 0x00200000 /* PF_KTHREAD */);
}

char LICENSE[] SEC("license") = "GPL";
