#!/usr/bin/env node
// loadCollection beside libbpf and cilium/ebpf (issue 4's benchmark): open + load + close of
// testdata/core_bench.bpfel.o, the largest CO-RE object that every loader here can load whole
// (CO-RE against the kernel's BTF, object BTF, a hash map, .rodata/.bss, four programs).
//
//   cold  a fresh Node process per sample: import, kernel BTF parse, CO-RE, load, close. The
//         package keeps V8's compiled code of itself between processes (docs/startup.md): the
//         cold row is a fresh process with that cache in place (a bench-private directory,
//         filled by one unmeasured process first), as every run of an application after its
//         first; "no code cache" is the first run (or EBPF_TS_CODE_CACHE=off), its samples
//         alternating with the cold row's.
//   warm  one process, kernel BTF already cached, after a few unmeasured loads.
//   libbpf / cilium  the peers' `bench-load OBJ N` (/work/shared/bench-peers): N loads in one
//         process; libbpf re-parses vmlinux BTF for every object, so its median is the fair
//         comparison for our cold figure and the reference for warm.
// Plus spec parsing throughput (parseCollectionSpec, MB/s) over every testdata object.
//
// A measurement, never a failing exit code. Env: BENCH_RUNS (cold samples, 9), BENCH_N (warm and
// peer loads, 30), BENCH_DIST (the built library, default dist/; run `npm run build`),
// BENCH_OBJ (another object), BENCH_BEFORE (another build, e.g. of an older commit: its cold
// processes alternate with ours and its warm figure is taken right after ours, each in a row of
// its own), PEER_LIBBPF / PEER_CILIUM (peer binaries, default under
// /tmp/bench-build), PEER_KERNEL_BTF (the sanitised vmlinux cilium 0.9.1 needs: made by
// sanitize_btf.py; created in /tmp/bench-build when missing), BENCH_JSON (a file to write the
// medians to as JSON, for bench/all.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const dist = resolve(process.env.BENCH_DIST ?? join(root, 'dist'));
const obj = resolve(process.env.BENCH_OBJ ?? join(root, 'testdata', 'core_bench.bpfel.o'));
const runs = Number(process.env.BENCH_RUNS ?? 9);
const n = Number(process.env.BENCH_N ?? 30);
const peers = '/work/shared/bench-peers';
const build = '/tmp/bench-build';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const lib = () => import(pathToFileURL(join(dist, 'index.js')).href);

async function cold() {
  const t0 = performance.now();
  const { loadCollection } = await lib();
  const t1 = performance.now();
  const coll = await loadCollection(obj);
  coll.close();
  const t2 = performance.now();
  console.log(JSON.stringify({ importMs: t1 - t0, loadMs: t2 - t1 }));
}

async function warm() {
  const { loadCollection } = await lib();
  const { parseCollectionSpec } = await import(pathToFileURL(join(dist, 'index.js')).href);
  for (let i = 0; i < 5; i++) (await loadCollection(obj)).close();
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    (await loadCollection(obj)).close();
    times.push(performance.now() - t0);
  }
  // Parsing throughput: every testdata object, both byte orders, until a second has passed.
  const files = readdirSync(join(root, 'testdata')).filter((f) => f.endsWith('.o')).map((f) => new Uint8Array(readFileSync(join(root, 'testdata', f))));
  const bytes = files.reduce((a, f) => a + f.byteLength, 0);
  for (const f of files) parseCollectionSpec(f);
  let rounds = 0;
  const p0 = performance.now();
  while (performance.now() - p0 < 1000) {
    for (const f of files) parseCollectionSpec(f);
    rounds++;
  }
  const parseMs = performance.now() - p0;
  console.log(JSON.stringify({ warmMs: median(times), parseMBs: (bytes * rounds) / 1e6 / (parseMs / 1000), files: files.length, bytes }));
}

function peer(bin, env = {}) {
  if (!existsSync(bin)) return { error: `${bin} not built (see ${peers}/README.md)` };
  const r = spawnSync(bin, ['bench-load', obj, String(n)], { encoding: 'utf8', env: { ...process.env, ...env } });
  const m = /median_ms=([\d.]+)/.exec(r.stdout ?? '');
  return m === null ? { error: (r.stderr || r.stdout || '').trim().split('\n').pop() } : { ms: Number(m[1]) };
}

const before = process.env.BENCH_BEFORE ? resolve(process.env.BENCH_BEFORE) : undefined;

// The code cache of the children: private to this run (see the header).
const codeCache = mkdtempSync(join(tmpdir(), 'ebpf-ts-bench-code-cache-'));
process.on('exit', () => rmSync(codeCache, { recursive: true, force: true }));

