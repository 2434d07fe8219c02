#!/usr/bin/env node
// Kernel BTF cost: parse /sys/kernel/btf/vmlinux, resolve `task_struct` and walk everything it
// reaches, then look it up again. Each round is a fresh process so "cold" means cold (no
// cached spec, no optimised code). Prints medians; a measurement, never a failing exit code.
//
// Env: BENCH_RUNS (5), BENCH_DIST (dist/: the built library), BTF_PATH (kernel BTF file).
// The libbpf comparison (btf__load_vmlinux_btf + btf__find_by_name_kind) needs a `bench-btf`
// command in ../shared/bench-peers' peer-libbpf; until then only our own figures print.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(process.env.BENCH_DIST ?? join(here, '..', 'dist'));

async function child() {
  const path = process.env.BTF_PATH || undefined;
  const { btf } = await import(pathToFileURL(join(dist, 'index.js')).href);
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const spec = btf.loadKernelSpec(path);
  const t1 = performance.now();
  spec.idsByName('task_struct');
  const tNames = performance.now();
  const task = spec.typeByName('task_struct', btf.Struct);
  const t2 = performance.now();
  // Walk every type reachable from task_struct (members, pointers, typedefs, protos).
  const seen = new Set();
  const stack = [task];
  while (stack.length > 0) {
    const t = stack.pop();
    if (seen.has(t)) continue;
    seen.add(t);
    for (const c of btf.children(t)) stack.push(c);
  }
  const t3 = performance.now();
  spec.typeByName('task_struct', btf.Struct);
  const t4 = performance.now();
  global.gc?.();
  const heap = process.memoryUsage().heapUsed - heap0;
  process.stdout.write(
    JSON.stringify({
      indexMs: t1 - t0,
      lookupMs: t2 - t1,
      namesMs: tNames - t1,
      decodeMs: t2 - tNames,
      walkMs: t3 - t2,
      reached: seen.size,
      secondLookupUs: (t4 - t3) * 1000,
      types: spec.typeCount,
      decoded: spec.decodedCount,
      heapMB: heap / 1e6,
      rssMB: process.memoryUsage().rss / 1e6,
      externalMB: process.memoryUsage().arrayBuffers / 1e6,
    }),
  );
}

function parent() {
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  const results = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child'], {
      encoding: 'utf8',
      env: process.env,
    });
    if (r.status !== 0) {
      process.stderr.write(r.stderr);
      process.exit(1);
    }
    results.push(JSON.parse(r.stdout));
  }
  const median = (k) => {
    const v = results.map((r) => r[k]).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const f = (k, d = 1) => median(k).toFixed(d);
  console.log(`kernel BTF: ${results[0].types} types; median of ${runs} fresh processes`);
  console.log(`| step | median |\n|---|---|`);
  console.log(`| read + index (one pass) | ${f('indexMs')} ms |`);
  console.log(`| typeByName('task_struct') cold | ${f('lookupMs')} ms |`);
  console.log(`| … of which: build the name index (hashes of all names) | ${f('namesMs')} ms |`);
  console.log(`| … of which: decode task_struct and the ${results[0].decoded} types it reaches | ${f('decodeMs')} ms |`);
  console.log(`| walk all ${results[0].reached} reachable types | ${f('walkMs')} ms |`);
  console.log(`| total cold | ${(median('indexMs') + median('lookupMs')).toFixed(1)} ms |`);
  console.log(`| second lookup | ${f('secondLookupUs')} µs |`);
  console.log(`| JS heap held by the spec | ${f('heapMB')} MB |`);
  console.log(`| raw BTF buffer (external) / process rss | ${f('externalMB')} MB / ${f('rssMB', 0)} MB |`);
}

if (process.argv.includes('--child')) await child();
else parent();
