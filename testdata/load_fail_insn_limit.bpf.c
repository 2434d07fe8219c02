// A bounded loop whose every iteration the verifier must walk (the counter is compared, so
// it is tracked precisely and no two loop states are equal; the body has no branch, so the
// verifier's limit of 8192 pending branches is not what stops it): 300,000 iterations of a few
// instructions each exceed the 1,000,000 processed instructions the verifier allows
// (BPF_COMPLEXITY_LIMIT_INSNS; 4096 instructions before 5.2): "BPF program is too large".
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int too_many_insns(struct __sk_buff *skb)
{
	__u64 sum = skb->len;

#pragma clang loop unroll(disable)
	for (int i = 0; i < 300000; i++)
		sum = sum * 31 + i;
	return sum & 1;
}

char LICENSE[] SEC("license") = "GPL";
