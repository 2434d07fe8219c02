#!/usr/bin/env node
// `npm run bench:perf`: PerfReader throughput beside the libbpf and cilium/ebpf peers.
//
// What is measured is the peers' `bench-perf` (../shared/bench-peers, peer.c cmd_bench_perf):
// a program on tracepoint syscalls/sys_enter_getppid emits one 64-byte record per getppid()
// of the benchmarking process into a PERF_EVENT_ARRAY with 64-page rings and counts its runs
// (counters[0]) and failed outputs (counters[1]); a generator thread calls getppid() in a tight
// loop for SECS seconds while the reader counts samples and lost samples; then 200 ms of
// catching up and a final drain. Reported: events/s received, lost, user/sys CPU of the
// whole process (generator thread included, like getrusage(RUSAGE_SELF) in the peers).
//
// Ours differs in two declared ways:
// - The BPF program is hand-assembled with the asm builder (the ELF loader is not used here):
//   the same logic and record layout as perf_getppid.bpf.c (seq from an atomic fetch-add on
//   counters[0], ktime, tgid, cpu, 40 zero bytes of padding; output errors counted in
//   counters[1]), with target_tgid as an immediate instead of a frozen .rodata value —
//   which is what the verifier makes of `const volatile` anyway. Attached with
//   attachTracepoint (src/link).
// - The generator is the peers' loop in C (`while (!stop) getppid();` on a pthread), compiled
//   at run time into a shared library and started through ffi-rs, so that it runs in our
//   process (the program filters on our tgid) at the same speed as theirs.
// - Ours warm up before the timed run (PERF_WARMUP_S seconds, default 1; 0 turns it off): the
//   same reader and generator run that long, then everything is drained, the kernel's pending
//   loss counts flushed (as at the end, below) and every counter reset. That keeps V8's
//   compilation of the read path (on background threads, which compete with reader and
//   generator for this machine's two CPUs) and the start-up garbage collections out of the
//   timed run; the peers are compiled ahead of time and start warm. bench/run.mjs warms up its
//   map loops for the same reason. Without it, the first ~300 ms of a run lose samples that
//   the rest does not.
// - After the final drain ours runs getppid() once on each CPU (a pinned thread) and drains
//   again: the kernel reports a ring's lost count only in front of the next sample that fits
//   (perf_output_begin()), so without this a ring that was full at the end keeps its losses
//   to itself. With it received + lost == fired holds exactly; the `unreported` column shows
//   fired - received - lost for every contestant.
//
// Two diagnostic contestants swap one part of ours for the peer's, to find which part loses
// samples (results/issue14-relay-2026-12-07.md):
// - PERF_APIS with `libbpf`: libbpf's perf_buffer (built at run time from LBREAD_C) reads our
//   map in our process, with our program and generator; the JavaScript thread is blocked in
//   its C poll loop for the run.
// - PERF_PEER_PROG=1: each of our APIs once more on the peer's compiled perf_getppid.bpf.o,
//   loaded with our loadCollection (target_tgid as a constant), instead of the hand-assembled
//   program.
//
// Three ways of reading are measured (PERF_APIS): `readMany` (`for (;;) for (const r of await
// reader.readMany())`: record objects, one promise per batch), `forEach`
// (`reader.forEachRecord((cpu, bytes, offset, length) => …)`: records handed over in place from
// the readiness callbacks, nothing allocated per record or batch) and `batches` (`for await
// (const b of reader.batches())`: one reused RecordBatch, records copied into its buffer, one
// promise per batch). All count every sample and look at its length, as the peers' callbacks do.
//
// Ours also report how often the main thread went to sleep (its voluntary context switches),
// per 1000 events: about 1000 means a wake-up per event, fewer means batches per wake-up.
//
// Each run waits for a quiet machine first (no qemu VM, under 15% of a CPU busy; PERF_QUIET=0
// turns that off, PERF_QUIET_MAX_S bounds the wait); the raw figures note whether a VM ran
// (vm_during) and how busy the machine was just before (busy_before, % of one CPU).
//
// Env: PERF_SECS (5), BENCH_RUNS (3), PERF_WMS ("0 4096 65536"; 0 = wake on every sample),
//      PERF_APIS ("readMany forEach batches"), PERF_PEERS ("libbpf cilium"; add libbpf-node for
//      the libbpf peer's reader and generator run inside a node process, see buildPeerInNode),
//      PERF_SLICES_MS (diagnostic: losses per time slice of the run, on stderr),
//      PERF_START_TRACE=1 (diagnostic: samples and losses per ms over the first 40 ms),
//      PERF_ALLOC_PROFILE=1 (diagnostic: where the timed run allocates, garbage included,
//      from V8's sampling heap profiler; the top sites on stderr),
//      PERF_THREADS=1 (diagnostic: CPU time and preemptions of each thread over the run),
//      PERF_PAGES (diagnostic: pages per ring, default 64, for ours and the `libbpf` API
//      contestant; the peers keep 64: smaller rings make any stall of the reader cost samples,
//      on a machine whose producer is too slow to fill 64 pages),
//      BENCH_BACKENDS ("native"; add ffi-rs to measure the fallback's 5 ms timer polling),
//      BENCH_PEERS (../shared/bench-peers), BENCH_BUILD (/tmp/bench-build),
//      BENCH_BASELINE_DIST (an older build, e.g. of the previous commit, run as one more
//      contestant in the same rounds; PERF_BASELINE_APIS picks its APIs, default readMany), BENCH_DIST (the built library; default: src/ compiled into .tmp-tsc/bench-perf-dist).
// A measurement, not a test: a missed goal is reported, not turned into an exit code.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const buildDir = resolve(process.env.BENCH_BUILD ?? '/tmp/bench-build');
const peersDir = resolve(process.env.BENCH_PEERS ?? join(repo, '..', 'shared', 'bench-peers'));
/** The libbpf peer's BPF object (its make builds it), which the diagnostic contestants reuse. */
const peerObj = join(buildDir, 'peer-libbpf', 'perf_getppid.bpf.o');
const log = (s) => process.stderr.write(`${s}\n`);

