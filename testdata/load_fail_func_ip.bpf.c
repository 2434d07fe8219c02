// A tracepoint program calling bpf_get_func_ip(), which kprobe and fentry programs may call but
// tracepoints may not (the seed): loadCollection must name the helper, the program
// type, the types that may call it here, and the usual way out.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tracepoint/syscalls/sys_enter_getppid")
int func_ip_from_tracepoint(void *ctx)
{
	return bpf_get_func_ip(ctx) != 0;
}

char LICENSE[] SEC("license") = "GPL";
