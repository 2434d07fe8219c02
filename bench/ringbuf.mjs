#!/usr/bin/env node
// `npm run bench:ringbuf`: RingBufReader throughput beside libbpf's ring_buffer__poll().
//
// The producer (bench/peers-ringbuf/ringbuf_getppid.bpf.c) runs on tracepoint
// syscalls/sys_enter_getppid, and for every getppid() of the benchmarking process sends one
// 64-byte record with bpf_ringbuf_output(ring, &r, 64, 0) into a BPF_MAP_TYPE_RINGBUF of
// RINGBUF_BYTES (512 KiB: the bytes bench:perf gives its two 256 KiB per-CPU rings), counting
// attempts in counters[0] and failed outputs (ring full) in counters[1]. A generator thread
// calls getppid() in a loop for SECS seconds; then 200 ms of catching up and a final drain.
// Reported: events/s received, failed (the ring buffer's "lost": a full ring makes the
// producer fail, nothing reaches the reader), user/sys CPU of the whole process (generator
// thread included), and whether received + failed == fired exactly; and the reader thread's
// scheduling during the run (/proc/thread-self/schedstat: time on CPU, time runnable but
// waiting for a CPU, number of slices): on a shared machine, a ring fills while its reader waits.
//
// Contestants:
// - libbpf: bench/peers-ringbuf/peer.c (Debian's libbpf 1.1.2), the BPF object compiled with
//   clang into BENCH_BUILD at run time, ring_buffer__poll(rb, 100) + ring_buffer__consume().
// - ebpf-ts <backend> readMany: `for (;;) for (const r of await reader.readMany()) …` (record
//   objects, one promise per batch).
// - ebpf-ts <backend> forEach: `reader.forEachRecord((bytes, offset, length) => …)` (no
//   allocation per record, no promise per batch).
// - ebpf-ts <backend> batches: `for await (const b of reader.batches())` (one reused
//   RecordBatch, records copied into its buffer, one promise per batch).
// Ours hand-assembles the same program with the asm builder (target tgid as an immediate;
// same record, same counters) and runs the same generator loop, compiled into a shared library
// and started through ffi-rs so that it runs in our process like the peer's thread.
//
// Env: CLANG (clang), RINGBUF_SECS (5), BENCH_RUNS (3), RINGBUF_BYTES (524288), BENCH_BACKENDS ("native"),
//      RINGBUF_APIS ("readMany forEach batches"), RINGBUF_WARMUP_S (0: ours run the producer and
//      reader that long first, then reset every counter), BENCH_BUILD (/tmp/bench-build),
//      BENCH_BASELINE_DIST (an older build, e.g. of the previous commit, run as one more
//      contestant in the same rounds), BENCH_DIST (the built library; default: src/ compiled into .tmp-tsc/bench-ringbuf-dist).
// A measurement, not a test: a missed goal is reported, not turned into an exit code.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const buildDir = resolve(process.env.BENCH_BUILD ?? '/tmp/bench-build');
const log = (s) => process.stderr.write(`${s}\n`);

const GEN_C = `
#include <pthread.h>
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
`;

// ------------------------------------------------------------------------------ parent

