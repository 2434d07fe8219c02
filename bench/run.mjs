#!/usr/bin/env node
// `npm run bench`: ebpf-ts map operations beside the libbpf and cilium/ebpf peers.
//
// One run of this script:
//   1. builds the peers from ../shared/bench-peers into /tmp/bench-build (skipping a peer
//      whose toolchain is missing, and saying which tool),
//   2. runs BENCH_RUNS rounds (default 3); each round runs, in a rotating order, one fresh
//      process per contestant: peer-libbpf, peer-cilium, ebpf-ts on the native addon and
//      ebpf-ts on ffi-rs (EBPF_TS_BACKEND is read once at process start, so each backend
//      needs its own process). Interleaving rounds lets machine noise hit everyone alike.
//   3. prints a Markdown table of medians, the ratios to libbpf and the goals of issue 2,
//      and writes every raw number to bench/results/latest.json.
//
// What is timed mirrors peer-libbpf's cmd_bench_map (peer.c): a fresh BPF_MAP_TYPE_HASH
// u32 -> u64 of N entries; update key i = i*3 for every i (BPF_ANY), then lookup of every
// key with a check of the value, then a get_next_key walk over all keys. Each is one clock
// read around the whole loop, divided by N. Our loops do the work a real user does: key and
// value buffers reused and written through DataViews, the value read from the returned bytes.
// On top of the peers' three figures we time the two ways a user reads all entries:
// entries() (get_next_key + lookup per key) and entriesBatch() (BPF_MAP_LOOKUP_BATCH), and
// lookupMany/updateMany/updateBatch over chunks of keys, and
// two diagnostic rows (lookup decoded through a DataView over .buffer; the bare seam).
//
// This is a measurement, not a test: a missed goal is reported, never an exit code. The
// exit code is non-zero only when something fails to run (or a value read back is wrong).
//
// Env: BENCH_RUNS (3), BENCH_N (100000; use e.g. 10000 while developing),
//      BENCH_BATCH (entries per batch call; default: the library's own default),
//      BENCH_MANY (keys per lookupMany/updateMany/updateBatch call; 1024),
//      BENCH_BACKENDS ("native,ffi-rs"), BENCH_PEERS (../shared/bench-peers),
//      BENCH_BUILD (/tmp/bench-build), BENCH_OUT (bench/results/latest.json),
//      BENCH_DIST (dist/: the built library to import), BENCH_BASELINE_DIST (an older build, run
//      on the native backend as one more contestant in the same rounds: before/after).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
// The built library under test; BENCH_DIST points elsewhere (e.g. a scratch tsc outDir).
const dist = resolve(process.env.BENCH_DIST ?? join(repo, 'dist'));

// ------------------------------------------------------------------------------ parent

