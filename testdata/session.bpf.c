// Session programs for test/kernel/link-session.test.ts: one program runs at a function's entry
// and, when the entry returned 0, at its return too (kprobe.session, Linux 6.10; uprobe.session,
// 6.13). The entry keeps a value in the session cookie, which the return reads back.
//
// uprobe_session on testdata/uprobe/target's ebpf_ts_uprobe_add(a, b): entries are counted;
// the entry returns 0 (run the return probe) for even `a` only and stores `a` in the cookie;
// at return the cookie is summed and compared with the return value (a + 1000).
// kprobe_session on a syscall function: entries counted, the return probe asked for every
// second entry (the entry number is kept in the cookie and summed at return).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

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

extern __u64 *bpf_session_cookie(void) __ksym;
extern _Bool bpf_session_is_return(void) __ksym;

// Only runs of this process count (the kprobe program sees every process).
const volatile __u32 target_tgid = 0;

// uprobe: entries, returns, Σ cookie at return, returns whose value was cookie + 1000.
__u64 uprobe_entries = 0;
__u64 uprobe_returns = 0;
__u64 uprobe_cookie_sum = 0;
__u64 uprobe_matched = 0;

// kprobe: entries, returns, Σ cookie (the entry's number) at return.
__u64 kprobe_entries = 0;
__u64 kprobe_returns = 0;
__u64 kprobe_cookie_sum = 0;

static __always_inline int ours(void)
{
	return target_tgid == 0 || (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("uprobe.session")
int uprobe_session(void *ctx)
{
	if (!ours())
		return 1;
	__u64 *cookie = bpf_session_cookie();
	if (bpf_session_is_return()) {
		__sync_fetch_and_add(&uprobe_returns, 1);
		__sync_fetch_and_add(&uprobe_cookie_sum, *cookie);
		if (return_value(ctx) == (long)*cookie + 1000)
			__sync_fetch_and_add(&uprobe_matched, 1);
		return 0;
	}
	__sync_fetch_and_add(&uprobe_entries, 1);
	long a = first_arg(ctx);
	*cookie = a;
	// 0: run this program again at the function's return; anything else: do not.
	return a % 2 == 0 ? 0 : 1;
}

SEC("kprobe.session")
int kprobe_session(void *ctx)
{
	if (!ours())
		return 1;
	__u64 *cookie = bpf_session_cookie();
	if (bpf_session_is_return()) {
		__sync_fetch_and_add(&kprobe_returns, 1);
		__sync_fetch_and_add(&kprobe_cookie_sum, *cookie);
		return 0;
	}
	__u64 n = __sync_fetch_and_add(&kprobe_entries, 1) + 1;
	*cookie = n;
	return n % 2 == 0 ? 0 : 1;
}

char LICENSE[] SEC("license") = "GPL";
