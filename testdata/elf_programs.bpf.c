// SPDX-License-Identifier: MIT
// Program sections for the ELF reader: many of libbpf's section-name conventions (with
// attach targets, sleepable `.s` variants, the `?` no-autoload prefix, xdp.frags), several
// programs in one section, .text subprograms shared by two programs (each program must
// carry its own copy), a subprogram calling another, a static subprogram, and a bpf_loop
// callback (a BPF_PSEUDO_FUNC reference). Compiled only for parsing tests: the attach
// targets need not exist.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} hits SEC(".maps");

static __noinline __u64 bump(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &key);
	if (!v)
		return 0;
	return __sync_fetch_and_add(v, 1);
}

__noinline int shared_helper(int x)
{
	return (int)bump(0) + x * 3;
}

__noinline int leaf(int x)
{
	return x ^ 0x5a;
}

__noinline int calls_leaf(int x)
{
	return leaf(x) + 1;
}

static long loop_cb(__u32 index, void *ctx)
{
	*(__u64 *)ctx += index;
	return 0;
}

SEC("socket")
int sock_a(struct __sk_buff *skb)
{
	return shared_helper(skb->len);
}

SEC("socket")
int sock_b(struct __sk_buff *skb)
{
	return shared_helper(1) + calls_leaf(skb->protocol);
}

SEC("socket")
int sock_loop(struct __sk_buff *skb)
{
	__u64 sum = 0;
	bpf_loop(10, loop_cb, &sum, 0);
	return sum;
}

SEC("kprobe/do_unlinkat")
int kp(void *ctx) { return leaf(1); }

SEC("kretprobe/do_unlinkat")
int krp(void *ctx) { return 0; }

SEC("ksyscall/openat")
int ksys(void *ctx) { return 0; }

SEC("uprobe/libc.so.6:malloc")
int up(void *ctx) { return 0; }

SEC("uretprobe.s//usr/bin/bash:readline")
int urp_sleepable(void *ctx) { return 0; }

SEC("usdt/libc.so.6:libc:setjmp")
int usdt_prog(void *ctx) { return 0; }

SEC("tracepoint/syscalls/sys_enter_openat")
int tracepoint_prog(void *ctx) { return 0; }

SEC("tp/sched/sched_process_exec")
int tp_prog(void *ctx) { return 0; }

SEC("raw_tracepoint/sys_enter")
int raw_tracepoint_prog(void *ctx) { return 0; }

SEC("raw_tp/sched_switch")
int raw_tp_prog(void *ctx) { return 0; }

SEC("tp_btf/sched_wakeup")
int tp_btf_prog(void *ctx) { return 0; }

SEC("fentry/do_unlinkat")
int fentry_prog(void *ctx) { return 0; }

SEC("fentry.s/do_unlinkat")
int fentry_sleepable(void *ctx) { return 0; }

SEC("fexit/do_unlinkat")
int fexit_prog(void *ctx) { return 0; }

SEC("fmod_ret/security_file_open")
int fmod_ret_prog(void *ctx) { return 0; }

SEC("freplace/xdp_target")
int freplace_prog(void *ctx) { return 0; }

SEC("lsm/file_open")
int lsm_prog(void *ctx) { return 0; }

SEC("lsm.s/bprm_committed_creds")
int lsm_sleepable(void *ctx) { return 0; }

SEC("iter/task")
int iter_prog(void *ctx) { return 0; }

SEC("struct_ops/ssthresh")
int struct_ops_prog(void *ctx) { return 0; }

SEC("syscall")
int syscall_prog(void *ctx) { return 0; }

SEC("xdp")
int xdp_prog(struct xdp_md *ctx) { return XDP_PASS; }

SEC("xdp.frags")
int xdp_frags_prog(struct xdp_md *ctx) { return XDP_PASS; }

SEC("xdp/devmap")
int xdp_devmap_prog(struct xdp_md *ctx) { return XDP_PASS; }

SEC("tc")
int tc_prog(struct __sk_buff *skb) { return 0; }

SEC("tcx/ingress")
int tcx_prog(struct __sk_buff *skb) { return 0; }

SEC("classifier")
int classifier_prog(struct __sk_buff *skb) { return 0; }

SEC("cgroup_skb/ingress")
int cgroup_skb_prog(struct __sk_buff *skb) { return 1; }

SEC("cgroup/connect4")
int cgroup_connect4(void *ctx) { return 1; }

SEC("cgroup/sock_create")
int cgroup_sock_create(void *ctx) { return 1; }

SEC("cgroup/getsockopt")
int cgroup_getsockopt(void *ctx) { return 1; }

SEC("sockops")
int sockops_prog(void *ctx) { return 0; }

SEC("sk_skb/stream_parser")
int sk_skb_parser(struct __sk_buff *skb) { return skb->len; }

SEC("sk_msg")
int sk_msg_prog(void *ctx) { return 1; }

SEC("flow_dissector")
int flow_dissector_prog(void *ctx) { return 0; }

SEC("perf_event")
int perf_event_prog(void *ctx) { return 0; }

SEC("netfilter")
int netfilter_prog(void *ctx) { return 1; }

SEC("?tp/syscalls/sys_enter_close")
int optional_tp(void *ctx) { return leaf(2); }

SEC("?socket")
int optional_socket(struct __sk_buff *skb) { return 0; }

SEC("my_custom_section")
int unknown_section(void *ctx) { return 0; }

char _license[] SEC("license") = "GPL";