const GEN_C = `
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>
static volatile int stop;
static uint64_t calls;
static pthread_t th;
static void *loop(void *arg) {
  uint64_t c = 0;
  (void)arg;
  while (!stop) { getppid(); c++; }
  calls = c;
  return 0;
}
int gen_start(void) { stop = 0; calls = 0; return pthread_create(&th, 0, loop, 0); }
double gen_stop(void) { stop = 1; pthread_join(th, 0); return (double)calls; }
static void *once(void *arg) { (void)arg; getppid(); return 0; }
int gen_once_on(int cpu) {
  pthread_t t; pthread_attr_t a; cpu_set_t set;
  CPU_ZERO(&set); CPU_SET(cpu, &set);
  pthread_attr_init(&a);
  pthread_attr_setaffinity_np(&a, sizeof(set), &set);
  int r = pthread_create(&t, &a, once, 0);
  pthread_attr_destroy(&a);
  if (r == 0) pthread_join(t, 0);
  return r;
}
`;

// ------------------------------------------------------------------------------ parent

function parent() {
  const secs = Number(process.env.PERF_SECS ?? 5);
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const wms = (process.env.PERF_WMS ?? '0 4096 65536').split(/\s+/).filter(Boolean).map(Number);
  const backends = (process.env.BENCH_BACKENDS ?? 'native').split(',').map((s) => s.trim()).filter(Boolean);
  const apis = (process.env.PERF_APIS ?? 'readMany forEach batches').split(/\s+/).filter(Boolean);
  if (process.getuid?.() !== 0) log('note: not root: expect EPERM');

  if (!existsSync('/sys/kernel/tracing/events')) {
    log('tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing');
    spawnSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'inherit' });
  }
  // cilium/ebpf 0.9.1 looks for tracefs only under /sys/kernel/debug/tracing.
  if (!existsSync('/sys/kernel/debug/tracing/events')) spawnSync('mount', ['-t', 'debugfs', 'none', '/sys/kernel/debug'], { stdio: 'ignore' });

  const dist = prepareDist();
  const gen = buildGenerator();
  const lbread = apis.includes('libbpf') ? buildLibbpfReader() : undefined;
  const contestants = [];
  const diagnostics = ['PERF_SLICES_MS', 'PERF_START_TRACE', 'PERF_ALLOC_PROFILE', 'PERF_THREADS'].some((k) => (process.env[k] ?? '') !== '' && process.env[k] !== '0');
  const peers = (process.env.PERF_PEERS ?? 'libbpf cilium').split(/\s+/).filter(Boolean);
  for (const [id, dir, bin] of [
    ['libbpf', 'peer-libbpf', 'peer-libbpf'],
    ['cilium', 'peer-cilium', 'peer-cilium'],
  ].filter(([id]) => peers.includes(id))) {
    const out = join(buildDir, dir);
    const r = spawnSync('make', ['-s', '-C', join(peersDir, dir), `BUILD=${out}`], { encoding: 'utf8' });
    if (r.status !== 0) log(`note: ${id} peer does not build, skipped: ${(r.stderr || '').trim().split('\n').pop()}`);
    else contestants.push({ id, kind: 'peer', binary: join(out, bin) });
  }
  if (peers.includes('libbpf-node')) {
    const lib = buildPeerInNode();
    if (lib !== undefined) contestants.push({ id: 'libbpf-node', kind: 'peer-in-node', lib });
  }
  const ourApis = apis.filter((a) => a !== 'libbpf' || lbread !== undefined);
  // `libbpf` as an API: libbpf's reader in our child (see the header), named so.
  const ourId = (b, api) => (api === 'libbpf' ? `libbpf reader, ebpf-ts ${b} setup` : `ebpf-ts ${b} ${api}`);
  for (const b of backends) for (const api of ourApis) contestants.push({ id: ourId(b, api), kind: 'ours', backend: b, api });
  if (process.env.PERF_PEER_PROG === '1') {
    if (!existsSync(peerObj)) log('note: PERF_PEER_PROG needs the libbpf peer built (its perf_getppid.bpf.o), skipped');
    else for (const api of ourApis) contestants.push({ id: `${ourId('native', api)}, peer's program`, kind: 'ours', backend: 'native', api, peerProg: true });
  }
  // An older build measured in the same rounds (before/after comparisons on a shared machine).
  if (process.env.BENCH_BASELINE_DIST) {
    const baseApis = (process.env.PERF_BASELINE_APIS ?? 'readMany').split(/\s+/).filter(Boolean);
    for (const b of backends) for (const api of baseApis) contestants.push({ id: `ebpf-ts ${b} ${api} @baseline`, kind: 'ours', backend: b, api, dist: resolve(process.env.BENCH_BASELINE_DIST) });
  }

  const rows = new Map(); // `${wm} ${id}` -> [values]
  const loads = [];
  log(`bench-perf: 64-byte records, ${secs}s per run, watermarks ${wms.join(', ')}, ${runs} rounds, ${cpus().length} CPUs`);
  for (let round = 0; round < runs; round++) {
    for (const wm of wms) {
      const order = contestants.map((_, i) => contestants[(i + round) % contestants.length]);
      for (const c of order) {
        const quiet = waitQuiet();
        loads.push(loadavg()[0]);
        const env = { ...process.env, PERF_WATERMARK: String(wm) };
        const r =
          c.kind === 'peer'
            ? spawnSync(c.binary, ['bench-perf', String(secs)], { env, encoding: 'utf8', timeout: (secs + 30) * 1000 })
            : c.kind === 'peer-in-node'
            ? spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--peer-in-node', String(secs)], { env: { ...env, PEER_LIB: c.lib }, encoding: 'utf8', timeout: (secs + 30) * 1000 })
            : spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', String(secs)], {
                env: { ...env, EBPF_TS_BACKEND: c.backend, BENCH_DIST: c.dist ?? dist, BENCH_GEN: gen, PERF_API: c.api, BENCH_LBREAD: lbread ?? '', PERF_PEER_PROG: c.peerProg ? '1' : '' },
                encoding: 'utf8',
                timeout: (secs + 30) * 1000,
              });
        const line = (r.stdout || '').split('\n').find((l) => l.startsWith('bench-perf'));
        // The diagnostics print to the child's stderr: passed on, each line marked with its contestant.
        if (diagnostics && c.kind === 'ours' && r.stderr) process.stderr.write(r.stderr.replace(/^(?=.)/gm, `    [${c.id}, wm=${wm}] `));
        if (r.status !== 0 || line === undefined) {
          log(`  wm=${wm} ${c.id}: failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`);
          continue;
        }
        const v = Object.fromEntries(
          line
            .split(/\s+/)
            .slice(1)
            .map((kv) => kv.split('='))
            .map(([k, x]) => [k, Number(x)]),
        );
        v.unreported = v.fired - v.received - v.lost;
        v.busy_before = quiet.busy;
        v.vm_during = quiet.vm || vmRunning() ? 1 : 0;
        log(`  round ${round + 1} wm=${wm} ${c.id}: ${Math.round(v.events_per_s)} ev/s, lost ${v.lost}, unreported ${v.unreported}${v.vm_during ? ' (a VM ran during this run)' : ''}`);
        const key = `${wm}\t${c.id}`;
        if (!rows.has(key)) rows.set(key, []);
        rows.get(key).push(v);
      }
    }
  }

  const sleepsPer1k = (vs) => {
    const xs = vs.filter((v) => Number.isFinite(v.reader_sleeps)).map((v) => (1000 * v.reader_sleeps) / (v.received + v.lost));
    return xs.length === 0 ? '-' : med(xs).toFixed(1);
  };
  const med = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const out = [];
  out.push(`## bench-perf: medians of ${runs} rounds, ${secs}s each, 1-min load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}, ${cpus().length} CPUs)`);
  out.push('');
  out.push('| watermark | contestant | events/s | × libbpf | lost | unreported | received+lost==fired | user CPU s | sys CPU s | reader sleeps / 1k events | runs |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|');
  const summary = {};
  for (const wm of wms) {
    const base = rows.get(`${wm}\tlibbpf`);
    const baseEps = base ? med(base.map((v) => v.events_per_s)) : NaN;
    for (const c of contestants) {
      const vs = rows.get(`${wm}\t${c.id}`);
      if (!vs) {
        out.push(`| ${wm} | ${c.id} | failed | | | | | | | | 0 |`);
        continue;
      }
      const eps = med(vs.map((v) => v.events_per_s));
      const exact = vs.filter((v) => v.unreported === 0).length;
      out.push(
        `| ${wm} | ${c.id} | ${Math.round(eps)} | ${Number.isFinite(baseEps) ? (eps / baseEps).toFixed(2) : '-'} | ${med(vs.map((v) => v.lost))} | ${med(vs.map((v) => v.unreported))} | ${exact}/${vs.length} | ${med(vs.map((v) => v.cpu_user_s)).toFixed(2)} | ${med(vs.map((v) => v.cpu_sys_s)).toFixed(2)} | ${sleepsPer1k(vs)} | ${vs.length} |`,
      );
      summary[`${wm} ${c.id}`] = vs;
    }
  }
  out.push('');
  const vmRuns = [...rows.values()].flat().filter((v) => v.vm_during).length;
  if (vmRuns > 0) out.push(`Note: a VM ran during ${vmRuns} of the runs (vm_during in the raw figures).`);
  out.push('Goal (issue 5): ebpf-ts events/s >= 1.0x libbpf with no more lost samples, and received + lost == fired exactly.');
  out.push('readMany: record objects, one promise per batch; forEach: forEachRecord(), records handed over in place; batches: `for await` over batches(), one reused RecordBatch.');
  out.push(`Ours: warmed up for ${process.env.PERF_WARMUP_S ?? 1} s before the timed run (PERF_WARMUP_S; the peers are compiled ahead of time).`);
  if ((process.env.PERF_PAGES ?? '64') !== '64') out.push(`Rings of ${process.env.PERF_PAGES} pages for ours and the \`libbpf\` API contestant (PERF_PAGES); the peers keep 64: compare with that contestant.`);
  out.push('Ours: program hand-assembled with the asm builder (same logic and 64-byte record as perf_getppid.bpf.c), attached with attachTracepoint; generator = the peers\' C loop in a shared library run through ffi-rs.');
  console.log(out.join('\n'));
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'perf-latest.json'), JSON.stringify({ date: new Date().toISOString(), secs, runs, wms, summary }, null, 1));
  return 0;
}