async function parent() {
  const runs = positiveInt('BENCH_RUNS', 3);
  const n = positiveInt('BENCH_N', 100000);
  const batch = process.env.BENCH_BATCH ? positiveInt('BENCH_BATCH', 0) : undefined;
  const backends = (process.env.BENCH_BACKENDS ?? 'native,ffi-rs').split(',').map((s) => s.trim()).filter(Boolean);
  const peersDir = resolve(process.env.BENCH_PEERS ?? join(repo, '..', 'shared', 'bench-peers'));
  const buildDir = resolve(process.env.BENCH_BUILD ?? '/tmp/bench-build');
  const outFile = resolve(process.env.BENCH_OUT ?? join(here, 'results', 'latest.json'));
  const notes = [];
  const note = (text) => {
    notes.push(text);
    log(`note: ${text}`);
  };

  if (process.getuid?.() !== 0) note('not running as root: bpf() needs CAP_BPF/CAP_SYS_ADMIN, expect EPERM');

  // The library under test is the built one, as a user gets it.
  if (!existsSync(join(dist, 'index.js')) && !existsSync(join(dist, 'map.js'))) {
    log('dist/ is missing: running `npm run build`');
    const r = spawnSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit' });
    if (r.status !== 0) {
      log('error: `npm run build` failed; the benchmark needs dist/');
      return 1;
    }
  }

  const stale = newestMtime(join(repo, 'src')) > newestMtime(dist);
  if (stale) note(`${dist} is older than src/: measuring the last build (run \`npm run build\` first to measure src/)`);

  // Contestants: the peers that build, then our backends.
  const contestants = [];
  for (const peer of buildPeers(peersDir, buildDir, note)) contestants.push(peer);
  for (const b of backends) {
    if (b !== 'native' && b !== 'ffi-rs') {
      log(`error: BENCH_BACKENDS names "${b}"; use native and/or ffi-rs`);
      return 1;
    }
    contestants.push({ id: b, label: `ebpf-ts ${b}`, kind: 'ours', backend: b });
  }
  // An older build in the same rounds, on the native backend (before/after against the peers).
  if (process.env.BENCH_BASELINE_DIST) {
    contestants.push({ id: 'baseline', label: 'ebpf-ts native @baseline', kind: 'ours', backend: 'native', dist: resolve(process.env.BENCH_BASELINE_DIST) });
  }

  const raw = Object.fromEntries(contestants.map((c) => [c.id, []]));
  const failures = Object.fromEntries(contestants.map((c) => [c.id, []]));
  const unavailable = new Set();
  let hardError = false;

  const loadBefore = loadAverage();
  log(`bench-map: hash u32->u64, n=${n}, ${runs} rounds, ${cpus().length} CPUs, kernel ${kernelRelease()}, load ${loadBefore}`);
  for (let round = 0; round < runs; round++) {
    // Rotate the order each round so no contestant always runs first (cold caches) or last.
    const order = contestants.map((_, i) => contestants[(i + round) % contestants.length]);
    log(`round ${round + 1}/${runs}: ${order.map((c) => c.id).join(', ')}`);
    for (const c of order) {
      if (unavailable.has(c.id)) continue;
      const result = c.kind === 'peer' ? runPeer(c, n) : runOurs(c, n, batch);
      if (result.ok) {
        raw[c.id].push({ round: round + 1, ...result.values });
      } else {
        failures[c.id].push(result.error);
        log(`  ${c.id}: ${result.error}`);
        if (result.unavailable) {
          unavailable.add(c.id);
          note(`${c.label} skipped: ${result.error}`);
        } else if (c.kind === 'ours') {
          hardError = true;
        } else {
          note(`${c.label} failed in round ${round + 1}: ${result.error}`);
        }
      }
    }
  }

  // A backend that cannot load (no addon built, ffi-rs not installed) is reported and
  // skipped; none at all means there is nothing of ours to measure.
  if (contestants.every((c) => c.kind !== 'ours' || unavailable.has(c.id))) {
    log('error: no ebpf-ts backend could run');
    hardError = true;
  }

  const loadAfter = loadAverage();
  // Machine noise shows as spread between the runs of the same peer binary.
  const noisy = Object.entries(spreads(raw.libbpf ?? []))
    .filter(([, s]) => s.max > 1.2 * s.min)
    .map(([metric, s]) => `${metric} ${s.min.toFixed(0)}–${s.max.toFixed(0)} ns`);
  if (noisy.length > 0) {
    note(`noisy machine: libbpf's runs ranged ${noisy.join(', ')} (load average ${loadBefore} → ${loadAfter}); re-run when it is quieter`);
  }

  const report = summarise({ contestants, raw, failures, n, runs, batch, notes });
  const out = {
    schema: 1,
    date: new Date().toISOString(),
    machine: {
      kernel: kernelRelease(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      node: process.version,
      loadAverage: { before: loadBefore, after: loadAfter },
    },
    library: gitState(),
    config: { n, runs, batch: batch ?? 'library default', peersDir, buildDir },
    units: 'ns per operation (per key for iteration)',
    raw,
    failures,
    medians: report.medians,
    derived: { iterateEntries: "peers' medians only: their iterateKeys + lookup (they do not time this loop)" },
    ratios: report.ratios,
    goals: report.goals,
    notes,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(out, null, 2)}\n`);
  console.log(report.markdown);
  console.log(`raw numbers: ${outFile}`);
  return hardError ? 1 : 0;
}

/** Builds each peer whose toolchain is present; returns the ones ready to run. */
function buildPeers(peersDir, buildDir, note) {
  const specs = [
    {
      id: 'libbpf',
      label: 'libbpf',
      dir: 'peer-libbpf',
      binary: 'peer-libbpf',
      tools: ['make', 'gcc', 'clang', 'pkg-config'],
      files: ['/usr/include/bpf/libbpf.h', '/usr/include/bpf/bpf.h'],
    },
    {
      id: 'cilium',
      label: 'cilium/ebpf',
      dir: 'peer-cilium',
      binary: 'peer-cilium',
      tools: ['make', 'gcc', 'clang', 'go'],
      files: ['/usr/share/gocode/src/github.com/cilium/ebpf'],
    },
  ];
  const ready = [];
  if (!existsSync(peersDir)) {
    note(`peers not found at ${peersDir} (set BENCH_PEERS): benchmarking ebpf-ts alone`);
    return ready;
  }
  for (const s of specs) {
    const out = join(buildDir, s.dir);
    const binary = join(out, s.binary);
    const missing = [
      ...s.tools.filter((t) => !onPath(t)),
      ...s.files.filter((f) => !existsSync(f)),
    ];
    if (missing.length > 0) {
      if (existsSync(binary)) {
        note(`${s.label}: cannot rebuild (missing ${missing.join(', ')}); using the existing ${binary}`);
        ready.push({ ...s, kind: 'peer', binary });
      } else {
        note(`${s.label} peer skipped: missing ${missing.join(', ')}`);
      }
      continue;
    }
    const r = spawnSync('make', ['-s', '-C', join(peersDir, s.dir), `BUILD=${out}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.status !== 0 || !existsSync(binary)) {
      note(`${s.label} peer skipped: make failed: ${lastLines(r.stderr || r.stdout, 5)}`);
      continue;
    }
    ready.push({ ...s, kind: 'peer', binary });
  }
  return ready;
}

