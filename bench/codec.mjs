#!/usr/bin/env node
// Decoding records (issue 12's benchmark): a ~1 KB perf event (testdata/execsnoop's struct
// event, 1320 bytes: six u32s, char comm[16], filename[256], argv[16][64]) and a map value
// (testdata/tracing's struct hits, five u64s), each decoded by
//   - the module `ebpf-ts gen` writes (straight-line DataView code),
//   - btf.codecFor() (closures compiled from BTF at run time),
//   - btf.decodeValue() (the runtime BTF decoder the readers' decoded() uses),
//   - hand-written DataView code, as a user would write it without generation.
// Prints records/s (median of rounds) and the ratios the issue sets goals for: generated
// within 1.1× of hand-written, at least 5× the runtime decoder. A measurement, never a
// failing exit code.
//
// Env: BENCH_DIST (dist/: the built library; run `npm run build` first), BENCH_ROUNDS (7),
// BENCH_MS (per round and decoder, 300), BENCH_JSON (a file to write the medians to as JSON, for
// bench/all.mjs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
const dist = resolve(process.env.BENCH_DIST ?? join(repo, 'dist'));
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const roundMs = Number(process.env.BENCH_MS ?? 300);

const lib = await import(pathToFileURL(join(dist, 'index.js')).href);
const { btf, parseCollectionSpec } = lib;

// Generates an object's bindings as JavaScript with the built CLI (`ebpf-ts gen --out x.mjs`:
// the TypeScript module with its types erased, nothing else) and imports them.
const work = mkdtempSync(join(tmpdir(), 'ebpf-ts-bench-codec-'));
async function generated(object) {
  const file = join(work, object.replace(/\W/g, '_') + '.mjs');
  const args = [join(dist, 'cli', 'main.js'), 'gen', join(repo, 'testdata', object), '--out', file, '--import-from', pathToFileURL(join(dist, 'index.js')).href];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ebpf-ts gen failed: ${r.stderr}`);
  return import(pathToFileURL(file).href);
}

const execsnoop = await generated('execsnoop.bpfel.o');
const tracing = await generated('tracing.bpfel.o');
const execSpec = parseCollectionSpec(readFileSync(join(repo, 'testdata', 'execsnoop.bpfel.o')));
const traceSpec = parseCollectionSpec(readFileSync(join(repo, 'testdata', 'tracing.bpfel.o')));

// A realistic event: short strings in big char arrays, as exec events are.
const eventBytes = execsnoop.eventCodec.encode({
  pid: 4242, ppid: 1, uid: 1000, retval: 0, argc: 3, args_truncated: 0,
  comm: 'ls', filename: '/usr/bin/ls', argv: ['ls', '-l', '/var/log/journal'],
});
const hitsBytes = tracing.hitsCodec.encode({ fentry: 123456789n, fexit: 123456700n, tp_btf: 99n, fmod_ret: 7n, fexit_ret: -1n });

// ---- hand-written, the way the examples decoded events before generation ----------------
const latin = (b, o, n) => {
  let s = '';
  for (let i = o; i < o + n && b[i] !== 0; i++) s += String.fromCharCode(b[i]);
  return s;
};
function handEvent(b) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const argv = [];
  for (let i = 0; i < 16; i++) argv.push(latin(b, 296 + i * 64, 64));
  return {
    pid: v.getUint32(0, true), ppid: v.getUint32(4, true), uid: v.getUint32(8, true), retval: v.getInt32(12, true),
    argc: v.getUint32(16, true), args_truncated: v.getUint32(20, true),
    comm: latin(b, 24, 16), filename: latin(b, 40, 256), argv,
  };
}
function handHits(b) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { fentry: v.getBigUint64(0, true), fexit: v.getBigUint64(8, true), tp_btf: v.getBigUint64(16, true), fmod_ret: v.getBigUint64(24, true), fexit_ret: v.getBigInt64(32, true) };
}

const eventType = execSpec.btf.typeByName('event', 'struct');
const hitsType = traceSpec.btf.typeByName('hits', 'struct');
const opts = { byteOrder: 'little', charArraysAsStrings: true };
const runtimeEvent = btf.codecFor(execSpec.btf, eventType);
const runtimeHits = btf.codecFor(traceSpec.btf, hitsType);

const cases = {
  'event (1320 B)': {
    bytes: eventBytes,
    generated: (b) => execsnoop.eventCodec.decode(b),
    'codecFor()': (b) => runtimeEvent.decode(b),
    'decodeValue()': (b) => btf.decodeValue(eventType, b, opts),
    'hand-written': handEvent,
  },
  'map value (40 B)': {
    bytes: hitsBytes,
    generated: (b) => tracing.hitsCodec.decode(b),
    'codecFor()': (b) => runtimeHits.decode(b),
    'decodeValue()': (b) => btf.decodeValue(hitsType, b, opts),
    'hand-written': handHits,
  },
};

// Every decoder must agree before any is timed.
for (const [name, c] of Object.entries(cases)) {
  const want = JSON.stringify(c['decodeValue()'](c.bytes), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  for (const d of ['generated', 'codecFor()', 'hand-written']) {
    const got = JSON.stringify(c[d](c.bytes), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
    if (got !== want) throw new Error(`${name}: ${d} decodes differently:\n${got}\n${want}`);
  }
}

let sink = 0;
function rate(fn, bytes) {
  let n = 0;
  const end = performance.now() + roundMs;
  const t0 = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) sink ^= fn(bytes) === undefined ? 1 : 0;
    n += 1000;
  }
  return n / ((performance.now() - t0) / 1000);
}

const decoders = ['generated', 'codecFor()', 'decodeValue()', 'hand-written'];
const results = {};
for (const [name, c] of Object.entries(cases)) {
  for (const d of decoders) rate(c[d], c.bytes); // warm-up: every decoder JIT-compiled first
  const samples = Object.fromEntries(decoders.map((d) => [d, []]));
  for (let r = 0; r < rounds; r++) {
    const order = decoders.map((_, i) => decoders[(i + r) % decoders.length]); // rotated, so drift falls on all
    for (const d of order) samples[d].push(rate(c[d], c.bytes));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  results[name] = Object.fromEntries(decoders.map((d) => [d, median(samples[d])]));
}

const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(0)} k`);
console.log(`node ${process.version}, ${rounds} rounds × ${roundMs} ms per decoder; records/s (median)\n`);
console.log(`| record | ${decoders.join(' | ')} | hand-written / generated | generated / decodeValue() |`);
console.log(`|---|${decoders.map(() => '---:').join('|')}|---:|---:|`);
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${decoders.map((d) => fmt(r[d])).join(' | ')} | ${(r['hand-written'] / r.generated).toFixed(2)}× | ${(r.generated / r['decodeValue()']).toFixed(1)}× |`);
}
console.log('\nGoals: generated within 1.1× of hand-written (hand-written / generated ≤ 1.10), and ≥ 5× decodeValue().');
for (const [name, r] of Object.entries(results)) {
  const near = r['hand-written'] / r.generated <= 1.1;
  const fast = r.generated / r['decodeValue()'] >= 5;
  console.log(`  ${name}: ${near ? 'PASS' : 'MISS'} within 1.1× of hand-written, ${fast ? 'PASS' : 'MISS'} ≥ 5× decodeValue()`);
}
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify({ date: new Date().toISOString(), rounds, roundMs, recordsPerS: results }, null, 1)}\n`);
rmSync(work, { recursive: true, force: true });
if (sink === 42) console.log(''); // keeps the decoders' results alive
