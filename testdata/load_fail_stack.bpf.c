// Two functions with 320 bytes of stack each, one calling the other: each fits the 512-byte
// limit alone, so clang accepts them, but the verifier adds up the call chain
// ("combined stack size of 2 calls is ... Too large").
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int inner(struct __sk_buff *skb)
{
	volatile char buf[320];

	for (int i = 0; i < 320; i += 8)
		buf[i] = (char)skb->len;
	return buf[skb->len & 255];
}

SEC("socket")
int deep_stack(struct __sk_buff *skb)
{
	volatile char buf[320];

	for (int i = 0; i < 320; i += 8)
		buf[i] = (char)i;
	return buf[skb->len & 255] + inner(skb);
}

char LICENSE[] SEC("license") = "GPL";
