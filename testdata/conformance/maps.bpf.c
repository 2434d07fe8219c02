// SPDX-License-Identifier: MIT
// BTF-defined maps (hash, array, per-CPU array, LRU hash, a ring buffer and a program array
// filled with a program) and programs of several types: socket, xdp, tc, tracepoint, raw
// tracepoint, cgroup_skb, kprobe and fentry. BTF-defined maps exist only in BTF, so this
// source is built with -g only (a -g0 object's .maps section cannot be read by any loader).
// conformance-needs-btf
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct maps_event {
	__u32 pid;
	__u32 len;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} maps_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct maps_event);
} maps_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} maps_percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} maps_lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} maps_events SEC(".maps");

SEC("xdp")
int maps_tail(struct xdp_md *ctx)
{
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} maps_jump SEC(".maps") = {
	.values = { [1] = (void *)&maps_tail },
};

/* Counts the packet in every map, then tail-calls maps_tail: XDP_DROP under testRun. */
SEC("xdp")
int maps_xdp(struct xdp_md *ctx)
{
	__u32 key = 0, len = ctx->data_end - ctx->data;
	__u64 one = 1, *n;
	struct maps_event *e;

	if (bpf_map_update_elem(&maps_hash, &len, &one, BPF_NOEXIST))
		return XDP_ABORTED;
	e = bpf_map_lookup_elem(&maps_array, &key);
	if (e)
		e->len = len;
	n = bpf_map_lookup_elem(&maps_percpu, &key);
	if (n)
		*n += len;
	bpf_map_update_elem(&maps_lru, &key, &len, BPF_ANY);
	bpf_tail_call(ctx, &maps_jump, 1);
	return XDP_PASS;
}

/* One ring buffer record per run; returns 1 when it was submitted. */
SEC("socket")
int maps_socket(struct __sk_buff *skb)
{
	struct maps_event *e = bpf_ringbuf_reserve(&maps_events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = 0;
	e->len = skb->len;
	bpf_ringbuf_submit(e, 0);
	return 1;
}

SEC("tc")
int maps_tc(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&maps_percpu, &key);

	return n ? 0 : 2; /* TC_ACT_OK, else TC_ACT_SHOT */
}

SEC("cgroup_skb/egress")
int maps_cgroup(struct __sk_buff *skb)
{
	return 1;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int maps_tracepoint(void *ctx)
{
	struct maps_event *e = bpf_ringbuf_reserve(&maps_events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->len = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("raw_tp/sys_enter")
int maps_raw_tp(void *ctx)
{
	__u32 key = 1;
	struct maps_event *e = bpf_map_lookup_elem(&maps_array, &key);

	if (e)
		e->pid = bpf_get_current_pid_tgid() >> 32;
	return 0;
}

SEC("kprobe/do_nanosleep")
int maps_kprobe(void *ctx)
{
	__u32 key = 2;
	__u64 one = 1;

	bpf_map_update_elem(&maps_hash, &key, &one, BPF_ANY);
	return 0;
}

SEC("fentry/do_nanosleep")
int maps_fentry(void *ctx)
{
	__u32 key = 3;
	__u64 one = 1;

	bpf_map_update_elem(&maps_hash, &key, &one, BPF_ANY);
	return 0;
}

char _license[] SEC("license") = "GPL";