/** `PEER bench-map N` → {update, lookup, iterateKeys} in ns. */
function runPeer(peer, n) {
  const r = spawnSync(peer.binary, ['bench-map', String(n)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600_000,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('bench-map '));
  if (r.status !== 0 || line === undefined) {
    return { ok: false, error: `exit ${r.status ?? r.signal}: ${lastLines(r.stderr || r.stdout || String(r.error), 3)}` };
  }
  const kv = Object.fromEntries(
    line
      .split(/\s+/)
      .filter((w) => w.includes('='))
      .map((w) => w.split('=')),
  );
  return {
    ok: true,
    values: {
      update: Number(kv.update_ns_op),
      lookup: Number(kv.lookup_ns_op),
      iterateKeys: Number(kv.iterate_ns_key),
    },
  };
}

/** One child process of ours on one backend. */
function runOurs(c, n, batch) {
  const env = { ...process.env, EBPF_TS_BACKEND: c.backend, BENCH_N: String(n) };
  if (c.dist !== undefined) env.BENCH_DIST = c.dist;
  if (batch !== undefined) env.BENCH_BATCH = String(batch);
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child'], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600_000,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('bench-ts '));
  if (line !== undefined) {
    const msg = JSON.parse(line.slice('bench-ts '.length));
    if (msg.ok) return { ok: true, values: msg.values };
    return { ok: false, error: msg.error, unavailable: msg.unavailable };
  }
  return { ok: false, error: `child exit ${r.status ?? r.signal}: ${lastLines(r.stderr || String(r.error), 5)}` };
}

// ----------------------------------------------------------------------------- summary

// Rows of the table: key in the raw values, label, which peer figure it compares with.
const METRICS = [
  { key: 'update', label: 'update, ns/op' },
  { key: 'lookup', label: 'lookup into a caller buffer (lookupInto), ns/op' },
  { key: 'lookupCopy', label: 'lookup returning a copy (lookup), ns/op' },
  { key: 'updateMany', label: 'updateMany: chunks of keys, N update syscalls per native call, ns/key' },
  { key: 'lookupMany', label: 'lookupMany: chunks of keys, N lookup syscalls per native call, ns/key' },
  { key: 'updateBatch', label: 'updateBatch: BPF_MAP_UPDATE_BATCH in chunks, ns/key' },
  { key: 'iterateKeys', label: 'iterate keys: get_next_key, ns/key' },
  { key: 'iterateEntries', label: 'iterate entries: get_next_key + lookup, ns/key' },
  { key: 'iterateBatch', label: 'iterate entries: lookup batch, ns/key' },
  { key: 'lookupDataView', label: '(diag.) lookup, value decoded by DataView over .buffer, ns/op' },
  { key: 'lookupFloor', label: '(diag.) lookup through the bare syscall seam, ns/op' },
];

// Which libbpf figure a row's ratio is taken against, where it is not the row's own.
const PEER_FIGURE = {
  iterateBatch: 'iterateEntries',
  lookupFloor: 'lookup',
  lookupDataView: 'lookup',
  lookupCopy: 'lookup',
  lookupMany: 'lookup',
  updateMany: 'update',
  updateBatch: 'update',
};

function summarise({ contestants, raw, n, runs, batch, notes }) {
  const medians = {};
  for (const c of contestants) {
    medians[c.id] = {};
    for (const m of METRICS) {
      const values = raw[c.id].map((v) => v[m.key]).filter((v) => typeof v === 'number' && Number.isFinite(v));
      if (values.length > 0) medians[c.id][m.key] = median(values);
    }
  }
  // The peers time get_next_key alone. Their get_next_key + lookup loop per key (what the
  // issue's iteration goal compares with) is the sum of their two per-op figures.
  for (const id of ['libbpf', 'cilium']) {
    const m = medians[id];
    if (m?.iterateKeys !== undefined && m.lookup !== undefined) m.iterateEntries = m.iterateKeys + m.lookup;
  }
  const lib = medians.libbpf ?? {};
  const nat = medians.native ?? {};
  const ratio = (a, b) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  const ratios = {};
  for (const id of ['native', 'ffi-rs', 'baseline']) {
    if (!medians[id]) continue;
    ratios[id] = {};
    for (const m of METRICS) {
      const r = ratio(medians[id][m.key], lib[PEER_FIGURE[m.key] ?? m.key]);
      if (r !== undefined) ratios[id][m.key] = r;
    }
  }
  // The same ratio taken within each round (ours and libbpf ran seconds apart), then the
  // median over rounds: less exposed to noise that drifts during the run.
  const paired = (key, peerKey) => {
    const per = [];
    for (const ours of raw.native ?? []) {
      const peer = (raw.libbpf ?? []).find((p) => p.round === ours.round);
      const peerValue = peerKey === 'iterateEntries' ? peer && peer.iterateKeys + peer.lookup : peer?.[peerKey];
      if (ours[key] !== undefined && peerValue > 0) per.push(ours[key] / peerValue);
    }
    return per.length > 0 ? median(per) : undefined;
  };
  const goal = (name, key, limit) => {
    const value = ratios.native?.[key];
    return {
      name,
      ratio: value,
      pairedRatio: paired(key, PEER_FIGURE[key] ?? key),
      limit,
      verdict: value === undefined ? 'n/a' : value <= limit ? 'PASS' : 'MISS',
    };
  };
  const goals = [
    goal('update ≤ 1.15× libbpf ns/op', 'update', 1.15),
    goal('lookup ≤ 1.15× libbpf ns/op', 'lookup', 1.15),
    goal('iterate all entries with batch ops ≤ 0.5× libbpf get_next_key+lookup ns/key', 'iterateBatch', 0.5),
    goal('(issue 14) update ≤ 1.10× libbpf ns/op', 'update', 1.1),
    goal('(issue 14) lookup ≤ 1.10× libbpf ns/op', 'lookup', 1.1),
    goal('(issue 14) updateMany ≤ 1.10× libbpf update ns/op', 'updateMany', 1.1),
    goal('(issue 14) lookupMany ≤ 1.10× libbpf lookup ns/op', 'lookupMany', 1.1),
  ];

  const cols = [
    ['native', 'ebpf-ts native'],
    ['ffi-rs', 'ebpf-ts ffi-rs'],
    ['libbpf', 'libbpf'],
    ['cilium', 'cilium/ebpf'],
  ];
  if (medians.baseline) cols.push(['baseline', 'ebpf-ts native @baseline']);
  const lines = [];
  lines.push(`## bench-map: hash u32→u64, ${n} entries, medians of ${runs} runs`);
  lines.push('');
  lines.push(
    `kernel ${kernelRelease()}, ${cpus().length} CPUs, Node ${process.version}; batch size: ${batch ?? 'library default'}`,
  );
  lines.push('');
  const base = medians.baseline !== undefined;
  lines.push(`| metric | ${cols.map((c) => c[1]).join(' | ')} | ratio native/libbpf |${base ? ' ratio @baseline/libbpf |' : ''}`);
  lines.push(`|---|${cols.map(() => '---:').join('|')}|---:|${base ? '---:|' : ''}`);
  for (const m of METRICS) {
    const cells = cols.map(([id]) => {
      const v = medians[id]?.[m.key];
      if (v === undefined) return '–';
      const derived = (id === 'libbpf' || id === 'cilium') && m.key === 'iterateEntries';
      return derived ? `${fmt(v)}¹` : fmt(v);
    });
    const r = ratios.native?.[m.key];
    const mark = { iterateBatch: '²', lookupFloor: '³', lookupDataView: '³', lookupCopy: '³', lookupMany: '³', updateMany: '⁴', updateBatch: '⁴' }[m.key] ?? '';
    const rcell = r === undefined ? '–' : `${r.toFixed(2)}${mark}`;
    const rb = ratios.baseline?.[m.key];
    const bcell = base ? ` ${rb === undefined ? '–' : `${rb.toFixed(2)}${mark}`} |` : '';
    lines.push(`| ${m.label} | ${cells.join(' | ')} | ${rcell} |${bcell}`);
  }
  lines.push('');
  lines.push(
    "¹ the peers time get_next_key alone; their get_next_key + lookup per key is the sum of their get_next_key and lookup figures.",
  );
  lines.push("² batch iteration against libbpf's get_next_key + lookup loop (the issue's goal).");
  lines.push("³ against libbpf's lookup.");
  lines.push("⁴ against libbpf's update (one bpf_map_update_elem per key).");
  lines.push('');
  lines.push('### goals (ebpf-ts native against libbpf)');
  lines.push('');
  for (const g of goals) {
    const pairedText = g.pairedRatio === undefined ? '' : `; per-round median ${g.pairedRatio.toFixed(2)}×`;
    const shown = g.ratio === undefined ? 'no figure' : `${g.ratio.toFixed(2)}× (limit ${g.limit}×${pairedText})`;
    lines.push(`- **${g.verdict}** ${g.name}: ${shown}`);
  }
  if (nat.iterateBatch !== undefined && lib.iterateKeys !== undefined) {
    lines.push(
      `- (info) batch iteration against libbpf's bare get_next_key walk: ${(nat.iterateBatch / lib.iterateKeys).toFixed(2)}×`,
    );
  }
  if (notes.length > 0) {
    lines.push('');
    lines.push('### notes');
    lines.push('');
    for (const t of notes) lines.push(`- ${t}`);
  }
  return { markdown: lines.join('\n'), medians, ratios, goals };
}

// ------------------------------------------------------------------------------- child

// Runs in its own process with EBPF_TS_BACKEND set; prints one line `bench-ts {json}`.
async function child() {
  const n = positiveInt('BENCH_N', 100000);
  const batch = process.env.BENCH_BATCH ? positiveInt('BENCH_BATCH', 0) : undefined;
  const reply = (msg) => process.stdout.write(`bench-ts ${JSON.stringify(msg)}\n`);
  let lib;
  try {
    lib = await loadLibrary();
  } catch (err) {
    reply({ ok: false, error: `cannot import the library from dist/: ${err?.message ?? err}` });
    process.exitCode = 1;
    return;
  }
  try {
    const kind = lib.backendKind();
    if (kind !== process.env.EBPF_TS_BACKEND) {
      throw new Error(`asked for backend ${process.env.EBPF_TS_BACKEND}, got ${kind}`);
    }
  } catch (err) {
    const unavailable = err?.name === 'BackendUnavailableError' || /cannot load/.test(String(err?.message));
    reply({ ok: false, unavailable, error: oneLine(err) });
    if (!unavailable) process.exitCode = 1;
    return;
  }
  try {
    // Warm-up: the same functions on a map of at most 20,000 entries, for at least 40,000
    // operations of each kind, so V8 has optimised every loop before the timed pass (the
    // peers are compiled ahead of time; a long-lived Node process would be warm too).
    const warmN = Math.min(n, 20000);
    const warmPasses = Math.max(2, Math.ceil(40000 / warmN));
    for (let i = 0; i < warmPasses; i++) benchMap(lib, warmN, batch);
    const values = benchMap(lib, n, batch);
    reply({ ok: true, values });
  } catch (err) {
    reply({ ok: false, error: oneLine(err) });
    process.exitCode = 1;
  }
}

/** Imports the built library: the package entry, as users do (dist/ is a bundle, scripts/build.mjs). */
async function loadLibrary() {
  const { BpfMap, MapType, backend } = await import(join(dist, 'index.js'));
  if (BpfMap === undefined || MapType?.Hash === undefined) throw new Error('dist/ has no BpfMap or MapType.Hash');
  // For the diagnostic row only: the seam below BpfMap (the exported backend()), to split our
  // time into "library" and "one bpf() through the backend".
  return {
    BpfMap,
    MapType,
    backend,
    backendKind: () => backend().kind,
    lookupCmd: 1, // BPF_MAP_LOOKUP_ELEM (UAPI)
  };
}

/** One full pass on a fresh map, like peer.c's cmd_bench_map; returns ns per op/key. */
function benchMap(lib, n, batch, many = positiveInt('BENCH_MANY', 1024)) {
  const { BpfMap, MapType } = lib;
  const map = BpfMap.create({ name: 'bench_hash', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: n });
  try {
    const key = new Uint8Array(4);
    const keyView = new DataView(key.buffer);
    const value = new Uint8Array(8);
    const valueView = new DataView(value.buffer);
    const out = {};

    // The single-element loops are functions of their own (below), called by the warm-up
    // passes too: a loop written here ran partly unoptimised in the timed pass (see timeUpdate).
    out.update = timeUpdate(map, n, key, keyView, value, valueView);
    const into = new Uint8Array(8);
    out.lookup = timeLookupInto(map, n, key, keyView, into);
    out.lookupCopy = timeLookupCopy(map, n, key, keyView);
    let t0;

    // lookupMany / updateMany: the same keys in chunks of `many` (BENCH_MANY), each chunk one
    // call into the addon making one syscall per key. The key arrays exist before the clock
    // starts: a caller with many keys already holds them. updateMany and updateBatch write
    // fresh maps, so they insert as the update row does.
    // (Skipped for a build without them, so that an older dist/ can be measured beside.)
    const hasMany = typeof map.lookupMany === 'function';
    const keys = Array.from({ length: n }, (_, i) => new Uint8Array(new Uint32Array([i]).buffer));
    const vals = Array.from({ length: n }, (_, i) => {
      const v = new Uint8Array(8);
      new DataView(v.buffer).setUint32(0, i * 3, true);
      return v;
    });
    const chunks = [];
    for (let i = 0; i < n; i += many) chunks.push([keys.slice(i, i + many), vals.slice(i, i + many)]);
    if (hasMany) t0 = process.hrtime.bigint();
    for (const [k] of hasMany ? chunks : []) {
      const got = map.lookupMany(k);
      if (got[0] === undefined || got.length !== k.length) throw new Error('lookupMany: missing value');
    }
    if (hasMany) out.lookupMany = perOp(t0, n);
    for (const [k, v] of hasMany ? [[0, 0], [n - 1, n - 1]] : []) {
      const got = map.lookupMany([keys[k]])[0];
      if (got === undefined || u64le(got) !== v * 3) throw new Error(`lookupMany ${k}: wrong value`);
    }
    for (const kind of hasMany ? ['updateMany', 'updateBatch'] : ['updateBatch']) {
      const fresh = BpfMap.create({ name: 'bench_hash2', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: n });
      try {
        t0 = process.hrtime.bigint();
        if (kind === 'updateMany') for (const [k, v] of chunks) fresh.updateMany(k, v);
        else for (const [k, v] of chunks) fresh.updateBatch(k, v);
        out[kind] = perOp(t0, n);
        const last = fresh.lookup(keys[n - 1]);
        if (last === undefined || u64le(last) !== ((n - 1) * 3) % 0x100000000) throw new Error(`${kind}: wrong value`);
      } finally {
        fresh.close();
      }
    }

    // get_next_key walk over all keys: the peers' "iterate".
    t0 = process.hrtime.bigint();
    let count = 0;
    for (const k of map.keys()) {
      if (k.byteLength === 4) count++;
    }
    out.iterateKeys = perOp(t0, n);
    checkCount('keys()', count, n);

    // get_next_key + lookup per key: what entries() does.
    t0 = process.hrtime.bigint();
    count = 0;
    for (const [, v] of map.entries()) {
      if (v.byteLength === 8) count++;
    }
    out.iterateEntries = perOp(t0, n);
    checkCount('entries()', count, n);

    // BPF_MAP_LOOKUP_BATCH: all entries in chunks.
    t0 = process.hrtime.bigint();
    count = countBatch(batch === undefined ? map.entriesBatch() : map.entriesBatch(batch));
    out.iterateBatch = perOp(t0, n);
    checkCount('entriesBatch()', count, n);

    // Diagnostic: the lookups again, decoding the value the way examples/demo.mjs does, with
    // a DataView over v.buffer and a BigInt. Reading .buffer of a small Uint8Array makes V8
    // move its bytes off the heap, and the DataView and BigInt are allocations too.
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      keyView.setUint32(0, i, true);
      const v = map.lookup(key);
      if (v === undefined || new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true) !== BigInt(i * 3)) {
        throw new Error(`lookup ${i}: wrong value`);
      }
    }
    out.lookupDataView = perOp(t0, n);

    // Diagnostic: the same lookups as one bare bpf() each through the backend with a reused
    // attr and no copy of the value — the floor any BpfMap.lookup on this backend can reach.
    if (lib.lookupCmd !== undefined && typeof map.fd === 'number') {
      const b = lib.backend();
      const attr = new Uint8Array(32);
      new DataView(attr.buffer).setUint32(0, map.fd, true);
      const pointers = [8, key, 16, value];
      // Backend.prepareCmd (ABI 6; else Backend.prepare) patches the addresses once: the
      // cheapest call, the one BpfMap.lookupInto makes over adopted buffers.
      const call =
        typeof b.prepareCmd === 'function'
          ? b.prepareCmd(lib.lookupCmd, attr, pointers)
          : typeof b.prepare === 'function'
            ? ((c) => () => c(lib.lookupCmd))(b.prepare(attr, pointers))
            : () => b.bpf(lib.lookupCmd, attr, pointers);
      out.lookupFloor = timeFloor(n, keyView, value, call);
    }
    return out;
  } finally {
    map.close();
  }
}

