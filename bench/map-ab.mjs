#!/usr/bin/env node
// Before/after of the map element paths, each build against the floor measured beside it: the
// peers' loop (bpf() per key from C, compiled with gcc at run time and called once per round
// through ffi-rs) on the same map, in the same process, in the same rounds. bench/run.mjs runs
// each contestant in its own process seconds apart, and on a loaded 2-CPU machine its spread is
// larger than the tens of ns at stake here; the ratio to the C loop cancels what the machine
// does meanwhile.
//
// One build per child process, AB_PROCS processes per build, alternating (before, after,
// before, …). Two builds in one process were tried first: the build whose map was created
// first ran ~50 ns/key faster, whichever build it was (two copies of one build differed as much)
// — where a map's memory lands in the kernel shows through — so each process now has one map,
// used by both its build and the C loop. In a child, every loop runs once per round, AB_ROUNDS
// rounds; its figure is the minimum over rounds after the first five (V8 warm-up); the table
// gives the median over processes, and the median of the per-process ratios to the C loop.
//
//   node bench/map-ab.mjs BEFORE_PKG [AFTER_PKG]   (as root; AFTER_PKG defaults to this checkout)
//
// A package directory holds package.json (name ebpf-ts), dist/ and its addon under build/ or
// prebuilds/ (bench/README.md says how the "before" one was made). Env: AB_N (2048 keys),
// AB_ROUNDS (80), AB_PROCS (6), BENCH_BUILD (/tmp/bench-build). Needs gcc.
//
// Rows: update, lookupInto, lookup (a copy), updateMany/lookupMany (all keys in one call), and
// the after build's bare prepared calls (Backend.prepare, and Backend.prepareCmd where the build
// has it, over a fixed attr from a JS loop: the addon's cost without BpfMap's checks).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const n = Number(process.env.AB_N ?? 2048);
const rounds = Number(process.env.AB_ROUNDS ?? 80);
const procs = Number(process.env.AB_PROCS ?? 6);
const build = join(resolve(process.env.BENCH_BUILD ?? '/tmp/bench-build'), 'ebpf-ts-map-floor');
const floorLib = join(build, 'libfloor.so');

const FLOOR_C = `
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
/* n element ops on keys 0..n-1 (values i*3), as peer-libbpf's bench-map does them. */
void floor_loop(int cmd, int fd, int n) {
  uint32_t key;
  uint64_t val;
  union bpf_attr a;
  for (int i = 0; i < n; i++) {
    key = i;
    val = (uint64_t)i * 3;
    memset(&a, 0, 32);
    a.map_fd = fd;
    a.key = (uint64_t)(uintptr_t)&key;
    a.value = (uint64_t)(uintptr_t)&val;
    syscall(__NR_bpf, cmd, &a, 32);
  }
}
`;

// ------------------------------------------------------------------------------ child

/** One build, one map: the build's loops and the C loops on that map; prints `map-ab {json}`. */
async function child(dir, bare) {
  const ffi = createRequire(join(here, 'package.json'))('ffi-rs');
  ffi.open({ library: 'ebpf_ts_map_floor', path: floorLib });
  const lib = await import(join(dir, 'dist', 'index.js'));
  const map = lib.BpfMap.create({ type: lib.MapType.Hash, keySize: 4, valueSize: 8, maxEntries: n });
  const fd = map.fd;
  const cLoop = (cmd) => ffi.load({ library: 'ebpf_ts_map_floor', funcName: 'floor_loop', retType: ffi.DataType.Void, paramsType: [ffi.DataType.I32, ffi.DataType.I32, ffi.DataType.I32], paramsValue: [cmd, fd, n] });
  const key = new Uint8Array(4);
  const kv = new DataView(key.buffer);
  const value = new Uint8Array(8);
  const out = new Uint8Array(8);
  const keys = Array.from({ length: n }, (_, i) => new Uint8Array(new Uint32Array([i]).buffer));
  const values = keys.map(() => value);
  const loops = {
    'C update': () => cLoop(2),
    'C lookup': () => cLoop(1),
    update: () => {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        map.update(key, value);
      }
    },
    lookupInto: () => {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        if (!map.lookupInto(key, out)) throw new Error(`key ${i} missing`);
      }
    },
    lookup: () => {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        if (map.lookup(key) === undefined) throw new Error(`key ${i} missing`);
      }
    },
  };
  if (typeof map.lookupMany === 'function') {
    loops.updateMany = () => map.updateMany(keys, values);
    loops.lookupMany = () => map.lookupMany(keys);
  }
  if (bare) {
    // An attr over buffers this closure keeps alive (the kernel writes the value into them).
    const bk = new Uint8Array(4);
    const bkv = new DataView(bk.buffer);
    const bv = new Uint8Array(8);
    const attr = new Uint8Array(32);
    new DataView(attr.buffer).setUint32(0, fd, true);
    const call = lib.backend().prepare(attr, [8, bk, 16, bv]);
    loops['update (bare prepared call)'] = () => {
      for (let i = 0; i < n; i++) {
        bkv.setUint32(0, i, true);
        if (call(2) !== 0) throw new Error(`bare update ${i} failed`);
      }
    };
    loops['lookupInto (bare prepared call)'] = () => {
      for (let i = 0; i < n; i++) {
        bkv.setUint32(0, i, true);
        if (call(1) !== 0 || bv.length !== 8) throw new Error(`bare lookup ${i} failed`);
      }
    };
    // The same through Backend.prepareCmd (ABI 6): the command fixed, no argument, undefined for 0.
    if (typeof lib.backend().prepareCmd === 'function') {
      const ua = new Uint8Array(32);
      new DataView(ua.buffer).setUint32(0, fd, true);
      const la = new Uint8Array(32);
      new DataView(la.buffer).setUint32(0, fd, true);
      const up = lib.backend().prepareCmd(2, ua, [8, bk, 16, bv]);
      const lk = lib.backend().prepareCmd(1, la, [8, bk, 16, bv]);
      loops['update (bare prepareCmd call)'] = () => {
        for (let i = 0; i < n; i++) {
          bkv.setUint32(0, i, true);
          if (up() !== undefined) throw new Error(`bare update ${i} failed`);
        }
      };
      loops['lookupInto (bare prepareCmd call)'] = () => {
        for (let i = 0; i < n; i++) {
          bkv.setUint32(0, i, true);
          if (lk() !== undefined) throw new Error(`bare lookup ${i} failed`);
        }
      };
    }
  }
  loops.update();
  const best = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, f] of Object.entries(loops)) {
      const t0 = process.hrtime.bigint();
      f();
      const ns = Number(process.hrtime.bigint() - t0) / n;
      if (r >= 5) best[name] = Math.min(best[name] ?? Infinity, ns);
    }
  }
  map.close();
  console.log(`map-ab ${JSON.stringify({ kind: lib.backend().kind, best })}`);
}