function parent() {
  const secs = Number(process.env.RINGBUF_SECS ?? 5);
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const bytes = Number(process.env.RINGBUF_BYTES ?? 512 * 1024);
  const backends = (process.env.BENCH_BACKENDS ?? 'native').split(',').map((s) => s.trim()).filter(Boolean);
  const apis = (process.env.RINGBUF_APIS ?? 'readMany forEach batches').split(/\s+/).filter(Boolean);
  if (process.getuid?.() !== 0) log('note: not root: expect EPERM');
  if (!existsSync('/sys/kernel/tracing/events')) {
    log('tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing');
    spawnSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'inherit' });
  }

  const dist = prepareDist();
  const gen = buildC('ebpf-ts-gen-ringbuf', 'gen.c', GEN_C, 'libgen.so', ['-O2', '-shared', '-fPIC'], ['-lpthread']);
  const contestants = [];
  const peer = buildPeer();
  if (peer !== undefined) contestants.push({ id: 'libbpf', kind: 'peer', ...peer });
  for (const b of backends) for (const api of apis) contestants.push({ id: `ebpf-ts ${b} ${api}`, kind: 'ours', backend: b, api });
  // An older build measured in the same rounds (before/after comparisons on a shared machine).
  if (process.env.BENCH_BASELINE_DIST) {
    for (const b of backends) contestants.push({ id: `ebpf-ts ${b} readMany @baseline`, kind: 'ours', backend: b, api: 'readMany', dist: resolve(process.env.BENCH_BASELINE_DIST) });
  }

  const rows = new Map(); // id -> [values]
  const loads = [];
  log(`bench-ringbuf: 64-byte records, ${bytes}-byte ring, ${secs}s per run, ${runs} rounds, ${cpus().length} CPUs`);
  for (let round = 0; round < runs; round++) {
    const order = contestants.map((_, i) => contestants[(i + round) % contestants.length]);
    for (const c of order) {
      loads.push(loadavg()[0]);
      const env = { ...process.env, RINGBUF_BYTES: String(bytes) };
      const r =
        c.kind === 'peer'
          ? spawnSync(c.binary, [c.object, String(secs)], { env, encoding: 'utf8', timeout: (secs + 30) * 1000 })
          : spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', String(secs)], {
              env: { ...env, EBPF_TS_BACKEND: c.backend, BENCH_DIST: c.dist ?? dist, BENCH_GEN: gen, RINGBUF_API: c.api },
              encoding: 'utf8',
              timeout: (secs + 30) * 1000,
            });
      const line = (r.stdout || '').split('\n').find((l) => l.startsWith('bench-ringbuf'));
      if (r.status !== 0 || line === undefined) {
        log(`  ${c.id}: failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`);
        continue;
      }
      const v = Object.fromEntries(
        line
          .split(/\s+/)
          .slice(1)
          .map((kv) => kv.split('='))
          .map(([k, x]) => [k, Number(x)]),
      );
      v.unaccounted = v.fired - v.received - v.failed;
      log(`  round ${round + 1} ${c.id}: ${Math.round(v.events_per_s)} ev/s, failed ${v.failed} (first 0.5 s: ${v.failed_first_500ms ?? '?'}), unaccounted ${v.unaccounted}, user ${v.cpu_user_s}s`);
      if (!rows.has(c.id)) rows.set(c.id, []);
      rows.get(c.id).push(v);
    }
  }

  const med = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const out = [];
  out.push(`## bench-ringbuf: medians of ${runs} rounds, ${secs}s each, ${bytes}-byte ring (kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}, ${cpus().length} CPUs, 1-min load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)})`);
  out.push('');
  out.push('| contestant | events/s | × libbpf | failed (lost) | unaccounted | received+failed==fired | user CPU s | sys CPU s | reader on CPU ms | reader runnable-waiting ms | reader slices | runs |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const base = rows.get('libbpf');
  const baseEps = base ? med(base.map((v) => v.events_per_s)) : NaN;
  const summary = {};
  for (const c of contestants) {
    const vs = rows.get(c.id);
    if (!vs) {
      out.push(`| ${c.id} | failed | | | | | | | 0 |`);
      continue;
    }
    const eps = med(vs.map((v) => v.events_per_s));
    const exact = vs.filter((v) => v.unaccounted === 0).length;
    out.push(
      `| ${c.id} | ${Math.round(eps)} | ${Number.isFinite(baseEps) ? (eps / baseEps).toFixed(2) : '-'} | ${med(vs.map((v) => v.failed))} | ${med(vs.map((v) => v.unaccounted))} | ${exact}/${vs.length} | ${med(vs.map((v) => v.cpu_user_s)).toFixed(2)} | ${med(vs.map((v) => v.cpu_sys_s)).toFixed(2)} | ${med(vs.map((v) => v.reader_run_ms))} | ${med(vs.map((v) => v.reader_wait_ms))} | ${med(vs.map((v) => v.reader_slices))} | ${vs.length} |`,
    );
    summary[c.id] = vs;
  }
  out.push('');
  out.push('Goal (issue 5): ebpf-ts events/s >= 1.0x libbpf with no more failed outputs, and received + failed == fired exactly.');
  console.log(out.join('\n'));
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'ringbuf-latest.json'), JSON.stringify({ date: new Date().toISOString(), secs, runs, bytes, summary }, null, 1));
  return 0;
}