/** Whether a qemu VM runs on this machine (other work here starts them; they take whole CPUs). */
function vmRunning() {
  return spawnSync('pgrep', ['-f', 'qemu-system'], { encoding: 'utf8' }).stdout.trim() !== '';
}

/** CPU time (clock ticks) spent by everything on the machine, from /proc/stat. */
function busyTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6]; // user nice system irq softirq
}

/**
 * Before each run (unless PERF_QUIET=0): waits while a VM runs (polling every 30 s) and while
 * the machine is busy (more than 15% of one CPU over a second, i.e. other work), for at most
 * PERF_QUIET_MAX_S seconds (600), so that every contestant runs on a machine as quiet as it
 * gets. Returns the busy share seen last (% of one CPU) and whether a VM was still running.
 */
function waitQuiet() {
  if (process.env.PERF_QUIET === '0') return { busy: NaN, vm: vmRunning() };
  const deadline = Date.now() + Number(process.env.PERF_QUIET_MAX_S ?? 600) * 1000;
  const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  for (;;) {
    const vm = vmRunning();
    const b0 = busyTicks();
    sleep(1000);
    const busy = busyTicks() - b0; // ticks of 1/100 s in one second: % of one CPU
    if ((!vm && busy <= 15) || Date.now() > deadline) {
      if (Date.now() > deadline) log(`  note: machine still ${vm ? 'running a VM' : `busy (${busy}% of a CPU)`}; running anyway`);
      return { busy, vm };
    }
    sleep(vm ? 30_000 : 5_000);
  }
}

