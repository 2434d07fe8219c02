// The target of test/kernel/freplace.test.ts: a tc program whose result comes from a global
// function, which an freplace program (testdata/freplace.bpf.c) replaces while attached.
// freplace_target returns get_value(skb->len) + static_offset(skb->len): for a 64-byte packet
// 64 + 100 + 1 as loaded.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Global and not inlined: the verifier checks it on its own, so an extension can replace it.
__attribute__((noinline)) int get_value(int len)
{
	// An empty asm keeps clang from folding the call.
	__asm__ volatile("" : : "r"(len) : "memory");
	return len + 100;
}

// Static: checked as part of its caller; the kernel refuses to replace it.
static __attribute__((noinline)) int static_offset(int len)
{
	// Computed from the argument: a constant result would be folded into the caller.
	return len >> 6;
}

SEC("tc")
int freplace_target(struct __sk_buff *skb)
{
	return get_value(skb->len) + static_offset(skb->len);
}

char LICENSE[] SEC("license") = "GPL";
