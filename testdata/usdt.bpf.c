// USDT programs for test/kernel/usdt.test.ts, written for libbpf's <bpf/usdt.bpf.h> exactly as
// a libbpf user writes them: the loader must fill the header's __bpf_usdt_specs and
// __bpf_usdt_ip_to_spec_id maps so that bpf_usdt_arg(), bpf_usdt_arg_cnt() and
// bpf_usdt_cookie() answer. The probes are in testdata/usdt/ (target.c, lib.c, guarded.c).
//
// usdt.bpf.h reads the probed address through PT_REGS_IP(), which needs a target architecture;
// x86-64 is the architecture of the committed fixtures. Only the fallback for kernels without
// BPF cookies (and spec_by_ip below) read that register: with cookies the object runs anywhere.
// ebpf-ts-cflags: -D__TARGET_ARCH_x86
#include <stdbool.h> // usdt.bpf.h uses bool, which vmlinux.h users get from there
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#define MAX_ARGS 12

// What record_args saw for one attachment, by the cookie the test gave it.
struct record {
	__u64 hits;
	__s64 arg_cnt;
	__s64 args[MAX_ARGS];      // the last hit's arguments
	__s32 arg_err[MAX_ARGS];   // what bpf_usdt_arg() returned for each
	__s64 arg0_sum;            // of every hit, to tell two locations apart
	__u64 cookie;
	__u32 pid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, struct record);
} records SEC(".maps");

SEC("usdt")
int record_args(struct pt_regs *ctx)
{
	__u64 cookie = bpf_usdt_cookie(ctx);
	struct record zero = {}, *r;

	r = bpf_map_lookup_elem(&records, &cookie);
	if (!r) {
		bpf_map_update_elem(&records, &cookie, &zero, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&records, &cookie);
		if (!r)
			return 0;
	}
	__sync_fetch_and_add(&r->hits, 1);
	r->arg_cnt = bpf_usdt_arg_cnt(ctx);
	r->cookie = cookie;
	r->pid = bpf_get_current_pid_tgid() >> 32;
#pragma unroll
	for (int i = 0; i < MAX_ARGS; i++) {
		long v;

		r->arg_err[i] = bpf_usdt_arg(ctx, i, &v);
		r->args[i] = v;
		if (i == 0)
			__sync_fetch_and_add(&r->arg0_sum, v);
	}
	return 0;
}

// BPF_USDT() with typed arguments, auto-attached by its section name: the library is found by
// name in LD_LIBRARY_PATH, as libbpf does.
struct hello_stats {
	__u64 hits;
	__s64 n_sum;
	__s64 triple_sum;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hello_stats);
} hello SEC(".maps");

SEC("usdt/libusdtfixture.so:ebpf_ts_lib:hello")
int BPF_USDT(lib_hello, long n, long triple)
{
	__u32 zero = 0;
	struct hello_stats *s = bpf_map_lookup_elem(&hello, &zero);

	if (!s)
		return 0;
	__sync_fetch_and_add(&s->hits, 1);
	__sync_fetch_and_add(&s->n_sum, n);
	__sync_fetch_and_add(&s->triple_sum, triple);
	return 0;
}

// What the fallback for kernels without BPF cookies finds: the spec id the loader stored for
// the probed address in __bpf_usdt_ip_to_spec_id, and that spec's cookie and argument count.
struct by_ip {
	__u64 hits;
	__s64 spec_id;
	__s64 arg_cnt;
	__u64 ip;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);  // the spec's usdt_cookie
	__type(value, struct by_ip);
} ip_records SEC(".maps");

SEC("usdt")
int spec_by_ip(struct pt_regs *ctx)
{
	long ip = PT_REGS_IP(ctx);
	struct by_ip zero = {}, *r;
	struct __bpf_usdt_spec *spec;
	__u64 cookie = 0;
	int *id, spec_id;

	id = bpf_map_lookup_elem(&__bpf_usdt_ip_to_spec_id, &ip);
	spec_id = id ? *id : -1;
	spec = id ? bpf_map_lookup_elem(&__bpf_usdt_specs, &spec_id) : 0;
	if (spec)
		cookie = spec->usdt_cookie;
	r = bpf_map_lookup_elem(&ip_records, &cookie);
	if (!r) {
		bpf_map_update_elem(&ip_records, &cookie, &zero, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&ip_records, &cookie);
		if (!r)
			return 0;
	}
	__sync_fetch_and_add(&r->hits, 1);
	r->spec_id = spec_id;
	r->arg_cnt = spec ? spec->arg_cnt : -1;
	r->ip = ip;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
