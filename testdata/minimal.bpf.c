// SPDX-License-Identifier: MIT
// The smallest useful program: a socket filter that accepts every packet whole.
// Used by asm round-trip tests and by later loader tests as the "hello world" object.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int accept_all(struct __sk_buff *skb)
{
	return skb->len;
}

char _license[] SEC("license") = "MIT";
