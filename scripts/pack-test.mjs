#!/usr/bin/env node
// Proves that the packed tarball installs and works where no compiler exists (`npm run
// test:pack`, as root: it creates a BPF map):
//
//   1. `npm pack` (prepack builds dist/ and prebuilds/) into a temp dir, and check that the
//      tarball carries both prebuilt addons and no build/ directory;
//   2. create an empty project elsewhere and `npm install <tarball>` with npm's default
//      settings, under a PATH holding only node, npm and sh (cc, g++, make must not be found);
//   3. in that project, `import('ebpf-ts')` and `require('ebpf-ts')`, check the backend is
//      the native one loaded from prebuilds/, and create and close an array map through it;
//   4. run the package's install script there: a no-op with the prebuilt, a warning (exit 0)
//      naming the ffi-rs fallback when neither a prebuilt nor a compiler is available.
//
// EBPF_TS_PACK_IGNORE_SCRIPTS=1 packs with --ignore-scripts after running `tsc` and
// scripts/prebuild.mjs directly (for when the prepack chain itself is under repair).
// EBPF_TS_PACK_KEEP=1 keeps the temp dir for inspection.
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const work = mkdtempSync(join(tmpdir(), 'ebpf-ts-pack-'));
const step = (msg) => console.log(`pack-test: ${msg}`);

/** Runs a command, echoing it; throws with its output on failure. */
function run(cmd, args, opts = {}) {
  step(`$ ${cmd} ${args.join(' ')}${opts.cwd ? `   (in ${opts.cwd})` : ''}`);
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** The environment of the parent minus npm's lifecycle variables (they would leak settings). */
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE') env[k] = v;
  }
  return { ...env, ...extra };
}

