// libbpf's side of bench/btf.mjs: parse kernel BTF with btf__load_vmlinux_btf() (or
// btf__parse() for a custom path), find `task_struct` with btf__find_by_name_kind(), resolve
// every member (name, type, the type's kind and name), then look it up again. One JSON line
// on stdout; times in nanoseconds (CLOCK_MONOTONIC), memory as malloc'd bytes (mallinfo2) and
// RSS growth. Built by the bench at run time against the system libbpf; never committed built.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f != NULL) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * 4;
}

// Touches what a user of the struct needs: each member's name, type id, and that type's kind
// and name (one level, as our side does).
static unsigned long walk_members(const struct btf *btf, int id) {
  const struct btf_type *t = btf__type_by_id(btf, id);
  const struct btf_member *m = btf_members(t);
  unsigned long sum = 0;
  for (int i = 0; i < btf_vlen(t); i++, m++) {
    const char *name = btf__name_by_offset(btf, m->name_off);
    const struct btf_type *mt = btf__type_by_id(btf, m->type);
    const char *tname = btf__name_by_offset(btf, mt->name_off);
    sum += strlen(name) + btf_kind(mt) + strlen(tname) + m->offset;
  }
  return sum;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NULL;
  libbpf_set_print(NULL);
  struct mallinfo2 m0 = mallinfo2();
  long rss0 = rss_kb();
  long long t0 = now_ns();
  struct btf *btf = path != NULL ? btf__parse(path, NULL) : btf__load_vmlinux_btf();
  if (btf == NULL) {
    fprintf(stderr, "failed to load BTF\n");
    return 1;
  }
  long long t1 = now_ns();
  int id = btf__find_by_name_kind(btf, "task_struct", BTF_KIND_STRUCT);
  if (id < 0) {
    fprintf(stderr, "task_struct not found\n");
    return 1;
  }
  long long t2 = now_ns();
  unsigned long sum = walk_members(btf, id);
  long long t3 = now_ns();
  int again = btf__find_by_name_kind(btf, "task_struct", BTF_KIND_STRUCT);
  sum += walk_members(btf, again);
  long long t4 = now_ns();
  struct mallinfo2 m1 = mallinfo2();
  printf("{\"parseNs\":%lld,\"findNs\":%lld,\"membersNs\":%lld,\"secondNs\":%lld,\"members\":%u,"
         "\"types\":%u,\"heapBytes\":%zu,\"rssKB\":%ld,\"check\":%lu}\n",
         t1 - t0, t2 - t1, t3 - t2, t4 - t3, btf_vlen(btf__type_by_id(btf, id)), btf__type_cnt(btf),
         m1.uordblks - m0.uordblks, rss_kb() - rss0, sum);
  btf__free(btf);
  return 0;
}
