// SPDX-License-Identifier: MIT
// BPF iterators for test/kernel/iter.test.ts. Each prints text with bpf_seq_printf() (5.7) so
// the test can compare it with what /proc or the map holds:
// - iter/task: the tgid of every thread group leader, one per line;
// - iter/bpf_map_elem: "key value" for each element of the map given at attach time (5.9);
// - iter/bpf_map: the id of every map;
// - iter/cgroup: the id of each cgroup walked (6.1), in the order given at attach time.
// The context structs are declared locally with CO-RE: their layout comes from the kernel.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define __pai __attribute__((preserve_access_index))

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __pai;

struct task_struct {
	int pid;
	int tgid;
} __pai;

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __pai;

struct bpf_map {
	__u32 id;
} __pai;

struct bpf_iter__bpf_map {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
} __pai;

struct bpf_iter__bpf_map_elem {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
	void *key;
	void *value;
} __pai;

struct kernfs_node {
	__u64 id;
} __pai;

struct cgroup {
	struct kernfs_node *kn;
	int level;
} __pai;

struct bpf_iter__cgroup {
	struct bpf_iter_meta *meta;
	struct cgroup *cgroup;
} __pai;

// The map the bpf_map_elem iterator walks (the test fills it).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} squares SEC(".maps");

SEC("iter/task")
int dump_tgids(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	// The last call has no task: the end of the walk.
	if (!task || task->pid != task->tgid)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%d\n", task->tgid);
	return 0;
}

SEC("iter/bpf_map_elem")
int dump_elems(struct bpf_iter__bpf_map_elem *ctx)
{
	__u32 *key = ctx->key;
	__u64 *value = ctx->value;

	if (!key || !value)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%u %llu\n", *key, *value);
	return 0;
}

SEC("iter/bpf_map")
int dump_map_ids(struct bpf_iter__bpf_map *ctx)
{
	struct bpf_map *map = ctx->map;

	if (!map)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%u\n", map->id);
	return 0;
}

SEC("iter/cgroup")
int dump_cgroups(struct bpf_iter__cgroup *ctx)
{
	struct cgroup *cgrp = ctx->cgroup;

	if (!cgrp)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%llu %d\n", cgrp->kn->id, cgrp->level);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