function self(mode, build = dist, cache = codeCache) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), `--${mode}`], { encoding: 'utf8', env: { ...process.env, BENCH_DIST: build, EBPF_TS_CODE_CACHE: cache } });
  if (r.status !== 0) throw new Error(`${mode} child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function main() {
  if (!existsSync(join(dist, 'index.js'))) {
    console.error(`bench/load.mjs: ${dist}/index.js missing; run npm run build (or set BENCH_DIST)`);
    return;
  }
  const colds = [];
  const imports = [];
  const olderColds = [];
  const uncached = [];
  const uncachedImports = [];
  // Fills the code cache (each build its own files), unmeasured.
  self('cold');
  if (before !== undefined) self('cold', before);
  for (let i = 0; i < runs; i++) {
    const u = self('cold', dist, 'off');
    uncached.push(u.loadMs);
    uncachedImports.push(u.importMs);
    // With a build to compare, the two alternate (and take turns going first).
    if (before !== undefined && i % 2 === 0) olderColds.push(self('cold', before).loadMs);
    const c = self('cold');
    colds.push(c.loadMs);
    imports.push(c.importMs);
    if (before !== undefined && i % 2 === 1) olderColds.push(self('cold', before).loadMs);
  }
  const w = self('warm');
  const olderWarm = before === undefined ? undefined : self('warm', before);
  const libbpf = peer(process.env.PEER_LIBBPF ?? join(build, 'peer-libbpf', 'peer-libbpf'));
  let btf = process.env.PEER_KERNEL_BTF ?? join(build, 'vmlinux.sanitized.btf');
  if (!existsSync(btf)) spawnSync('python3', [join(peers, 'sanitize_btf.py'), '/sys/kernel/btf/vmlinux', btf], { stdio: 'ignore' });
  const cilium = peer(process.env.PEER_CILIUM ?? join(build, 'peer-cilium', 'peer-cilium'), { PEER_KERNEL_BTF: btf });

  const coldMs = median(colds);
  const ratio = (x) => (libbpf.ms === undefined ? 'n/a' : `${(x / libbpf.ms).toFixed(2)}x libbpf`);
  const fmt = (x) => (x === undefined ? 'n/a' : x.toFixed(2).padStart(8));
  console.log(`object: ${obj}`);
  console.log(`${'what'.padEnd(44)}${'median ms'.padStart(10)}   ratio (goal)`);
  console.log(`${`ebpf-ts cold (fresh process, ${runs} runs)`.padEnd(44)}${fmt(coldMs)}     ${ratio(coldMs)} (<= 1.0x)`);
  console.log(`${'  (+ module import, not counted)'.padEnd(44)}${fmt(median(imports))}`);
  const uncachedMs = median(uncached);
  console.log(`${'ebpf-ts cold, no code cache (first run)'.padEnd(44)}${fmt(uncachedMs)}     ${ratio(uncachedMs)}`);
  console.log(`${'  (+ module import, not counted)'.padEnd(44)}${fmt(median(uncachedImports))}`);
  console.log(`${`ebpf-ts warm (kernel BTF cached, n=${n})`.padEnd(44)}${fmt(w.warmMs)}     ${ratio(w.warmMs)} (<= 0.5x)`);
  console.log(`${`libbpf 1.1.2 open+load+close (n=${n})`.padEnd(44)}${fmt(libbpf.ms)}${libbpf.error ? `   ${libbpf.error}` : ''}`);
  console.log(`${`cilium/ebpf 0.9.1 (n=${n})`.padEnd(44)}${fmt(cilium.ms)}     ${cilium.ms === undefined ? cilium.error : ratio(cilium.ms)}`);
  if (before !== undefined) {
    const oldCold = median(olderColds);
    console.log(`${`before: cold (fresh process, ${runs} runs)`.padEnd(44)}${fmt(oldCold)}     ${ratio(oldCold)}; after/before ${(coldMs / oldCold).toFixed(2)}x`);
    console.log(`${`before: warm (kernel BTF cached, n=${n})`.padEnd(44)}${fmt(olderWarm.warmMs)}     ${ratio(olderWarm.warmMs)}; after/before ${(w.warmMs / olderWarm.warmMs).toFixed(2)}x`);
    console.log(`(before: ${before})`);
  }
  console.log(`spec parsing: ${w.parseMBs.toFixed(1)} MB/s over ${w.files} testdata objects (${(w.bytes / 1024).toFixed(0)} KiB)`);
  if (process.env.BENCH_JSON) {
    const json = { date: new Date().toISOString(), obj, runs, n, coldMs, importMs: median(imports), coldNoCodeCacheMs: uncachedMs, importNoCodeCacheMs: median(uncachedImports), warmMs: w.warmMs, parseMBs: w.parseMBs, libbpfMs: libbpf.ms, ciliumMs: cilium.ms };
    writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(json, null, 1)}\n`);
  }
}

if (process.argv.includes('--cold')) await cold();
else if (process.argv.includes('--warm')) await warm();
else await main();