// The timed single-element loops. Each is a function of its own, run by the warm-up passes
// first: written inline in benchMap, the timed pass's first loop began in V8's interpreter —
// benchMap's optimised code was dropped on entry (a call site without feedback) and the update
// loop waited for a new on-stack-replacement compile on a background thread, which on a busy
// 2-CPU machine took long enough to add 300–800 ns/op to the update row (and none to libbpf's,
// which is compiled ahead of time). A small function is optimised whole, and stays so.

/** update: key i → i*3, BPF_ANY (the default flags), into an empty map as the peers do; ns/op. */
function timeUpdate(map, n, key, keyView, value, valueView) {
  // The u64 is written as two u32 halves (no BigInt per op: i*3 < 2^53).
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    keyView.setUint32(0, i, true);
    valueView.setUint32(0, (i * 3) % 0x100000000, true);
    valueView.setUint32(4, Math.floor((i * 3) / 0x100000000), true);
    map.update(key, value);
  }
  return perOp(t0, n);
}

/**
 * lookup of every key into a caller-owned value buffer, checked, as the peers do
 * (bpf_map_lookup_elem(fd, &key, &value) / Map.Lookup(key, &value)): lookupInto is the same
 * contract; ns/op.
 */
function timeLookupInto(map, n, key, keyView, into) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    keyView.setUint32(0, i, true);
    if (!map.lookupInto(key, into) || u64le(into) !== i * 3) throw new Error(`lookupInto ${i}: got ${Array.from(into).join(',')}`);
  }
  return perOp(t0, n);
}

