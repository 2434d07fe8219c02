// A probe with a semaphore: the program fires it only while the semaphore is non-zero, which
// the kernel arranges while a uprobe names the semaphore (ref_ctr_offset). <sys/sdt.h> puts
// the semaphore's address into the note of every probe of a file compiled with
// _SDT_HAS_SEMAPHORES, hence this file of its own.
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

// In .probes, where <sys/sdt.h> semaphores live; volatile so each read sees the kernel's update.
volatile unsigned short ebpf_ts_guarded_semaphore __attribute__((section(".probes"), used));

unsigned short ebpf_ts_guarded_semaphore_value(void)
{
	return ebpf_ts_guarded_semaphore;
}

__attribute__((noinline)) unsigned ebpf_ts_guarded(long n)
{
	if (ebpf_ts_guarded_semaphore == 0)
		return 0;
	DTRACE_PROBE2(ebpf_ts, guarded, n, n * n);
	return 1;
}
