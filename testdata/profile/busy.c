// The process the sampling tests profile (test/kernel/perf-sampling.test.ts):
//
//   busy SECONDS
//
// prints "ready", then burns CPU for SECONDS in ebpf_ts_profile_hot(), called from
// ebpf_ts_profile_outer(), and prints what it computed. Built with frame pointers so that
// bpf_get_stackid(BPF_F_USER_STACK) can walk from the hot function back to main.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) unsigned long ebpf_ts_profile_hot(unsigned long n) {
	unsigned long x = n;
	// GCC leaves leaf functions without a frame even with -fno-omit-frame-pointer, which would
	// hide ebpf_ts_profile_outer from a frame-pointer walk; asking for the frame address makes one.
	__asm__ volatile("" : : "r"(__builtin_frame_address(0)));
	// The asm keeps the compiler from computing the loop's result without running it.
	for (unsigned long i = 0; i < n; i++) {
		x = x * 6364136223846793005UL + 1442695040888963407UL;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

__attribute__((noinline)) unsigned long ebpf_ts_profile_outer(time_t end) {
	unsigned long sum = 0;
	while (time(NULL) < end) sum += ebpf_ts_profile_hot(1UL << 22);
	return sum;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s SECONDS\n", argv[0]);
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	unsigned long sum = ebpf_ts_profile_outer(time(NULL) + strtol(argv[1], NULL, 10));
	printf("sum=%lu\n", sum);
	return 0;
}