/** lookup() returning a new Uint8Array per call (the convenient form); ns/op. */
function timeLookupCopy(map, n, key, keyView) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    keyView.setUint32(0, i, true);
    const v = map.lookup(key);
    if (v === undefined || u64le(v) !== i * 3) {
      throw new Error(`lookup ${i}: got ${v === undefined ? 'nothing' : Array.from(v).join(',')}`);
    }
  }
  return perOp(t0, n);
}

/** The lookups as bare prepared calls (success: undefined from prepareCmd, 0 otherwise); ns/op. */
function timeFloor(n, keyView, value, call) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    keyView.setUint32(0, i, true);
    const r = call();
    if ((r !== undefined && r !== 0) || u64le(value) !== i * 3) throw new Error(`raw lookup ${i}: ${r}`);
  }
  return perOp(t0, n);
}

/** A u64 (below 2^53) from 8 little-endian bytes, without touching the array's buffer. */
function u64le(b) {
  return (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 0x1000000 + (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) * 0x100000000;
}

/**
 * Counts entries from entriesBatch(), whatever it yields: [key, value] pairs, or whole
 * chunks ({count}, {keys}, or an array of pairs).
 */
function countBatch(iterable) {
  let count = 0;
  for (const item of iterable) {
    if (Array.isArray(item) && item.length === 2 && item[0] instanceof Uint8Array) count++;
    else if (typeof item?.count === 'number') count += item.count;
    else if (Array.isArray(item?.keys)) count += item.keys.length;
    else if (Array.isArray(item)) count += item.length;
    else throw new Error(`entriesBatch() yielded something unexpected: ${Object.prototype.toString.call(item)}`);
  }
  return count;
}

function checkCount(what, count, n) {
  if (count !== n) throw new Error(`${what} saw ${count} entries, want ${n}`);
}

function perOp(t0, n) {
  return Number(process.hrtime.bigint() - t0) / n;
}

// ----------------------------------------------------------------------------- helpers

function positiveInt(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const v = Number(text);
  if (!Number.isInteger(v) || v <= 0) {
    throw new Error(`${name}=${text} is not a positive integer`);
  }
  return v;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function fmt(v) {
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function onPath(tool) {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** Latest modification time of any file under `dir` (0 if absent). */
function newestMtime(dir) {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** min and max of each metric over a contestant's runs. */
function spreads(runs) {
  const out = {};
  for (const r of runs) {
    for (const [k, v] of Object.entries(r)) {
      if (k === 'round') continue;
      const s = (out[k] ??= { min: v, max: v });
      s.min = Math.min(s.min, v);
      s.max = Math.max(s.max, v);
    }
  }
  return out;
}

/** The 1-minute load average, as /proc/loadavg prints it. */
function loadAverage() {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  } catch {
    return 'unknown';
  }
}

function kernelRelease() {
  try {
    return readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** The commit measured, and whether src/ or native/ had uncommitted changes then. */
function gitState() {
  const head = spawnSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const status = spawnSync('git', ['-C', repo, 'status', '--porcelain', '--', 'src', 'native'], { encoding: 'utf8' });
  return {
    commit: head.status === 0 ? head.stdout.trim() : undefined,
    uncommittedChanges: status.status === 0 ? status.stdout.trim().length > 0 : undefined,
  };
}

function lastLines(text, count) {
  return String(text ?? '')
    .trim()
    .split('\n')
    .slice(-count)
    .join(' | ');
}

function oneLine(err) {
  return `${err?.name ?? 'Error'}: ${String(err?.message ?? err).split('\n')[0]}`;
}

function log(text) {
  process.stderr.write(`${text}\n`);
}

// Entry point, last so that every module-level constant above is initialised.
if (process.argv[2] === '--child') {
  await child();
} else {
  process.exitCode = await parent();
}