function main() {
  // 1. Pack.
  const packDir = join(work, 'pack');
  mkdirSync(packDir);
  const npmCli = realpathSync(join(dirname(process.execPath), 'npm'));
  const packArgs = ['pack', '--pack-destination', packDir];
  if (process.env.EBPF_TS_PACK_IGNORE_SCRIPTS === '1') {
    run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    run(process.execPath, [join(root, 'scripts', 'prebuild.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    packArgs.push('--ignore-scripts');
  }
  run(process.execPath, [npmCli, ...packArgs], { cwd: root, env: cleanEnv({}), stdio: ['ignore', 'pipe', 'inherit'] });
  const tgz = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  if (tgz === undefined) throw new Error('npm pack produced no tarball');
  const tarball = join(packDir, tgz);
  const listing = run('tar', ['-tzf', tarball]).split('\n');
  for (const want of [
    'package/prebuilds/linux-x64/ebpf_ts.node',
    'package/prebuilds/linux-arm64/ebpf_ts.node',
    'package/native/ebpf_ts.cc',
    'package/binding.gyp',
    'package/scripts/install.mjs',
    // The bundled layout (scripts/build.mjs): entry points, their source maps, tsc's types.
    'package/dist/index.js',
    'package/dist/index.js.map',
    'package/dist/index.d.ts',
    'package/dist/cjs/index.d.ts',
    'package/dist/cli/main.js',
    // The examples run from the installed package, with the C they were built from.
    'package/examples/execsnoop.mjs',
    'package/examples/lib/common.mjs',
    ...['execsnoop', 'writesnoop', 'sockalloc', 'printk'].flatMap((n) => [`package/testdata/${n}.bpf.c`, `package/testdata/${n}.bpfel.o`, `package/testdata/${n}.bpfeb.o`]),
  ]) {
    if (!listing.includes(want)) throw new Error(`tarball lacks ${want}`);
  }
  const stray = listing.filter((f) => f.startsWith('package/build/') || f.startsWith('package/node_modules/'));
  if (stray.length > 0) throw new Error(`tarball carries build output: ${stray.slice(0, 5).join(', ')}`);
  // Only the bundle's JavaScript: no file of the one-module-per-source layout rides along.
  const unbundled = listing.filter((f) => /^package\/dist\/.*\.js$/.test(f) && !/^package\/dist\/(index|cli\/main|chunks\/[\w-]+)\.js$/.test(f));
  if (unbundled.length > 0) throw new Error(`tarball carries JavaScript outside the bundle: ${unbundled.slice(0, 5).join(', ')}`);
  step(`${tgz}: ${listing.filter(Boolean).length} files, both prebuilds present`);

  // 2. A PATH with node and npm only.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(npmCli, join(bin, 'npm'));
  // npm runs lifecycle scripts through `sh`; a machine without a compiler still has a shell.
  symlinkSync('/bin/sh', join(bin, 'sh'));
  const env = cleanEnv({ PATH: bin });
  for (const tool of ['cc', 'gcc', 'c++', 'g++', 'clang', 'make', 'python3']) {
    // `command -v` through an absolute /bin/sh: the shell itself is not looked up on PATH.
    const r = spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env, encoding: 'utf8' });
    if (r.status === 0) throw new Error(`${tool} is reachable on the test PATH (${r.stdout.trim()})`);
  }
  step(`PATH=${bin}: no cc, gcc, c++, g++, clang, make or python3`);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'pack-test-app', version: '1.0.0', private: true }, null, 2));
  run(join(bin, 'npm'), ['install', tarball], { cwd: app, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const installed = join(app, 'node_modules', 'ebpf-ts');
  if (readdirSync(installed).includes('build')) throw new Error('the install built from source; the prebuilt was expected');

  // 3. Use it, as ESM and as CommonJS.
  const check = `
    const kind = b.kind, path = b.addonPath ?? '';
    if (kind !== 'native') throw new Error('backend is ' + kind + ', expected native');
    if (!path.includes('/prebuilds/linux-' + process.arch + '/')) throw new Error('addon loaded from ' + path);
    const map = m.BpfMap.create({ name: 'pack_test', type: m.MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 });
    const key = new Uint8Array(4), value = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    map.update(key, value);
    const got = map.lookup(key);
    if (got === undefined || got[7] !== 8) throw new Error('lookup returned ' + got);
    const fd = map.fd;
    map.close();
    console.log(MODE + ': backend ' + kind + ' from ' + path + ', map fd ' + fd + ' created and closed');
  `;
  writeFileSync(
    join(app, 'esm.mjs'),
    `const MODE = 'import'; const m = await import('ebpf-ts'); const b = m.backend();\n${check}`,
  );
  writeFileSync(
    join(app, 'cjs.cjs'),
    `const MODE = 'require'; const m = require('ebpf-ts'); const b = m.backend();\n${check}`,
  );
  for (const file of ['esm.mjs', 'cjs.cjs']) {
    process.stdout.write(run(join(bin, 'node'), [file], { cwd: app, env }));
  }
  // Stack traces name src/ files through the bundle's source maps (the sources themselves are
  // not shipped: the path and line are what a bug report needs).
  writeFileSync(
    join(app, 'stack.mjs'),
    `const m = await import('ebpf-ts');\ntry { m.BpfMap.create({ type: m.MapType.Array, keySize: 4, valueSize: 0, maxEntries: 0 }); } catch (e) { console.log(e.stack); }\n`,
  );
  const stack = run(join(bin, 'node'), ['--enable-source-maps', 'stack.mjs'], { cwd: app, env });
  if (!/\/src\/map\.ts:\d+/.test(stack)) throw new Error(`--enable-source-maps stack does not name src/map.ts:\n${stack}`);
  step(`--enable-source-maps: ${stack.split('\n').find((l) => l.includes('/src/map.ts'))?.trim()}`);
  // The bin, as npm linked it.
  const help = run(join(app, 'node_modules', '.bin', 'ebpf-ts'), ['--help'], { cwd: app, env });
  if (!help.startsWith('Usage: ebpf-ts')) throw new Error(`ebpf-ts --help printed:\n${help}`);
  step('node_modules/.bin/ebpf-ts --help runs');

  // 3b. TypeScript consumers, strict, with node16 resolution: an ES module (.mts) and a
  // CommonJS file (.cts, what a project without "type": "module" compiles to) both get the
  // package's types (the "import" and "require" conditions). Compiled with this checkout's tsc.
  const types = `import { BpfMap, MapType, type MapSpec } from 'ebpf-ts';\nconst spec: MapSpec = { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 };\nexport const open = (): BpfMap => BpfMap.create(spec);\n`;
  writeFileSync(join(app, 'types-esm.mts'), types);
  writeFileSync(join(app, 'types-cjs.cts'), types);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'es2022', lib: ['esnext'], strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['types-esm.mts', 'types-cjs.cts'] }),
  );
  run(join(bin, 'node'), [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app, env });
  step('TypeScript (module node16, strict): the types import into an ES module and into a CommonJS file');

  // 4. The demo shipped in the package (README's `npm run demo`), on both backends: load a
  // program, testRun it, read the map it counted into.
  const demo = join(installed, 'examples', 'demo.mjs');
  for (const backendName of ['native', 'ffi-rs']) {
    const out = run(join(bin, 'node'), [demo], { cwd: app, env: { ...env, EBPF_TS_BACKEND: backendName } });
    if (!/returned 50/.test(out) || !/\(runs\) = 10/.test(out)) throw new Error(`demo (${backendName}) printed:\n${out}`);
    step(`demo on the ${backendName} backend: ${out.split('\n')[0]}`);
  }

  // 5. The install script itself, as npm would run it if allowed: with the prebuilt present it
  // does nothing; without one and without a compiler it warns about ffi-rs and still exits 0.
  const script = join(installed, 'scripts', 'install.mjs');
  const quiet = spawnSync(join(bin, 'node'), [script], { cwd: installed, env, encoding: 'utf8' });
  if (quiet.status !== 0 || quiet.stderr !== '') {
    throw new Error(`install.mjs with a prebuilt: exit ${quiet.status}, stderr ${quiet.stderr}`);
  }
  const pre = join(installed, 'prebuilds');
  renameSync(pre, `${pre}.hidden`);
  try {
    const r = spawnSync(join(bin, 'node'), [script], { cwd: installed, env, encoding: 'utf8' });
    if (r.status !== 0 || !r.stderr.includes('ffi-rs fallback')) {
      throw new Error(`install.mjs without prebuilt or compiler: exit ${r.status}, stderr:\n${r.stderr}`);
    }
    step('install.mjs without a prebuilt and without a compiler: warns about ffi-rs, exits 0');
  } finally {
    renameSync(`${pre}.hidden`, pre);
  }
  step('OK');
}

let failed = false;
try {
  main();
} catch (err) {
  failed = true;
  console.error(`pack-test: FAILED: ${err.stack ?? err}`);
} finally {
  if (process.env.EBPF_TS_PACK_KEEP === '1') step(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