function prepareDist() {
  if (process.env.BENCH_DIST) return resolve(process.env.BENCH_DIST);
  // Inside the repository (an ignored folder) so that node_modules (ffi-rs) and the addon
  // (found from the nearest ebpf-ts package.json) resolve as they do for dist/.
  const out = join(repo, '.tmp-tsc', 'bench-perf-dist');
  // tsc emits even when a file someone else is editing has type errors; what matters here is
  // that the reader modules are the current source.
  const r = spawnSync(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', join(repo, 'tsconfig.build.json'), '--outDir', out, '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false'], {
    encoding: 'utf8',
  });
  if (!existsSync(join(out, 'perf', 'reader.js'))) {
    log(`error: compiling src/ into ${out} failed:\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  return out;
}

/**
 * The libbpf peer's `bench-perf` (its perf_buffer reader and its generator thread) as a shared
 * library with one entry point, `run_perf(seconds, obj)`, for `--peer-in-node` to call through
 * ffi-rs: the same C reader, inside a node process instead of its own. Compares readers in the
 * same kind of process (results/issue14-relay-2026-12-07.md). Needs the libbpf peer built
 * (its BPF object); undefined, with a note, when it cannot be built.
 */
function buildPeerInNode() {
  if (!existsSync(peerObj)) {
    log('note: libbpf-node needs the libbpf peer (PERF_PEERS with libbpf), skipped');
    return undefined;
  }
  const source = [
    '#define main peer_main',
    `#include ${JSON.stringify(join(peersDir, 'peer-libbpf', 'peer.c'))}`,
    '#undef main',
    'int run_perf(double secs, const char *obj)',
    '{',
    '\tconst char *w = getenv("PERF_WATERMARK");',
    '\tint rc = cmd_bench_perf(secs, obj, w ? atoi(w) : 0);',
    '\tfflush(stdout);',
    '\treturn rc;',
    '}',
    '',
  ].join('\n');
  const { lib, error } = buildSharedLib('peer-libbpf-node', source, ['-lbpf', '-lelf', '-lz', '-lpthread']);
  if (error !== undefined) log(`note: libbpf-node does not build, skipped: ${error.split('\n').pop()}`);
  return lib;
}

