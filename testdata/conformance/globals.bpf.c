// SPDX-License-Identifier: MIT
// Global data and externs: `const volatile` .rodata, initialised .data, zeroed .bss, a custom
// .data.* section, string literals (.rodata.str1.1), a 64-bit enum (clang-14 writes it as an
// 8-byte BTF ENUM with truncated values, clang-19 as ENUM64), .kconfig externs (strong and
// weak) and a typeless .ksyms one. Without BTF (-g0) the externs stay symbolic references
// the user resolves (docs/loading.md). globals_socket runs under testRun and returns 1 where
// the externs resolve as on any Linux with BPF (CONFIG_BPF_SYSCALL=y, a non-zero version).
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
extern const void bpf_prog_active __ksym __weak;

SEC("socket")
int globals_socket(struct __sk_buff *skb)
{
	globals_packets++;
	globals_bytes += skb->len;
	globals_lens[skb->len & 7] = skb->len;
	globals_custom ^= globals_wide_value >> 32;
	if (skb->len > globals_limit)
		bpf_printk("long packet %u", skb->len);
	if (CONFIG_HZ < 0)
		return 3;
	if (&bpf_prog_active == 0)
		return 2;
	return LINUX_KERNEL_VERSION > 0 && CONFIG_BPF_SYSCALL;
}

char _license[] SEC("license") = "GPL";
