// CO-RE against the running kernel's own BTF: a few task_struct fields declared locally
// (no vmlinux.h), flavors for fields that were renamed across kernel versions, and fields
// and types no kernel has (poisoned). The fixture test/unit/fixtures/core-libbpf.json holds
// libbpf's results for the kernel it was generated on.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

struct list_head {
	struct list_head *next, *prev;
} __pai;

struct mm_struct {
	unsigned long task_size;
} __pai;

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	char comm[16];
	struct task_struct *real_parent;
	struct mm_struct *mm;
	struct list_head children;
	int on_cpu;
	int no_such_field_in_any_kernel;
} __pai;

/* Linux 5.14 renamed task_struct::state to __state. */
struct task_struct___pre514 {
	long state;
} __pai;

struct task_struct___post514 {
	unsigned int __state;
} __pai;

struct ebpf_ts_no_such_type {
	int x;
} __pai;

enum pid_type { PIDTYPE_PID, PIDTYPE_TGID, PIDTYPE_PGID, PIDTYPE_SID, PIDTYPE_MAX };

char LICENSE[] SEC("license") = "GPL";

SEC("socket")
int core_task(struct __sk_buff *ctx)
{
	struct task_struct *t = (void *)ctx;
	long r = 0;

	r += t->pid;
	r += t->tgid;
	r += t->flags;
	r += t->comm[3];
	r += t->real_parent->pid;
	r += (long)t->mm->task_size;
	r += (long)t->children.next;
	r += t->on_cpu;
	r += bpf_core_field_size(t->comm);
	r += bpf_core_field_offset(t->children.prev);
	if (bpf_core_field_exists(t->no_such_field_in_any_kernel))
		r += t->no_such_field_in_any_kernel;
	if (bpf_core_field_exists(((struct task_struct___pre514 *)t)->state))
		r += ((struct task_struct___pre514 *)t)->state;
	if (bpf_core_field_exists(((struct task_struct___post514 *)t)->__state))
		r += ((struct task_struct___post514 *)t)->__state;
	r += bpf_core_type_exists(struct ebpf_ts_no_such_type);
	r += bpf_core_type_size(struct task_struct);
	r += bpf_core_type_id_kernel(struct task_struct);
	r += bpf_core_enum_value(enum pid_type, PIDTYPE_MAX);
	r += bpf_core_enum_value_exists(enum pid_type, PIDTYPE_SID);
	return r;
}