function prepareDist() {
  if (process.env.BENCH_DIST) return resolve(process.env.BENCH_DIST);
  // Inside the repository (an ignored folder) so that ffi-rs and the addon resolve as they do
  // for dist/.
  const out = join(repo, '.tmp-tsc', 'bench-ringbuf-dist');
  const r = spawnSync(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', join(repo, 'tsconfig.build.json'), '--outDir', out, '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false'], {
    encoding: 'utf8',
  });
  if (!existsSync(join(out, 'ringbuf', 'reader.js'))) {
    log(`error: compiling src/ into ${out} failed:\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  return out;
}

function buildC(dirName, srcName, text, outName, flags, libs) {
  const dir = join(buildDir, dirName);
  mkdirSync(dir, { recursive: true });
  const src = join(dir, srcName);
  const out = join(dir, outName);
  writeFileSync(src, text);
  const r = spawnSync('gcc', [...flags, '-o', out, src, ...libs], { encoding: 'utf8' });
  if (r.status !== 0) {
    log(`error: cannot build ${srcName}: ${r.stderr}`);
    process.exit(1);
  }
  return out;
}

/** Compiles the libbpf peer and its BPF object into BENCH_BUILD (never into the repository). */
function buildPeer() {
  const dir = join(buildDir, 'peer-ringbuf');
  mkdirSync(dir, { recursive: true });
  const object = join(dir, 'ringbuf_getppid.bpf.o');
  const binary = join(dir, 'peer');
  const machine = spawnSync('gcc', ['-dumpmachine'], { encoding: 'utf8' }).stdout.trim();
  const bpf = spawnSync(process.env.CLANG ?? 'clang', ['-target', 'bpf', '-O2', '-g', `-I/usr/include/${machine}`, '-c', join(here, 'peers-ringbuf', 'ringbuf_getppid.bpf.c'), '-o', object], { encoding: 'utf8' });
  const libs = (spawnSync('pkg-config', ['--libs', 'libbpf'], { encoding: 'utf8' }).stdout || '-lbpf -lelf -lz').trim().split(/\s+/);
  const cc = bpf.status === 0 ? spawnSync('gcc', ['-O2', '-g', '-Wall', '-Wextra', '-o', binary, join(here, 'peers-ringbuf', 'peer.c'), ...libs, '-lpthread'], { encoding: 'utf8' }) : bpf;
  if (cc.status !== 0) {
    const why = (cc.stderr || cc.error?.message || '').trim().split('\n').pop();
    // A peer built by an earlier run (with the toolchain of then) still measures the same thing.
    if (existsSync(binary) && existsSync(object)) {
      log(`note: libbpf peer does not rebuild (${why}); using the existing ${binary}`);
      return { binary, object };
    }
    log(`note: libbpf peer does not build, skipped: ${why}`);
    return undefined;
  }
  return { binary, object };
}

// ------------------------------------------------------------------------------ child

async function child(secs) {
  const dist = process.env.BENCH_DIST;
  const api = process.env.RINGBUF_API ?? 'readMany';
  const warmupS = Number(process.env.RINGBUF_WARMUP_S ?? 0);
  const bytes = Number(process.env.RINGBUF_BYTES ?? 512 * 1024);
  // A module tree (tsc output) is imported module by module; the bundled dist/ (scripts/build.mjs)
  // only through its index, which exports the same names (asm and Helper as the asm namespace).
  const index = existsSync(join(dist, 'map.js')) ? undefined : await import(pathToFileURL(join(dist, 'index.js')).href);
  const imp = (p) => (index === undefined ? import(pathToFileURL(join(dist, p)).href) : Promise.resolve(p.startsWith('asm/') ? index.asm : index));
  const asm = await imp('asm/index.js');
  const { Helper } = await imp('asm/helper.js');
  const { BpfMap } = await imp('map.js');
  const { Program } = await imp('prog.js');
  const { MapType, ProgramType } = await imp('types.js');
  const { RingBufReader } = await imp('ringbuf/reader.js');
  const { attachTracepoint } = await imp('link/tracepoint.js');

  const ffi = createRequire(import.meta.url)('ffi-rs');
  ffi.open({ library: 'ebpf_ts_bench_gen', path: process.env.BENCH_GEN });
  const call = (funcName, retType) => ffi.load({ library: 'ebpf_ts_bench_gen', funcName, retType, paramsType: [], paramsValue: [] });

  const R = asm.Register;
  const ring = BpfMap.create({ name: 'ring', type: MapType.RingBuf, keySize: 0, valueSize: 0, maxEntries: bytes });
  const counters = BpfMap.create({ name: 'counters', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 2 });
  // struct record { u64 seq; u64 ts_ns; u32 tgid; u32 cpu; u8 pad[40]; } at fp-72.
  const instructions = asm.assemble([
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
    asm.loadMapPtr(R.R1, ring.fd),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -72),
    asm.mov64Imm(R.R3, 64),
    asm.mov64Imm(R.R4, 0),
    asm.call(Helper.RingbufOutput),
    asm.jumpImm(asm.JumpOp.JSGE, R.R0, 0, 'out'),
    asm.storeImm(asm.Size.W, R.R10, -4, 1),
    asm.loadMapPtr(R.R1, counters.fd),
    asm.mov64Reg(R.R2, R.R10),
    asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
    asm.call(Helper.MapLookupElem),
    asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'out'),
    asm.mov64Imm(R.R1, 1),
    asm.atomic(asm.AtomicOp.Add, asm.Size.DW, R.R0, 0, R.R1),
    asm.mov64Imm(R.R0, 0).withSymbol('out'),
    asm.exit(),
  ]);
  const prog = Program.load({ name: 'on_getppid', type: ProgramType.Tracepoint, license: 'GPL', instructions });
  const link = attachTracepoint(prog, 'syscalls', 'sys_enter_getppid');
  const reader = new RingBufReader(ring);

  let received = 0;
  let short = 0;
  // What each contestant does per record: count it and look at its length.
  const onRecord = (_bytes, _offset, length) => {
    received++;
    if (length < 64) short++;
  };
  const count = (batch) => {
    for (let i = 0; i < batch.length; i++) {
      received++;
      if (batch[i].rawSample.length < 64) short++;
    }
  };
  const drainAll = () => {
    if (api === 'forEach' || api === 'batches') reader.consume(onRecord);
    else for (let b = reader.readAvailable(); b.length > 0; b = reader.readAvailable()) count(b);
  };

  // The reader thread's scheduling, as the peer reports it (see peer.c's schedstat()).
  const schedstat = () => readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/).map(Number);
  let loop;
  if (api === 'forEach') {
    if (typeof reader.forEachRecord !== 'function') throw new Error('this build of RingBufReader has no forEachRecord');
    loop = reader.forEachRecord(onRecord).catch(() => {});
  } else if (api === 'batches') {
    if (typeof reader.batches !== 'function') throw new Error('this build of RingBufReader has no batches');
    loop = (async () => {
      try {
        for await (const b of reader.batches()) {
          const n = b.count;
          received += n;
          for (let i = 0; i < n; i++) if (b.length(i) < 64) short++;
        }
      } catch {
        // ended by close
      }
    })();
  } else {
    loop = (async () => {
      for (;;) {
        let batch;
        try {
          batch = await reader.readMany();
        } catch {
          return;
        }
        count(batch);
      }
    })();
  }
  const u64 = (k) => new DataView(counters.lookup(new Uint8Array(new Uint32Array([k]).buffer)).buffer).getBigUint64(0, true);
  // Warm-up (RINGBUF_WARMUP_S, default 0 as in bench:all: the figures are without it):
  // the same producer and reader that long, everything drained, every counter reset. With it,
  // the figures leave out V8 compiling the read path while the producer already runs.
  if (warmupS > 0) {
    call('gen_start', ffi.DataType.I32);
    await new Promise((r) => setTimeout(r, warmupS * 1000));
    call('gen_stop', ffi.DataType.Double);
    await new Promise((r) => setTimeout(r, 200));
    drainAll();
    counters.update(new Uint8Array(4), new Uint8Array(8));
    counters.update(new Uint8Array([1, 0, 0, 0]), new Uint8Array(8));
    received = 0;
    short = 0;
  }
  const cpu0 = process.cpuUsage();
  const ss0 = schedstat();
  const t0 = process.hrtime.bigint();
  call('gen_start', ffi.DataType.I32);
  // Producer failures in the first half second (start-up: compiling, first wake-ups) apart.
  let failedEarly = NaN;
  setTimeout(() => (failedEarly = Number(u64(1))), 500);
  await new Promise((r) => setTimeout(r, secs * 1000));
  const ss1 = schedstat();
  const generated = call('gen_stop', ffi.DataType.Double);
  const tGen = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise((r) => setTimeout(r, 200));
  drainAll();
  const cpu1 = process.cpuUsage(cpu0);
  reader.close();
  await loop;
  const fired = Number(u64(0));
  const failed = Number(u64(1));
  link.close();
  prog.close();
  ring.close();
  counters.close();
  console.log(
    `bench-ringbuf api=${['readMany', 'forEach', 'batches'].indexOf(api)} seconds=${tGen.toFixed(2)} generated=${generated} fired=${fired} received=${received} failed=${failed} failed_first_500ms=${failedEarly} short=${short} ` +
      `events_per_s=${Math.round(received / tGen)} cpu_user_s=${(cpu1.user / 1e6).toFixed(2)} cpu_sys_s=${(cpu1.system / 1e6).toFixed(2)} ` +
      `reader_run_ms=${Math.round((ss1[0] - ss0[0]) / 1e6)} reader_wait_ms=${Math.round((ss1[1] - ss0[1]) / 1e6)} reader_slices=${ss1[2] - ss0[2]}`,
  );
}

if (process.argv[2] === '--child') await child(Number(process.argv[3] ?? 5));
else process.exitCode = parent();
