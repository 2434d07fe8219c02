// profile: counts the stacks a sampling perf event interrupts, per process. Used by
// examples/profile.mjs and test/kernel/perf-sampling.test.ts.
//
// The program runs on every sample of a perf event opened on each CPU (attachPerfEventAllCPUs).
// bpf_get_stackid() walks the interrupted stack (the kernel part from the interrupt's
// registers, the user part by frame pointers from the task's saved user registers), stores
// the addresses in the STACK_TRACE map and returns their id; equal stacks share an id. A hash
// map counts samples per (process, user stack, kernel stack). User space reads the counts,
// looks the ids up in the stack map and symbolises the addresses.
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_COMM_LEN 16
// The kernel's default limit (kernel.perf_event_max_stack): a stack map refuses deeper values.
#define MAX_STACK_DEPTH 127

// The process (tgid) to sample; 0 samples every process except the idle task. Set by the
// loader through the collection's constants.
const volatile __u32 target_tgid = 0;

// What one sample is counted under. A stack id is negative when there was no stack to walk
// (-EFAULT: a kernel thread has no user stack) or the map could not keep it (-EEXIST: another
// stack occupies its bucket; -ENOMEM: the map is full).
struct stack_key {
	__u32 tgid;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_STACK_DEPTH * sizeof(__u64));
	__uint(max_entries, 8192);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct stack_key);
	__type(value, __u64);
	__uint(max_entries, 8192);
} counts SEC(".maps");

SEC("perf_event")
int profile(struct bpf_perf_event_data *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == 0 || (target_tgid != 0 && tgid != target_tgid))
		return 0;

	struct stack_key key = {};
	key.tgid = tgid;
	key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
	bpf_get_current_comm(&key.comm, sizeof(key.comm));

	__u64 one = 1;
	__u64 *count = bpf_map_lookup_elem(&counts, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return 0;
	}
	// Another CPU may insert the same key between the lookup and here: add to its entry then.
	if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) != 0) {
		count = bpf_map_lookup_elem(&counts, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
	}
	return 0;
}