// ------------------------------------------------------------------------------ parent

function parent(beforeDir, afterDir) {
  mkdirSync(build, { recursive: true });
  writeFileSync(join(build, 'floor.c'), FLOOR_C);
  const cc = spawnSync('gcc', ['-O2', '-shared', '-fPIC', '-o', floorLib, join(build, 'floor.c')], { encoding: 'utf8' });
  if (cc.status !== 0) {
    console.error(`map-ab needs gcc: ${(cc.stderr || cc.error?.message || '').trim().split('\n')[0]}`);
    return 1;
  }
  const builds = [
    ['before', beforeDir],
    ['after', afterDir],
  ];
  for (const [, dir] of builds) if (!existsSync(join(dir, 'dist', 'index.js'))) throw new Error(`${join(dir, 'dist', 'index.js')} not found`);
  const runs = { before: [], after: [] };
  const load0 = loadavg()[0];
  for (let p = 0; p < procs; p++) {
    for (const [label, dir] of p % 2 === 0 ? builds : [...builds].reverse()) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', dir, label === 'after' ? 'bare' : ''], { encoding: 'utf8', timeout: 600_000 });
      const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('map-ab '));
      if (r.status !== 0 || line === undefined) {
        console.error(`${label}: child failed: ${(r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' | ')}`);
        return 1;
      }
      runs[label].push(JSON.parse(line.slice('map-ab '.length)));
    }
  }
  const med = (xs) => {
    const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    return s.length === 0 ? undefined : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const floorOf = (name) => (name.startsWith('update') ? 'C update' : 'C lookup');
  const f = (v) => (v === undefined ? '–' : v.toFixed(0));
  const q = (v) => (v === undefined ? '–' : v.toFixed(3));
  const stat = (label, name) => ({
    ns: med(runs[label].map((x) => x.best[name])),
    ratio: med(runs[label].map((x) => x.best[name] / x.best[floorOf(name)])),
  });
  console.log(
    `map-ab: hash u32→u64, ${n} keys; ${procs} processes per build, alternating; per process the minimum over ${rounds - 5} rounds; ` +
      `medians over processes; backend ${runs.after[0].kind}; load average ${load0.toFixed(2)} → ${loadavg()[0].toFixed(2)}`,
  );
  console.log('| loop, ns/key | before | after | after/before | before ÷ C loop | after ÷ C loop | C loop (after\'s processes) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const name of ['update', 'lookupInto', 'lookup', 'updateMany', 'lookupMany', 'update (bare prepared call)', 'lookupInto (bare prepared call)', 'update (bare prepareCmd call)', 'lookupInto (bare prepareCmd call)']) {
    const b = stat('before', name);
    const a = stat('after', name);
    if (a.ns === undefined && b.ns === undefined) continue;
    const c = med(runs.after.map((x) => x.best[floorOf(name)]));
    const ab = a.ns !== undefined && b.ns !== undefined ? (a.ns / b.ns).toFixed(2) : '–';
    console.log(`| ${name} | ${f(b.ns)} | ${f(a.ns)} | ${ab} | ${q(b.ratio)} | ${q(a.ratio)} | ${f(c)} |`);
  }
  return 0;
}

if (process.argv[2] === '--child') await child(resolve(process.argv[3]), process.argv[4] === 'bare');
else {
  const [beforeDir, afterDir = here] = process.argv.slice(2).map((p) => resolve(p));
  if (beforeDir === undefined) {
    console.error('usage: node bench/map-ab.mjs BEFORE_PKG [AFTER_PKG]');
    process.exit(2);
  }
  process.exitCode = parent(beforeDir, afterDir);
}