/** `--peer-in-node SECS`: runs the libbpf peer's bench-perf from PEER_LIB inside this process. */
function peerInNode(secs) {
  const ffi = createRequire(import.meta.url)('ffi-rs');
  ffi.open({ library: 'peer_in_node', path: process.env.PEER_LIB });
  process.exitCode = ffi.load({
    library: 'peer_in_node',
    funcName: 'run_perf',
    retType: ffi.DataType.I32,
    paramsType: [ffi.DataType.Double, ffi.DataType.String],
    paramsValue: [secs, peerObj],
  });
}

/**
 * The `libbpf` diagnostic contestant's reader: libbpf's perf_buffer over a map fd we pass in,
 * polled from the calling thread for a given time, counting samples and lost samples.
 */
const LBREAD_C = `
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <time.h>
static uint64_t received, lost;
static struct perf_buffer *pb;
static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000ull + t.tv_nsec; }
static enum bpf_perf_event_ret on_raw(void *ctx, int cpu, struct perf_event_header *e) {
  (void)ctx; (void)cpu;
  if (e->type == PERF_RECORD_SAMPLE) received++;
  else if (e->type == PERF_RECORD_LOST) lost += ((uint64_t *)(e + 1))[1];
  return LIBBPF_PERF_EVENT_CONT;
}
/* The peer's rings (64 pages, unless PERF_PAGES), raw samples, woken every wm bytes. */
int lb_open(int map_fd, int wm, int pages) {
  struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_BPF_OUTPUT, .sample_type = PERF_SAMPLE_RAW, .sample_period = 1, .watermark = wm > 0, .wakeup_watermark = wm > 0 ? wm : 1 };
  attr.size = sizeof attr;
  pb = perf_buffer__new_raw(map_fd, pages, &attr, on_raw, NULL, NULL);
  return pb ? 0 : -1;
}
int lb_poll_ms(int ms) { uint64_t d = now_ns() + (uint64_t)ms * 1000000ull; while (now_ns() < d) perf_buffer__poll(pb, 100); return 0; }
int lb_consume(void) { return perf_buffer__consume(pb); }
double lb_received(void) { return (double)received; }
double lb_lost(void) { return (double)lost; }
int lb_close(void) { perf_buffer__free(pb); pb = 0; return 0; }
`;

/**
 * Compiles C `source` into `<buildDir>/<name>/lib<name>.so` with gcc, linked with `libs`.
 * Returns the library's path, or gcc's error output.
 */
function buildSharedLib(name, source, libs) {
  const dir = join(buildDir, name);
  mkdirSync(dir, { recursive: true });
  const src = join(dir, `${name}.c`);
  const lib = join(dir, `lib${name}.so`);
  writeFileSync(src, source);
  const r = spawnSync('gcc', ['-O2', '-shared', '-fPIC', '-w', '-o', lib, src, ...libs], { encoding: 'utf8' });
  return r.status === 0 ? { lib } : { error: (r.stderr || r.error?.message || '').trim() };
}

/** Builds LBREAD_C (needs libbpf-dev); undefined, with a note, when it cannot. */
function buildLibbpfReader() {
  const { lib, error } = buildSharedLib('ebpf-ts-lbread', LBREAD_C, ['-lbpf']);
  if (error !== undefined) log(`note: the libbpf reader contestant does not build, skipped: ${error.split('\n').pop()}`);
  return lib;
}

function buildGenerator() {
  const { lib, error } = buildSharedLib('ebpf-ts-gen', GEN_C, ['-lpthread']);
  if (error !== undefined) {
    log(`error: cannot build the generator: ${error}`);
    process.exit(1);
  }
  return lib;
}

// ------------------------------------------------------------------------------ child

