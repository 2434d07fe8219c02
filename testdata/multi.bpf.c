// Multi-probe programs for test/kernel/link-multi.test.ts: uprobe_multi on testdata/uprobe/target
// and kprobe_multi on syscall functions. Every run adds one to a counter keyed by (process,
// entry or return, attach cookie) and adds the first argument (entry) or the return value
// (return) to a sum, so the tests can check exact figures for each attached place.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

// The argument and return registers, as CO-RE flavors of pt_regs (see uprobe.bpf.c).
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

struct multi_key {
	__u32 tgid;
	__u32 is_return;
	__u64 cookie;
};

struct multi_stats {
	__u64 count;
	__u64 sum;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct multi_key);
	__type(value, struct multi_stats);
} multi_stats SEC(".maps");

static __always_inline void record(void *ctx, __u32 is_return, __u64 value)
{
	struct multi_key key = {};
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.is_return = is_return;
	key.cookie = bpf_get_attach_cookie(ctx);
	struct multi_stats *s = bpf_map_lookup_elem(&multi_stats, &key);
	if (!s) {
		struct multi_stats zero = {};
		bpf_map_update_elem(&multi_stats, &key, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&multi_stats, &key);
		if (!s)
			return;
	}
	__sync_fetch_and_add(&s->count, 1);
	__sync_fetch_and_add(&s->sum, value);
}

SEC("uprobe.multi")
int uprobe_multi_entry(void *ctx)
{
	record(ctx, 0, first_arg(ctx));
	return 0;
}

SEC("uretprobe.multi")
int uprobe_multi_return(void *ctx)
{
	record(ctx, 1, return_value(ctx));
	return 0;
}

SEC("kprobe.multi")
int kprobe_multi_entry(void *ctx)
{
	record(ctx, 0, 0);
	return 0;
}

SEC("kretprobe.multi")
int kprobe_multi_return(void *ctx)
{
	record(ctx, 1, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
