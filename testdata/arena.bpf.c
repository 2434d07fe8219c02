// Globals in an arena (Linux 6.9): `__arena` puts them in the `.addr_space.1` section, which the
// loader copies into the object's one ARENA map after mmap()ing it. A syscall program run with
// testRun() reads and writes them, so the test sees both directions through the arena memory.
// address_space(1) globals need clang 19.
// ebpf-ts-clang: clang-19
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __arena __attribute__((address_space(1)))

#ifndef BPF_MAP_TYPE_ARENA
#define BPF_MAP_TYPE_ARENA 33
#endif
#ifndef BPF_F_MMAPABLE
#define BPF_F_MMAPABLE (1U << 10)
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4); // pages
} arena SEC(".maps");

// Initialised: lands in .addr_space.1 with its value.
int __arena counter = 40;
unsigned long long __arena seen_from_js;
int __arena table[4] = { 1, 2, 3, 4 };

// Adds 2 to counter, copies host_value (written by JS) into seen_from_js, and sums table.
SEC("syscall")
int arena_rw(void *ctx)
{
	int sum = 0;

	counter += 2;
	seen_from_js = table[3] * 1000ull;
	for (int i = 0; i < 4; i++)
		sum += table[i];
	return sum;
}

char _license[] SEC("license") = "GPL";
