// SPDX-License-Identifier: MIT
// BTF-attached tracing programs for test/kernel/link-tracing.test.ts: fentry and fexit on
// getppid(2)'s kernel function, tp_btf on the sys_enter tracepoint, fmod_ret on an LSM hook.
// Each counts its runs per thread group (tgid) in `hits`, so the test reads exactly what its
// own process caused, whatever else the machine runs.
//
// Why __do_sys_getppid: on x86_64, SYSCALL_DEFINE0 makes __x64_sys_getppid an alias of
// __do_sys_getppid (arch/x86/include/asm/syscall_wrapper.h since 5.7), and only the latter has
// a BTF FUNC (checked in the 5.10, 6.1 and 6.12 Debian kernels). getppid is a call no Node
// internals make on their own, and its return value (our parent's pid) is known to the test.
// Other architectures name the function differently: the test overrides the target there.
//
// Why security_task_setnice for fmod_ret: BPF_MODIFY_RETURN is only allowed on functions in
// the error-injection list or named security_* (check_attach_modify_return()), and the
// Debian kernels have no CONFIG_FUNCTION_ERROR_INJECTION. setpriority(2) reaches this hook
// through set_one_prio(), and Node calls it for os.setPriority().
#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

// Only the field we read, for CO-RE: its offset comes from the running kernel's BTF.
struct task_struct {
	int tgid;
} __attribute__((preserve_access_index));

struct pt_regs;

struct hits {
	__u64 fentry;
	__u64 fexit;
	__u64 tp_btf;
	__u64 fmod_ret;
	__s64 fexit_ret; // what the last getppid() seen by fexit returned
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32); // tgid
	__type(value, struct hits);
	__uint(max_entries, 1024);
} hits SEC(".maps");

// Set by the loader (constants): the syscall number sys_enter is filtered on, and the one
// thread group whose setpriority() calls fmod_ret refuses (0: none).
const volatile __u64 getppid_nr = 110; // x86_64
const volatile __u32 deny_tgid = 0;

static struct hits *hits_of_current(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct hits *h = bpf_map_lookup_elem(&hits, &tgid);
	if (h)
		return h;
	struct hits zero = {};
	bpf_map_update_elem(&hits, &tgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&hits, &tgid);
}

SEC("fentry/__do_sys_getppid")
int BPF_PROG(getppid_entry, const struct pt_regs *regs)
{
	struct hits *h = hits_of_current();
	if (h)
		__sync_fetch_and_add(&h->fentry, 1);
	return 0;
}

SEC("fexit/__do_sys_getppid")
int BPF_PROG(getppid_exit, const struct pt_regs *regs, long ret)
{
	struct hits *h = hits_of_current();
	if (h) {
		__sync_fetch_and_add(&h->fexit, 1);
		h->fexit_ret = ret;
	}
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(getppid_sys_enter, struct pt_regs *regs, long id)
{
	if (id != getppid_nr)
		return 0;
	struct hits *h = hits_of_current();
	if (h)
		__sync_fetch_and_add(&h->tp_btf, 1);
	return 0;
}

SEC("fmod_ret/security_task_setnice")
int BPF_PROG(deny_setnice, struct task_struct *p, int nice, int ret)
{
	// `p` is a BTF pointer: tracing programs read it directly, the offset fixed by CO-RE.
	if (deny_tgid == 0 || p->tgid != deny_tgid)
		return ret;
	struct hits *h = hits_of_current();
	if (h)
		__sync_fetch_and_add(&h->fmod_ret, 1);
	return -EPERM; // non-zero: the hook's body is skipped and setpriority() fails with EPERM
}

char LICENSE[] SEC("license") = "GPL";
