// The user-space side of the uprobe tests (test/kernel/link-uprobe.test.ts).
//
//   target N [wait]
//
// calls ebpf_ts_uprobe_add(i, 1000) for i = 1..N and prints the sum of what it returned. With
// "wait" it first prints "ready" and waits for a line on stdin, so that a test can attach a
// probe filtered on this process's pid before the calls. It prints the USDT-style semaphore
// ebpf_ts_semaphore before and after the calls: the kernel increments it while a uprobe that
// names it (refCtrOffset) is attached to this process.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// In .probes like the semaphores of <sys/sdt.h>; volatile so every read sees the kernel's update.
volatile unsigned short ebpf_ts_semaphore __attribute__((section(".probes"), used));

__attribute__((noinline)) long ebpf_ts_uprobe_add(long a, long b) {
	// An empty asm keeps the call from being folded away.
	__asm__ volatile("" : : "r"(a), "r"(b) : "memory");
	return a + b;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s N [wait]\n", argv[0]);
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		char line[64];
		printf("ready\n");
		fflush(stdout);
		if (fgets(line, sizeof line, stdin) == NULL) return 3;
	}
	unsigned before = ebpf_ts_semaphore;
	long sum = 0;
	for (long i = 1; i <= n; i++) sum += ebpf_ts_uprobe_add(i, 1000);
	printf("sum=%ld semaphore_before=%u semaphore_after=%u\n", sum, before, (unsigned)ebpf_ts_semaphore);
	return 0;
}
