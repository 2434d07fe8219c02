// The user-space side of the USDT tests (test/kernel/usdt.test.ts): a program with <sys/sdt.h>
// probes whose arguments the compiler puts in registers, in memory (stack slots, a global
// addressed through %rip) and in the note itself (constants).
//
//   target
//
// prints "ready <pid>", then for each line "N" on stdin fires every probe once with values
// derived from N and prints "fired N semaphore=S guarded=G" (S: the value of the guarded
// probe's semaphore, which the kernel raises while a probe on it is attached; G: whether the
// guarded probe fired). It exits at end of input.
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
#include <unistd.h>

void ebpf_ts_lib_hello(long n);          // lib.c, in libusdtfixture.so
unsigned ebpf_ts_guarded(long n);        // guarded.c
unsigned short ebpf_ts_guarded_semaphore_value(void);

// Globals the compiler addresses through %rip ("8@ebpf_ts_counter(%rip)").
long ebpf_ts_counter;
int ebpf_ts_small = -3;

// Register arguments of every size and signedness.
__attribute__((noinline)) static void fire_regs(long n)
{
	int a = (int)n;
	int b = -(int)n;
	long c = n * 1000;
	unsigned char d = (unsigned char)(n + 250);
	short e = (short)(-n - 1);
	unsigned long f = (unsigned long)n << 40;
	DTRACE_PROBE6(ebpf_ts, regs, a, b, c, d, e, f);
}

// Without optimisation every argument lives in a stack slot ("-4@-20(%rbp)").
__attribute__((noinline, optimize("O0"))) static void fire_memory(long n)
{
	int a = (int)n + 1;
	long b = -n * 7;
	unsigned short c = (unsigned short)(n + 65530);
	signed char d = (signed char)-n;
	DTRACE_PROBE4(ebpf_ts, memory, a, b, c, d);
}

__attribute__((noinline)) static void fire_global(long n)
{
	ebpf_ts_counter += n;
	__asm__ volatile("" ::: "memory");
	DTRACE_PROBE2(ebpf_ts, global, ebpf_ts_counter, ebpf_ts_small);
}

// Constants are written into the note ("-4@$-7").
__attribute__((noinline)) static void fire_consts(void)
{
	DTRACE_PROBE4(ebpf_ts, consts, 5, -7, 1234567890123LL, (unsigned char)200);
}

// The same probe at two places: one probe, two locations.
__attribute__((noinline)) static void fire_twice_a(long n)
{
	DTRACE_PROBE1(ebpf_ts, twice, n + 100);
}

__attribute__((noinline)) static void fire_twice_b(long n)
{
	DTRACE_PROBE1(ebpf_ts, twice, n + 200);
}

// The most arguments <sys/sdt.h> (and libbpf's usdt.bpf.h) allow.
__attribute__((noinline)) static void fire_many(long n)
{
	DTRACE_PROBE12(ebpf_ts, many, n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7, n + 8, n + 9, n + 10, 11, -12);
}

__attribute__((noinline)) static void fire_noargs(void)
{
	DTRACE_PROBE(ebpf_ts, noargs);
}

int main(void)
{
	char line[64];
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (fgets(line, sizeof line, stdin) != NULL) {
		long n = strtol(line, NULL, 10);
		fire_regs(n);
		fire_memory(n);
		fire_global(n);
		fire_consts();
		fire_twice_a(n);
		fire_twice_b(n);
		fire_many(n);
		fire_noargs();
		ebpf_ts_lib_hello(n);
		unsigned guarded = ebpf_ts_guarded(n);
		printf("fired %ld semaphore=%u guarded=%u\n", n, (unsigned)ebpf_ts_guarded_semaphore_value(), guarded);
		fflush(stdout);
	}
	return 0;
}
