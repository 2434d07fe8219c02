#!/usr/bin/env node
// `npm run bench:startup`: what a user waits for before our code runs (issue 14: the import
// of 'ebpf-ts' over a bare `node -e 0` ≤ 30 ms). Each sample is a fresh Node process, timed
// from the outside (spawn to exit, what a shell user sees):
//
//   node -e 0                      the floor every Node program pays
//   import                         `await import(<dist>/index.js)` in an ES module
//   require                        `require(<dist>/index.js)` from CommonJS (Node 20.19+)
//   import + spec                  import, then parseCollectionSpec of a small object: the
//                                  first use of parts dist/ loads on first use (lib-*.cjs)
//   import + load                  import, then loadCollection of it and close (as root)
//   cli --help                     `node <dist>/cli/main.js --help` (the `ebpf-ts` bin)
//   cli prog list                  `ebpf-ts prog list` (as root: the kernel is asked)
//   cli prog list, no code cache   the same with EBPF_TS_CODE_CACHE=off: every chunk compiled
//   cli prog list, 20 programs loaded     the listing a user sees with programs in the kernel
//   bpftool prog list, 20 programs loaded (this process holds them), bpftool's beside it
//
// The CLI rows use a code cache directory of their own (a temporary one, filled by the untimed
// pass), so the figures are those of a second and later run, whatever ~/.cache holds.
//
// and, for import, also from the inside: performance.now() around the `import()` alone. The
// figure of interest is each row minus the `node -e 0` row. Rounds run every contestant once
// in an order rotated each round, so noise on a shared machine falls on all alike.
//
// BENCH_COMPARE=[label=]<dir>[,…] adds library directories measured in the same rounds (e.g.
// the unbundled `tsc` output of the same src/, for a before/after of the build layout).
//
// Node's own start-up is not ours to measure: variables that make every `node` do more before
// any script runs are removed from the samples' environment (today NODE_EXTRA_CA_CERTS: Node
// reads and parses the whole CA bundle it names at start-up, ~50 ms on the bench machine,
// where a sandbox had it set). When one is set, an extra `node -e 0` row keeps it, so the
// difference is on record; BENCH_KEEP_ENV=1 keeps them for every row.
//
// A measurement, not a test: the exit code is non-zero only when a contestant fails to run.
//
// Env: BENCH_RUNS (15), BENCH_DIST (dist/), BENCH_COMPARE (none), BENCH_ROWS (all; e.g.
// "import,require"), BENCH_OUT
// (bench/results/startup-latest.json, not committed).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const runs = Number(process.env.BENCH_RUNS ?? 15);
const outFile = resolve(process.env.BENCH_OUT ?? join(here, 'results', 'startup-latest.json'));
const libs = [{ label: 'dist', dir: resolve(process.env.BENCH_DIST ?? join(repo, 'dist')) }];
for (const item of (process.env.BENCH_COMPARE ?? '').split(',').filter(Boolean)) {
  const eq = item.indexOf('=');
  libs.push(eq < 0 ? { label: 'compare', dir: resolve(item) } : { label: item.slice(0, eq), dir: resolve(item.slice(eq + 1)) });
}

/** Variables that change what `node` does before any script runs (see the header). */
const startupVars = ['NODE_EXTRA_CA_CERTS'];
const removedVars = process.env.BENCH_KEEP_ENV === '1' ? [] : startupVars.filter((v) => process.env[v] !== undefined);
const sampleEnv = { ...process.env, NODE_OPTIONS: '' };
for (const v of removedVars) delete sampleEnv[v];

