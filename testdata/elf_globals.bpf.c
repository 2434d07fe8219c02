// SPDX-License-Identifier: MIT
// Global data of every section kind: `const volatile` configuration in .rodata (rewritten by
// rewriteConstants), initialised .data, zeroed .bss, custom .data.* / .rodata.* sections,
// bpf_printk format strings (.rodata.str1.1), static (file-local) variables, and the externs
// a loader resolves at load time: .kconfig (LINUX_KERNEL_VERSION, LINUX_HAS_*, CONFIG_*) and
// .ksyms (a typeless symbol, a typed variable and a kfunc).
// ebpf-ts-cflags: -mcpu=v3
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct config {
	__u32 sample_rate;
	__u8 verbose;
	char tag[5];
};

const volatile __u32 target_pid = 0;
const volatile __u64 threshold_ns = 1000000;
const volatile struct config cfg = { .sample_rate = 100, .tag = "abcd" };
const volatile __s8 small_const = -3;

__u64 packets = 7;
__u32 last_len = 0xdeadbeef;
static __u32 file_local = 42;

__u64 counter;
__u32 bss_array[16];

__u64 custom_data SEC(".data.custom") = 0x1122334455667788ULL;
const volatile __u32 custom_ro SEC(".rodata.custom") = 9;

extern __u32 LINUX_KERNEL_VERSION __kconfig;
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;

extern const void bpf_prog_active __ksym;
extern const int bpf_stats_enabled_key __ksym __weak;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

SEC("socket")
int globals(struct __sk_buff *skb)
{
	if (target_pid != 0 && skb->len < threshold_ns)
		return 0;
	packets++;
	last_len = skb->len;
	counter += cfg.sample_rate + small_const;
	bss_array[skb->len & 15] = file_local;
	custom_data += custom_ro;
	if (cfg.verbose)
		bpf_printk("len %u tag %s", skb->len, cfg.tag);
	bpf_printk("kernel %u hz %d", LINUX_KERNEL_VERSION, CONFIG_HZ);
	// A literal passed straight to a helper is a mergeable string: .rodata.str1.1.
	bpf_trace_printk("literal %d\n", sizeof("literal %d\n"), 1);
	if (LINUX_HAS_BPF_COOKIE && CONFIG_BPF_SYSCALL)
		return 2;
	file_local++;
	return 1;
}

SEC("tp_btf/sched_switch")
int ksyms(void *ctx)
{
	bpf_rcu_read_lock();
	bpf_printk("active %p stats %p", &bpf_prog_active, &bpf_stats_enabled_key);
	bpf_rcu_read_unlock();
	return 0;
}

char _license[] SEC("license") = "GPL";
