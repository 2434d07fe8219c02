// uprobe and uretprobe programs for test/kernel/link-uprobe.test.ts: count the calls of
// ebpf_ts_uprobe_add(a, b) in testdata/uprobe/target per process, summing the first argument
// at entry and the return value at return.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

// The argument and return registers, as CO-RE flavors of pt_regs (see sockalloc.bpf.c): the
// loader keeps the branch whose field exists in the running kernel's BTF.
struct pt_regs___x86 {
	unsigned long di;
	unsigned long ax;
} __pai;

struct pt_regs___arm64 {
	unsigned long regs[31];
} __pai;

static __always_inline long first_arg(void *ctx)
{
	if (bpf_core_field_exists(struct pt_regs___x86, di))
		return (long)BPF_CORE_READ((struct pt_regs___x86 *)ctx, di);
	return (long)BPF_CORE_READ((struct pt_regs___arm64 *)ctx, regs[0]);
}

static __always_inline long return_value(void *ctx)
{
	if (bpf_core_field_exists(struct pt_regs___x86, ax))
		return (long)BPF_CORE_READ((struct pt_regs___x86 *)ctx, ax);
	return (long)BPF_CORE_READ((struct pt_regs___arm64 *)ctx, regs[0]);
}

struct stats {
	__u64 calls;
	__u64 arg_sum;
	__u64 returns;
	__u64 ret_sum;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32); // tgid
	__type(value, struct stats);
} uprobe_stats SEC(".maps");

static __always_inline struct stats *stats_of_current(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct stats *s = bpf_map_lookup_elem(&uprobe_stats, &tgid);
	if (s)
		return s;
	struct stats zero = {};
	bpf_map_update_elem(&uprobe_stats, &tgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&uprobe_stats, &tgid);
}

SEC("uprobe")
int on_add(void *ctx)
{
	struct stats *s = stats_of_current();
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->calls, 1);
	__sync_fetch_and_add(&s->arg_sum, first_arg(ctx));
	return 0;
}

SEC("uretprobe")
int on_add_ret(void *ctx)
{
	struct stats *s = stats_of_current();
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->returns, 1);
	__sync_fetch_and_add(&s->ret_sum, return_value(ctx));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
