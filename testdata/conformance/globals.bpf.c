// SPDX-License-Identifier: MIT
// Global data and externs: `const volatile` .rodata, initialised .data, zeroed .bss, a custom
// .data.* section, a bpf_printk format (a function-scoped static in .rodata), a 64-bit enum
// (clang-14 writes it as an 8-byte BTF ENUM with its value truncated, clang-19 as ENUM64),
// .kconfig externs (strong and weak) and a typeless .ksyms one. Without BTF (-g0) the externs
// stay symbolic references the user resolves (docs/loading.md).
// Under testRun, on the first run of a fresh load: globals_socket returns 9 (7 + 1 packets, plus
// the enum's value >> 32); globals_externs returns 1 where the externs resolve as on any Linux
// with BPF (CONFIG_BPF_SYSCALL=y, a non-zero version, `schedule` in kallsyms).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum globals_wide { GLOBALS_WIDE = 0x100000000ULL };

const volatile __u32 globals_limit = 1500;
const volatile enum globals_wide globals_wide_value = GLOBALS_WIDE;
__u64 globals_packets = 7;
__u32 globals_bytes;
__u32 globals_lens[8];
__u64 globals_custom SEC(".data.custom") = 0x1122334455667788ULL;

extern __u32 LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern const void schedule __ksym __weak;

SEC("socket")
int globals_socket(struct __sk_buff *skb)
{
	globals_packets++;
	globals_bytes += skb->len;
	globals_lens[skb->len & 7] = skb->len;
	globals_custom ^= globals_wide_value >> 32;
	if (skb->len > globals_limit)
		bpf_printk("long packet %u", skb->len);
	return globals_packets + (globals_wide_value >> 32);
}

SEC("socket")
int globals_externs(struct __sk_buff *skb)
{
	if (CONFIG_HZ < 0)
		return 3;
	if (&schedule == 0)
		return 2;
	return LINUX_KERNEL_VERSION > 0 && CONFIG_BPF_SYSCALL;
}

char _license[] SEC("license") = "GPL";
