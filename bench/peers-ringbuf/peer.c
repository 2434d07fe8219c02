// bench:ringbuf reference consumer: libbpf's ring_buffer__poll()/ring_buffer__consume() reading
// what ringbuf_getppid.bpf.c sends while a generator thread calls getppid() in a loop.
//   peer <object.o> <seconds>     env RINGBUF_BYTES (default 524288)
// Prints one line: "bench-ringbuf key=value ..." (parsed by bench/ringbuf.mjs).
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static volatile int stop;
static uint64_t calls, received, short_records;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *generate(void *arg)
{
	uint64_t c = 0;

	(void)arg;
	while (!stop) {
		getppid();
		c++;
	}
	calls = c;
	return NULL;
}

/* Counts, and touches the record the way a real consumer would (its length). */
static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	received++;
	if (size < 64)
		short_records++;
	return 0;
}

static double secs(struct timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

/* The consumer thread's scheduling (/proc/thread-self/schedstat: on-CPU ns, run-queue wait ns,
 * timeslices): how long it was runnable but not running is what a full ring costs. */
static void schedstat(uint64_t v[3])
{
	unsigned long long a = 0, b = 0, c = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (f) {
		if (fscanf(f, "%llu %llu %llu", &a, &b, &c) != 3)
			a = b = c = 0;
		fclose(f);
	}
	v[0] = a;
	v[1] = b;
	v[2] = c;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *rodata, *ring, *counters;
	struct bpf_link *link;
	struct ring_buffer *rb;
	struct rusage ru0, ru1;
	uint64_t ss0[3], ss1[3];
	uint32_t tgid = getpid(), k;
	uint64_t fired = 0, failed = 0, t0, t_gen, deadline;
	const char *bytes = getenv("RINGBUF_BYTES");
	pthread_t th;
	double seconds;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <ringbuf_getppid.bpf.o> <seconds>\n", argv[0]);
		return 2;
	}
	seconds = atof(argv[2]);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	rodata = bpf_object__find_map_by_name(obj, ".rodata");
	ring = bpf_object__find_map_by_name(obj, "ring");
	counters = bpf_object__find_map_by_name(obj, "counters");
	prog = bpf_object__find_program_by_name(obj, "on_getppid");
	if (!rodata || !ring || !counters || !prog) {
		fprintf(stderr, "%s: missing .rodata/ring/counters/on_getppid\n", argv[1]);
		return 1;
	}
	err = bpf_map__set_initial_value(rodata, &tgid, sizeof(tgid));
	if (!err && bytes)
		err = bpf_map__set_max_entries(ring, (uint32_t)strtoul(bytes, NULL, 0));
	if (!err)
		err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "load %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	link = bpf_program__attach_tracepoint(prog, "syscalls", "sys_enter_getppid");
	if (!link) {
		fprintf(stderr, "attach: %s\n", strerror(errno));
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(ring), on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}

	getrusage(RUSAGE_SELF, &ru0);
	schedstat(ss0);
	t0 = now_ns();
	deadline = t0 + (uint64_t)(seconds * 1e9);
	pthread_create(&th, NULL, generate, NULL);
	while (now_ns() < deadline) {
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "ring_buffer__poll: %s\n", strerror(-err));
			break;
		}
	}
	stop = 1;
	schedstat(ss1);
	pthread_join(th, NULL);
	t_gen = now_ns() - t0;
	/* Same ending as bench:perf: 200 ms to catch up, then one final drain. */
	deadline = now_ns() + 200000000ull;
	while (now_ns() < deadline)
		ring_buffer__poll(rb, 50);
	ring_buffer__consume(rb);
	getrusage(RUSAGE_SELF, &ru1);

	k = 0;
	bpf_map_lookup_elem(bpf_map__fd(counters), &k, &fired);
	k = 1;
	bpf_map_lookup_elem(bpf_map__fd(counters), &k, &failed);
	printf("bench-ringbuf seconds=%.2f generated=%llu fired=%llu received=%llu failed=%llu short=%llu "
	       "events_per_s=%.0f cpu_user_s=%.2f cpu_sys_s=%.2f reader_run_ms=%.0f reader_wait_ms=%.0f reader_slices=%llu\n",
	       t_gen / 1e9, (unsigned long long)calls, (unsigned long long)fired,
	       (unsigned long long)received, (unsigned long long)failed,
	       (unsigned long long)short_records, received / (t_gen / 1e9),
	       secs(ru1.ru_utime) - secs(ru0.ru_utime), secs(ru1.ru_stime) - secs(ru0.ru_stime),
	       (ss1[0] - ss0[0]) / 1e6, (ss1[1] - ss0[1]) / 1e6, (unsigned long long)(ss1[2] - ss0[2]));
	ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