/** One contestant: a label and the node arguments of one fresh process. */
function contestants() {
  const list = [{ name: 'node -e 0', args: ['-e', '0'] }];
  for (const v of removedVars) list.push({ name: `node -e 0 with ${v} (as set here)`, args: ['-e', '0'], env: { [v]: process.env[v] } });
  for (const { label, dir } of libs) {
    const index = pathToFileURL(join(dir, 'index.js')).href;
    const tag = libs.length > 1 ? `${label}: ` : '';
    list.push({
      lib: label,
      name: `${tag}import`,
      args: [
        '--input-type=module',
        '-e',
        `const t = performance.now(); await import(${JSON.stringify(index)}); process.stdout.write(JSON.stringify({ inside: performance.now() - t }));`,
      ],
    });
    list.push({ lib: label, name: `${tag}require`, args: ['-e', `require(${JSON.stringify(join(dir, 'index.js'))})`] });
    // The first use of parts dist/ loads later (dist/chunks/lib-*.cjs): reading an object.
    const object = join(repo, 'testdata', 'minimal.bpfel.o');
    list.push({ lib: label, name: `${tag}import + spec`, args: ['--input-type=module', '-e', `const m = await import(${JSON.stringify(index)}); m.parseCollectionSpec(process.getBuiltinModule('node:fs').readFileSync(${JSON.stringify(object)}));`] });
    list.push({ lib: label, name: `${tag}cli --help`, args: [join(dir, 'cli', 'main.js'), '--help'] });
    if (process.getuid?.() === 0) {
      // ...and loading it into the kernel (one socket filter program).
      list.push({ lib: label, name: `${tag}import + load`, args: ['--input-type=module', '-e', `const m = await import(${JSON.stringify(index)}); (await m.loadCollection(${JSON.stringify(object)})).close();`] });
      list.push({ lib: label, name: `${tag}cli prog list`, args: [join(dir, 'cli', 'main.js'), 'prog', 'list'] });
      list.push({ lib: label, name: `${tag}cli prog list, no code cache`, args: [join(dir, 'cli', 'main.js'), 'prog', 'list'], env: { EBPF_TS_CODE_CACHE: 'off' } });
    }
  }
  const wanted = process.env.BENCH_ROWS?.split(',').map((r) => r.trim());
  return wanted === undefined ? list : list.filter((c) => c.name.startsWith('node -e 0') || wanted.some((w) => c.name.endsWith(w)));
}

// Preloaded into every sample (the same small cost for all): at exit, the process's CPU time
// (user + system, all threads) on fd 3. CPU time suffers less than wall time from other
// work on a shared machine.
const reporter = join(tmpdir(), `ebpf-ts-bench-startup-${process.pid}.cjs`);
const codeCache = join(tmpdir(), `ebpf-ts-bench-startup-${process.pid}-code-cache`);
writeFileSync(reporter, "process.on('exit', () => { const u = process.cpuUsage(); require('fs').writeSync(3, String((u.user + u.system) / 1000)); });\n");

