// printk: the simplest way to see a BPF program run. bpf_printk() writes a line into the
// kernel's trace buffer, and examples/printk.mjs reads it back from tracefs's trace_pipe.
// Good for debugging, not for data: the buffer is global (shared with every other program
// and tracer on the machine), lines are text, and the helper is slow.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TASK_COMM_LEN 16

char LICENSE[] SEC("license") = "GPL"; // bpf_trace_printk is a GPL-only helper

// sched_process_exec fires once a new program has replaced the old one, so comm already
// names the new program. The context is not read: pid and comm come from helpers.
SEC("tracepoint/sched/sched_process_exec")
int print_exec(void *ctx)
{
	char comm[TASK_COMM_LEN];

	bpf_get_current_comm(comm, sizeof(comm));
	// At most three arguments; the format string lives in .rodata (global data, Linux 5.2+).
	// The fixed prefix lets the reader tell our lines from other programs' in the shared buffer.
	bpf_printk("ebpf-ts printk: exec pid=%d comm=%s", bpf_get_current_pid_tgid() >> 32, comm);
	return 0;
}
