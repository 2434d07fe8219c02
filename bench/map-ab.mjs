#!/usr/bin/env node
// Before/after of the map element paths in ONE process, interleaved round by round, so that
// noise on a shared machine falls on both alike (bench/run.mjs runs each contestant in its own
// process, seconds apart, and on a loaded 2-CPU machine its spread is larger than the tens of
// ns at stake here). Each build is imported from its own package directory (its dist/ and its
// own addon), a hash map u32 → u64 of N entries is filled through each, and every loop below
// runs once per round for each build; the figure is the minimum over rounds (the run least
// disturbed), in ns per key.
//
//   node bench/map-ab.mjs BEFORE_PKG [AFTER_PKG]   (as root; AFTER_PKG defaults to this checkout)
//
// A package directory holds package.json (name ebpf-ts), dist/ and its addon under build/ or
// prebuilds/ (bench/README.md says how the "before" one was made). Env: AB_N (4096), AB_ROUNDS (40),
// BENCH_BUILD (/tmp/bench-build).
//
// Two more rows give the floor in the same rounds: "C loop" — the peers' loop, bpf() per key from
// C (gcc at run time, called once per round through ffi-rs) in this process — and "bare
// prepared call": the addon's prepared call over a fixed attr from a JS loop (the after build's
// Backend.prepare), i.e. BpfMap's checks left out. Skipped without gcc.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const [beforeDir, afterDir = here] = process.argv.slice(2).map((p) => resolve(p));
if (beforeDir === undefined) {
  console.error('usage: node bench/map-ab.mjs BEFORE_PKG [AFTER_PKG]');
  process.exit(2);
}
const n = Number(process.env.AB_N ?? 4096);
const rounds = Number(process.env.AB_ROUNDS ?? 40);

async function contestant(label, dir) {
  const entry = join(dir, 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} not found`);
  const lib = await import(entry);
  const map = lib.BpfMap.create({ type: lib.MapType.Hash, keySize: 4, valueSize: 8, maxEntries: n });
  const key = new Uint8Array(4);
  const kv = new DataView(key.buffer);
  const value = new Uint8Array(8);
  const out = new Uint8Array(8);
  const keys = Array.from({ length: n }, (_, i) => new Uint8Array(new Uint32Array([i]).buffer));
  const values = keys.map(() => value);
  const loops = {
    update: () => {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        map.update(key, value);
      }
    },
    lookupInto: () => {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        if (!map.lookupInto(key, out)) throw new Error(`${label}: key ${i} missing`);
      }
    },
    lookup: () => {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        if (map.lookup(key) === undefined) throw new Error(`${label}: key ${i} missing`);
      }
    },
  };
  if (typeof map.lookupMany === 'function') {
    loops.updateMany = () => map.updateMany(keys, values);
    loops.lookupMany = () => map.lookupMany(keys);
  }
  loops.update();
  return { label, kind: lib.backend().kind, loops, close: () => map.close() };
}

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

/** The floor rows (see the header), on the after build's map and backend; undefined without gcc. */
async function floor(dir) {
  const build = join(resolve(process.env.BENCH_BUILD ?? '/tmp/bench-build'), 'ebpf-ts-map-floor');
  mkdirSync(build, { recursive: true });
  writeFileSync(join(build, 'floor.c'), FLOOR_C);
  const lib = join(build, 'libfloor.so');
  const r = spawnSync('gcc', ['-O2', '-shared', '-fPIC', '-o', lib, join(build, 'floor.c')], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`note: no floor rows (gcc: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]})`);
    return undefined;
  }
  const ffi = createRequire(join(here, 'package.json'))('ffi-rs');
  ffi.open({ library: 'ebpf_ts_map_floor', path: lib });
  const ebpf = await import(join(dir, 'dist', 'index.js'));
  const map = ebpf.BpfMap.create({ type: ebpf.MapType.Hash, keySize: 4, valueSize: 8, maxEntries: n });
  const fd = map.fd;
  const cLoop = (cmd) => ffi.load({ library: 'ebpf_ts_map_floor', funcName: 'floor_loop', retType: ffi.DataType.Void, paramsType: [ffi.DataType.I32, ffi.DataType.I32, ffi.DataType.I32], paramsValue: [cmd, fd, n] });
  // The bare call: an attr over key and value buffers this closure keeps alive (the kernel
  // writes the value into them).
  const key = new Uint8Array(4);
  const kv = new DataView(key.buffer);
  const value = new Uint8Array(8);
  const vv = new DataView(value.buffer);
  const attr = new Uint8Array(32);
  new DataView(attr.buffer).setUint32(0, fd, true);
  const bare = ebpf.backend().prepare(attr, [8, key, 16, value]);
  const loops = {
    update: () => cLoop(2),
    lookupInto: () => cLoop(1),
    'update (bare prepared call)': () => {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        vv.setUint32(0, i * 3, true);
        if (bare(2) !== 0) throw new Error(`bare update ${i} failed`);
      }
    },
    'lookupInto (bare prepared call)': () => {
      for (let i = 0; i < n; i++) {
        kv.setUint32(0, i, true);
        if (bare(1) !== 0 || value.length !== 8) throw new Error(`bare lookup ${i} failed`);
      }
    },
  };
  loops.update();
  return { label: 'floor', kind: 'C', loops, close: () => map.close() };
}

const all = [await contestant('before', beforeDir), await contestant('after', afterDir)];
const floorRows = await floor(afterDir);
if (floorRows !== undefined) all.push(floorRows);
const best = {};
for (let r = 0; r < rounds; r++) {
  for (const c of r % 2 === 0 ? all : [...all].reverse()) {
    for (const [name, f] of Object.entries(c.loops)) {
      const t0 = process.hrtime.bigint();
      f();
      const ns = Number(process.hrtime.bigint() - t0) / n;
      const k = `${name}|${c.label}`;
      if (r >= 3) best[k] = Math.min(best[k] ?? Infinity, ns); // the first rounds warm V8 up
    }
  }
}
console.log(`map-ab: hash u32→u64, ${n} keys, min of ${rounds - 3} interleaved rounds; backends ${all.map((c) => `${c.label}=${c.kind}`).join(', ')}`);
const withFloor = floorRows !== undefined;
console.log(`| loop, ns/key | before | after | after/before |${withFloor ? ' C loop in this process | before/C | after/C |' : ''}`);
console.log(`|---|---:|---:|---:|${withFloor ? '---:|---:|---:|' : ''}`);
const f = (v) => (v === undefined ? '–' : v.toFixed(0));
const q = (a, b) => (a !== undefined && b !== undefined ? (a / b).toFixed(2) : '–');
for (const name of ['update', 'lookupInto', 'lookup', 'updateMany', 'lookupMany']) {
  const b = best[`${name}|before`];
  const a = best[`${name}|after`];
  if (a === undefined && b === undefined) continue;
  // lookup (a copy) and lookupMany against the C lookup loop, updateMany against the update one.
  const c = best[`${name.startsWith('update') ? 'update' : 'lookupInto'}|floor`];
  console.log(`| ${name} | ${f(b)} | ${f(a)} | ${q(a, b)} |${withFloor ? ` ${f(c)} | ${q(b, c)} | ${q(a, c)} |` : ''}`);
}
if (withFloor) {
  for (const name of ['update (bare prepared call)', 'lookupInto (bare prepared call)']) {
    const v = best[`${name}|floor`];
    const c = best[`${name.split(' ')[0]}|floor`];
    console.log(`| ${name} | | ${f(v)} | | ${f(c)} | | ${q(v, c)} |`);
  }
}
for (const c of all) c.close();
