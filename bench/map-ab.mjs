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
// prebuilds/ (bench/README.md says how the "before" one was made). Env: AB_N (4096), AB_ROUNDS (40).
import { existsSync } from 'node:fs';
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

const all = [await contestant('before', beforeDir), await contestant('after', afterDir)];
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
console.log('| loop, ns/key | before | after | after/before |');
console.log('|---|---:|---:|---:|');
for (const name of ['update', 'lookupInto', 'lookup', 'updateMany', 'lookupMany']) {
  const b = best[`${name}|before`];
  const a = best[`${name}|after`];
  if (a === undefined && b === undefined) continue;
  const f = (v) => (v === undefined ? '–' : v.toFixed(0));
  console.log(`| ${name} | ${f(b)} | ${f(a)} | ${a !== undefined && b !== undefined ? (a / b).toFixed(2) : '–'} |`);
}
for (const c of all) c.close();
