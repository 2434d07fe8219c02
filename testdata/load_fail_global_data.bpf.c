// A program whose only map is .rodata (a const volatile setting): global data, which kernels
// before 5.2 cannot load. The unit test pretends to be Linux 5.1 and expects
// "program read_setting uses global data (.rodata); needs Linux 5.2 or later".
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 setting = 7;

SEC("socket")
int read_setting(struct __sk_buff *skb)
{
	return setting;
}

char LICENSE[] SEC("license") = "GPL";