function sample(c) {
  const t0 = process.hrtime.bigint();
  // A contestant with its own `cmd` (bpftool) is timed from the outside only.
  const r = spawnSync(c.cmd ?? process.execPath, c.cmd === undefined ? ['--require', reporter, ...c.args] : c.args, {
    encoding: 'utf8',
    env: { ...sampleEnv, EBPF_TS_CODE_CACHE: join(codeCache, c.lib ?? 'none'), ...c.env },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${c.name}: exit ${r.status ?? r.signal}\n${r.stderr}`);
  const inside = c.name.endsWith('import') ? JSON.parse(r.stdout).inside : undefined;
  return { ms, cpu: c.cmd === undefined ? Number(r.output[3]) : undefined, inside };
}

/** Every contestant once untimed (the page cache holds every file), then `runs` rotated rounds into `raw`. */
function rounds(list, raw) {
  for (const c of list) sample(c);
  for (const c of list) raw[c.name] = { ms: [], cpu: [], inside: [] };
  for (let round = 0; round < runs; round++) {
    for (let i = 0; i < list.length; i++) {
      const c = list[(i + round) % list.length];
      const s = sample(c);
      raw[c.name].ms.push(s.ms);
      raw[c.name].cpu.push(s.cpu);
      if (s.inside !== undefined) raw[c.name].inside.push(s.inside);
    }
  }
}

/** Number of programs loaded for the "programs loaded" listing rows. */
const LOADED_PROGRAMS = 20;

/**
 * As root, with bpftool on PATH and the rows wanted: loads LOADED_PROGRAMS socket filter
 * programs into this process and returns the listing contestants to time while they are
 * loaded, with the function that unloads them.
 */
async function loadedContestants() {
  const wanted = process.env.BENCH_ROWS?.split(',').map((r) => r.trim());
  if (process.getuid?.() !== 0 || (wanted !== undefined && !wanted.some((w) => w.includes('loaded')))) return undefined;
  if (spawnSync('bpftool', ['version'], { stdio: 'ignore' }).status !== 0) {
    console.error('bench/startup.mjs: bpftool not found: the "programs loaded" rows are left out');
    return undefined;
  }
  const { dir } = libs[0];
  const m = await import(pathToFileURL(join(dir, 'index.js')).href);
  const object = join(repo, 'testdata', 'minimal.bpfel.o');
  const held = [];
  for (let i = 0; i < LOADED_PROGRAMS; i++) held.push(await m.loadCollection(object));
  const tail = `${LOADED_PROGRAMS} programs loaded`;
  return {
    list: [
      { lib: 'dist', name: `cli prog list, ${tail}`, args: [join(dir, 'cli', 'main.js'), 'prog', 'list'] },
      { name: `bpftool prog list, ${tail}`, cmd: 'bpftool', args: ['prog', 'list'] },
    ],
    close: () => {
      for (const c of held) c.close();
    },
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  for (const { dir } of libs) {
    if (!existsSync(join(dir, 'index.js'))) {
      console.error(`bench/startup.mjs: ${dir}/index.js missing; run npm run build (or set BENCH_DIST)`);
      return 1;
    }
  }
  const list = contestants();
  const load0 = loadavg()[0];
  const raw = {};
  rounds(list, raw);
  // Listing with programs loaded, as a user would run it: our listing beside bpftool's, with
  // the same programs held by this process.
  const loaded = await loadedContestants();
  if (loaded !== undefined) {
    rounds(loaded.list, raw);
    loaded.close();
    list.push(...loaded.list);
  }
  const load1 = loadavg()[0];
  const floor = median(raw['node -e 0'].ms);
  const cpuFloor = median(raw['node -e 0'].cpu);
  const rows = list.map((c) => {
    const ms = median(raw[c.name].ms);
    const cpu = c.cmd === undefined ? median(raw[c.name].cpu) : undefined;
    const inside = raw[c.name].inside.length > 0 ? median(raw[c.name].inside) : undefined;
    return { name: c.name, ms, overFloor: ms - floor, cpu, cpuOverFloor: cpu === undefined ? undefined : cpu - cpuFloor, inside, min: Math.min(...raw[c.name].ms), max: Math.max(...raw[c.name].ms) };
  });
  const f = (x) => (x === undefined ? '' : x.toFixed(1));
  console.log(`${runs} rounds, medians, ms; load average ${load0.toFixed(2)} → ${load1.toFixed(2)}; Node ${process.version}`);
  if (removedVars.length > 0) console.log(`removed from the samples' environment (Node start-up work, not ours): ${removedVars.join(', ')}`);
  console.log('| process | wall | over `node -e 0` | wall range | CPU time | CPU over `node -e 0` | import() inside |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const base = r.name.startsWith('node -e 0') || r.name.startsWith('bpftool');
    console.log(`| ${r.name} | ${f(r.ms)} | ${base ? '—' : `+${f(r.overFloor)}`} | ${f(r.min)}–${f(r.max)} | ${f(r.cpu)} | ${base || r.cpu === undefined ? '—' : `+${f(r.cpuOverFloor)}`} | ${f(r.inside)} |`);
  }
  const imp = rows.find((r) => r.name === (libs.length > 1 ? 'dist: import' : 'import'));
  if (imp !== undefined) {
    console.log(`goal (issue 14): import over node -e 0 ≤ 30 ms: ${imp.overFloor <= 30 ? 'PASS' : 'MISS'} (+${f(imp.overFloor)} ms)`);
  }
  mkdirSync(dirname(outFile), { recursive: true });
  const machine = { kernel: release(), cpus: cpus().length, node: process.version, loadAverage: { before: load0, after: load1 } };
  writeFileSync(outFile, `${JSON.stringify({ date: new Date().toISOString(), machine, runs, libs, removedVars, rows, raw }, null, 1)}\n`);
  return 0;
}

try {
  process.exitCode = await main();
} finally {
  rmSync(reporter, { force: true });
  rmSync(codeCache, { recursive: true, force: true });
}
