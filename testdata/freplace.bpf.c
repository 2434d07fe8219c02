// freplace (BPF_PROG_TYPE_EXT) programs for test/kernel/freplace.test.ts: replacements for the
// global function get_value() of testdata/freplace_target.bpf.c, with the same prototype.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// Counts the calls, so the test sees which version ran.
__u64 calls = 0;

SEC("freplace/get_value")
int new_get_value(int len)
{
	__sync_fetch_and_add(&calls, 1);
	return len + 1000;
}

char LICENSE[] SEC("license") = "GPL";