async function child(secs) {
  const dist = process.env.BENCH_DIST;
  const wm = Number(process.env.PERF_WATERMARK ?? 0);
  const api = process.env.PERF_API ?? 'readMany';
  const warmupS = Number(process.env.PERF_WARMUP_S ?? 1);
  const ringPages = Number(process.env.PERF_PAGES ?? 64);
  // A module tree (tsc output) is imported module by module; the bundled dist/ (scripts/build.mjs)
  // only through its index, which exports the same names (asm and Helper as the asm namespace).
  const index = existsSync(join(dist, 'map.js')) ? undefined : await import(pathToFileURL(join(dist, 'index.js')).href);
  const imp = (p) => (index === undefined ? import(pathToFileURL(join(dist, p)).href) : Promise.resolve(p.startsWith('asm/') ? index.asm : index));
  const asm = await imp('asm/index.js');
  const { Helper } = await imp('asm/helper.js');
  const { BpfMap } = await imp('map.js');
  const { Program } = await imp('prog.js');
  const { MapType, ProgramType } = await imp('types.js');
  const { PerfReader } = await imp('perf/reader.js');
  const { attachTracepoint } = await imp('link/tracepoint.js');
  const { onlineCPUs } = await imp('sys/cpus.js');

  const ffi = createRequire(import.meta.url)('ffi-rs');
  ffi.open({ library: 'ebpf_ts_bench_gen', path: process.env.BENCH_GEN });
  const call = (funcName, retType, paramsType = [], paramsValue = []) =>
    ffi.load({ library: 'ebpf_ts_bench_gen', funcName, retType, paramsType, paramsValue });

  const R = asm.Register;
  // PERF_PEER_PROG: the peer's compiled object, loaded with our loader, instead.
  const coll = process.env.PERF_PEER_PROG !== '1' ? undefined : await (await imp('collection.js')).loadCollection(peerObj, { constants: { target_tgid: process.pid } });
  const events = coll?.maps.events ?? BpfMap.create({ name: 'events', type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: 0 });
  const counters = coll?.maps.counters ?? BpfMap.create({ name: 'counters', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 2 });
  const closeAll = () => {
    if (coll !== undefined) coll.close();
    else {
      prog.close();
      events.close();
      counters.close();
    }
  };
  const bumpErrors = [
    asm.storeImm(asm.Size.W, R.R10, -4, 1),
    asm.loadMapPtr(R.R1, counters.fd),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
    asm.call(Helper.MapLookupElem),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'out'),
    asm.mov64Imm(R.R1, 1),
    asm.atomic(asm.AtomicOp.Add, asm.Size.DW, R.R0, 0, R.R1),
  ];
  // struct event { u64 seq; u64 ts_ns; u32 tgid; u32 cpu; u8 pad[40]; } at fp-72.
  const instructions = asm.assemble([
    asm.mov64Reg(R.R6, R.R1),
    asm.call(Helper.GetCurrentPidTgid),
    asm.alu64Imm(asm.ALUOp.RSh, R.R0, 32),
    asm.mov64Reg(R.R7, R.R0),
    asm.jumpImm(asm.JumpOp.JNE, R.R7, process.pid, 'out'),
    asm.storeImm(asm.Size.W, R.R10, -4, 0),
    asm.loadMapPtr(R.R1, counters.fd),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
    asm.call(Helper.MapLookupElem),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'out'),
    asm.mov64Imm(R.R1, 1),
    asm.atomic(asm.AtomicOp.Add | asm.AtomicOp.Fetch, asm.Size.DW, R.R0, 0, R.R1),
    asm.storeMem(asm.Size.DW, R.R10, -72, R.R1),
    asm.call(Helper.KtimeGetNs),
    asm.storeMem(asm.Size.DW, R.R10, -64, R.R0),
    asm.storeMem(asm.Size.W, R.R10, -56, R.R7),
    asm.call(Helper.GetSmpProcessorId),
    asm.storeMem(asm.Size.W, R.R10, -52, R.R0),
    ...[-48, -40, -32, -24, -16].map((off) => asm.storeImm(asm.Size.DW, R.R10, off, 0)),
    asm.mov64Reg(R.R1, R.R6),
    asm.loadMapPtr(R.R2, events.fd),
    asm.mov32Imm(R.R3, -1), // BPF_F_CURRENT_CPU
    asm.mov64Reg(R.R4, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R4, -72),
    asm.mov64Imm(R.R5, 64),
    asm.call(Helper.PerfEventOutput),
    asm.jumpImm(asm.JumpOp.JSGE, R.R0, 0, 'out'),
    ...bumpErrors,
    asm.mov64Imm(R.R0, 0).withSymbol('out'),
    asm.exit(),
  ]);
  const prog = coll?.programs.on_getppid ?? Program.load({ name: 'on_getppid', type: ProgramType.Tracepoint, license: 'GPL', instructions });
  const link = attachTracepoint(prog, 'syscalls', 'sys_enter_getppid');
  const key = (k) => new Uint8Array(new Uint32Array([k]).buffer);
  const u64 = (k) => Number(new DataView(counters.lookup(key(k)).buffer).getBigUint64(0, true));
  if (api === 'libbpf') {
    // The diagnostic contestant (see the header): libbpf's reader on our map, program and
    // generator, the JavaScript thread blocked in its poll loop. No warm-up (it is C).
    ffi.open({ library: 'lbread', path: process.env.BENCH_LBREAD });
    const lb = (funcName, retType, paramsType = [], paramsValue = []) => ffi.load({ library: 'lbread', funcName, retType, paramsType, paramsValue });
    if (lb('lb_open', ffi.DataType.I32, [ffi.DataType.I32, ffi.DataType.I32, ffi.DataType.I32], [events.fd, wm, ringPages]) !== 0) throw new Error('perf_buffer__new_raw failed');
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    call('gen_start', ffi.DataType.I32);
    lb('lb_poll_ms', ffi.DataType.I32, [ffi.DataType.I32], [secs * 1000]);
    const generated = call('gen_stop', ffi.DataType.Double);
    const tGen = Number(process.hrtime.bigint() - t0) / 1e9;
    lb('lb_poll_ms', ffi.DataType.I32, [ffi.DataType.I32], [200]);
    lb('lb_consume', ffi.DataType.I32);
    const cpu1 = process.cpuUsage(cpu0);
    // As for ours: one sample per CPU brings out the losses the kernel still holds.
    for (const cpu of onlineCPUs()) call('gen_once_on', ffi.DataType.I32, [ffi.DataType.I32], [cpu]);
    lb('lb_consume', ffi.DataType.I32);
    const received = lb('lb_received', ffi.DataType.Double);
    const lost = lb('lb_lost', ffi.DataType.Double);
    lb('lb_close', ffi.DataType.I32);
    report({ wm, warmupS: 0, tGen, generated, fired: u64(0), received, lost, outErr: u64(1), cpu: cpu1, readerSleeps: 0 });
    link.close();
    closeAll();
    return;
  }
  const reader = new PerfReader(events, { perCpuBufferBytes: ringPages * 4096, ...(wm > 0 ? { watermark: wm } : {}) });

  let received = 0;
  let lost = 0;
  let badSize = 0;
  const count = (batch) => {
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i];
      if (r.lostSamples > 0) {
        lost += r.lostSamples;
        noteLost(r.lostSamples);
      } else {
        received++;
        if (r.rawSample.length < 64) badSize++;
      }
    }
  };
  // The fast path's callbacks do the same per record.
  const onSample = (_cpu, _bytes, _offset, length) => {
    received++;
    if (length < 64) badSize++;
  };
  // PERF_SLICES_MS (diagnostic): losses per time slice of the timed run, by when their LOST
  // record was read (the kernel reports a loss in front of the next sample that fits, so this
  // is when the reader caught up after it), printed to stderr.
  const sliceMs = Number(process.env.PERF_SLICES_MS ?? 0);
  const slices = [];
  let tSlice0 = 0n;
  let tStart = 0;
  const noteLost = (n) => {
    if (sliceMs > 0 && tSlice0 !== 0n) {
      const i = Math.floor(Number(process.hrtime.bigint() - tSlice0) / 1e6 / sliceMs);
      slices[i] = (slices[i] ?? 0) + n;
    }
  };
  const onLost = (_cpu, n) => {
    lost += n;
    noteLost(n);
  };
  // PERF_START_TRACE (diagnostic): received and lost per ms over the first 40 ms, on stderr.
  const startTrace = process.env.PERF_START_TRACE === '1' ? { rec: new Array(40).fill(0), lost: new Array(40).fill(0) } : undefined;
  const traceSample = (_cpu, _bytes, _offset, length) => {
    received++;
    if (length < 64) badSize++;
    if (tStart > 0) {
      const i = Math.floor(performance.now() - tStart);
      if (i < 40) startTrace.rec[i]++;
    }
  };
  const traceLost = (_cpu, n) => {
    onLost(_cpu, n);
    const i = Math.floor(performance.now() - tStart);
    if (i < 40) startTrace.lost[i] += n;
  };
  const drainAll = () => {
    // consume() is allowed while forEachRecord() or batches() runs.
    if (api === 'forEach' || api === 'batches') reader.consume(onSample, onLost);
    else for (let b = reader.readAvailable(); b.length > 0; b = reader.readAvailable()) count(b);
  };

  const readLoop = async () => {
    for (;;) {
      let batch;
      try {
        batch = await reader.readMany();
      } catch (err) {
        if (err?.name !== 'ClosedError') process.stderr.write(`readMany failed: ${err?.stack ?? err}\n`);
        return;
      }
      count(batch);
    }
  };
  const batchLoop = async () => {
    try {
      for await (const b of reader.batches()) {
        lost += b.lostSamples;
        if (b.lostSamples > 0) noteLost(b.lostSamples);
        const n = b.count;
        received += n;
        for (let i = 0; i < n; i++) if (b.length(i) < 64) badSize++;
      }
    } catch (err) {
      process.stderr.write(`batches ended: ${err?.stack ?? err}\n`);
    }
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // Flush losses still held by the kernel (see the header comment), then drain again.
  const flushLosses = () => {
    for (const cpu of onlineCPUs()) call('gen_once_on', ffi.DataType.I32, [ffi.DataType.I32], [cpu]);
    drainAll();
  };
  const loop =
    api === 'forEach'
      ? startTrace !== undefined
        ? reader.forEachRecord(traceSample, { onLost: traceLost })
        : reader.forEachRecord(onSample, { onLost }).catch((err) => process.stderr.write(`forEachRecord ended: ${err?.stack ?? err}\n`))
      : api === 'batches'
        ? batchLoop()
        : readLoop();

  // Warm-up (see the header comment): the same producer and reader, then everything counted
  // so far is drained, its losses flushed out of the kernel, and every counter reset.
  if (warmupS > 0) {
    call('gen_start', ffi.DataType.I32);
    await sleep(warmupS * 1000);
    call('gen_stop', ffi.DataType.Double);
    await sleep(200);
    drainAll();
    flushLosses();
    counters.update(key(0), new Uint8Array(8));
    counters.update(key(1), new Uint8Array(8));
    received = 0;
    lost = 0;
    badSize = 0;
  }

  // PERF_THREADS (diagnostic): CPU time of each thread of this process over the timed run
  // (/proc/self/task/*/stat: utime + stime, in clock ticks), and its involuntary switches.
  const threadTimes = () => {
    const out = new Map();
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const nv = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))?.[1] ?? 0);
        out.set(tid, { comm, ticks: Number(f[11]) + Number(f[12]), nv });
      } catch {
        // The thread ended meanwhile.
      }
    }
    return out;
  };
  const threads0 = process.env.PERF_THREADS === '1' ? threadTimes() : undefined;
  // The main thread's voluntary context switches: how often the reader went to sleep in
  // epoll_wait (a diagnostic of wake-ups; the peers do not report theirs).
  const sleeps = () => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8'))?.[1] ?? NaN);
  const sleeps0 = sleeps();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  tSlice0 = t0;
  if (startTrace !== undefined) tStart = performance.now();
  const allocProfile = process.env.PERF_ALLOC_PROFILE === '1' ? await startAllocProfile() : undefined;
  call('gen_start', ffi.DataType.I32);
  if (startTrace !== undefined) process.stderr.write(`gen_start call took ${(performance.now() - tStart).toFixed(2)} ms\n`);
  let generated = 0;
  let tGen = 0;
  await new Promise((r) => setTimeout(r, secs * 1000));
  generated = call('gen_stop', ffi.DataType.Double);
  tGen = Number(process.hrtime.bigint() - t0) / 1e9;
  if (allocProfile !== undefined) await allocProfile(secs);
  await new Promise((r) => setTimeout(r, 200));
  drainAll();
  const cpu1 = process.cpuUsage(cpu0);
  const readerSleeps = sleeps() - sleeps0;
  if (threads0 !== undefined) {
    const hz = 100; // USER_HZ on Linux
    const rows = [...threadTimes()].map(([tid, t]) => {
      const b = threads0.get(tid);
      return `${t.comm}/${tid}: ${(((t.ticks - (b?.ticks ?? 0)) * 1000) / hz).toFixed(0)} ms, ${t.nv - (b?.nv ?? 0)} preempted`;
    });
    process.stderr.write(`threads over the run: ${rows.join('; ')}\n`);
  }
  flushLosses();
  reader.close();
  await loop;
  const fired = u64(0);
  const outErr = u64(1);
  link.close();
  closeAll();
  if (startTrace !== undefined) process.stderr.write(`first 40 ms from ${tStart.toFixed(1)} ms (mono ${Number(tSlice0 / 1000n)} us) (ms:received/lost): ${startTrace.rec.map((r, i) => `${i}:${r}/${startTrace.lost[i]}`).join(' ')}\n`);
  if (sliceMs > 0) process.stderr.write(`lost per ${sliceMs} ms: ${Array.from(slices, (x, i) => (x ? `${i * sliceMs}:${x}` : '')).filter(Boolean).join(' ')}\n`);
  if (badSize > 0) process.stderr.write(`warning: ${badSize} samples shorter than 64 bytes\n`);
  report({ wm, warmupS, tGen, generated, fired, received, lost, outErr, cpu: cpu1, readerSleeps });
}

/** A child's one result line, which the parent parses (the peers print the same keys). */
function report({ wm, warmupS, tGen, generated, fired, received, lost, outErr, cpu, readerSleeps }) {
  console.log(
    `bench-perf watermark=${wm} warmup_s=${warmupS} seconds=${tGen.toFixed(2)} generated=${generated} fired=${fired} received=${received} lost=${lost} ` +
      `output_err=${outErr} events_per_s=${Math.round(received / tGen)} gen_per_s=${Math.round(generated / tGen)} ` +
      `cpu_user_s=${(cpu.user / 1e6).toFixed(2)} cpu_sys_s=${(cpu.system / 1e6).toFixed(2)} reader_sleeps=${readerSleeps}`,
  );
}

if (process.argv[2] === '--child') await child(Number(process.argv[3] ?? 5));
else if (process.argv[2] === '--peer-in-node') peerInNode(Number(process.argv[3] ?? 5));
else process.exitCode = parent();

/**
 * PERF_ALLOC_PROFILE: starts V8's sampling heap profiler, counting objects the young and old
 * generation collectors freed too (a reader's garbage is what makes its scavenges); returns a
 * function that stops it and prints the sites that allocated most, per second, to stderr.
 */
async function startAllocProfile() {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method, params) => new Promise((res, rej) => session.post(method, params, (err, r) => (err ? rej(err) : res(r))));
  await post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return async (secs) => {
    const { profile } = await post('HeapProfiler.stopSampling');
    session.disconnect();
    const sites = new Map();
    const walk = (node, stack) => {
      const f = node.callFrame;
      const here = [...stack, `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`];
      if (node.selfSize > 0) {
        const site = here.slice(-3).reverse().join(' < ');
        sites.set(site, (sites.get(site) ?? 0) + node.selfSize);
      }
      for (const child of node.children) walk(child, here);
    };
    walk(profile.head, []);
    const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, 12);
    process.stderr.write(`allocated per second of the timed run (sampled):\n${top.map(([site, bytes]) => `  ${(bytes / secs / 1024).toFixed(0)} KiB/s  ${site}`).join('\n')}\n`);
  };
}
