#!/usr/bin/env node
// `npm run build`: the published dist/, a few bundled ES modules instead of one file per
// source file (Node's ESM loader spends more time resolving ~200 files than running them):
//
//   1. tsc emits the declarations only (dist/**/*.d.ts and their maps: the types users see
//      are tsc's, file for file as before);
//   2. esbuild bundles the two entry points, src/index.ts (the package) and src/cli/main.ts
//      (the `ebpf-ts` bin), into dist/index.js and dist/cli/main.js, in two builds (below:
//      why). Every `import()` in src/ (a part loaded on first use: each CLI command, the
//      generator, …) becomes a file of its own in dist/chunks/, loaded only when that line
//      runs, and so does code several outputs of one build share. Dependencies (elfy,
//      ffi-rs) and node: modules stay imports.
//      Source maps (dist/**/*.js.map, without the sources) name src/ files in stack traces
//      under `node --enable-source-maps`;
//   3. scripts/cjs-types.mjs copies the declarations for CommonJS TypeScript consumers.
//
// At run time the bundle finds the addon and ffi-rs as before: both are looked up from
// import.meta.url of the file that runs (the package root is the nearest package.json named
// ebpf-ts above it), wherever in dist/ that file is.
//
// Flags: --outdir=<dir> builds the JavaScript elsewhere (measurements; implies --no-types),
// --metafile=<path> writes esbuild's metafile there (what went into which output, in
// bytes: `npx esbuild --analyze` style questions); --no-types skips step 1 and 3 (quick
// rebuilds of the JavaScript while measuring).
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const dist = resolve(root, args.find((a) => a.startsWith('--outdir='))?.slice('--outdir='.length) ?? 'dist');
const metafile = args.find((a) => a.startsWith('--metafile='))?.slice('--metafile='.length);
const types = !args.includes('--no-types') && dist === join(root, 'dist');

function run(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build: ${[cmd, ...cmdArgs].join(' ')} exited ${r.status ?? r.signal}`);
    process.exit(1);
  }
}

// A clean slate: no file of an older layout (one .js per source file) is shipped by accident.
rmSync(dist, { recursive: true, force: true });

if (types) run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--emitDeclarationOnly']);

const common = {
  absWorkingDir: root,
  outdir: dist,
  outbase: 'src',
  // A lazily loaded part keeps its source file's name (dist/chunks/cli-run-HASH.js).
  entryNames: '[dir]/[name]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // Names of classes and functions as written: error classes, `constructor.name` and stack
  // frames read the same as from src/, even where two modules use the same name.
  keepNames: true,
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
};
// Two builds, so that neither splits the other's code: esbuild makes a chunk for each set of
// outputs that share code, and with the CLI's commands (each an import() of its own) in the
// same build the package index would load ~35 files instead of 5 (+30 ms at import). The
// CLI's chunks carry their own copy of the library code they use; the bin never loads
// dist/index.js.
const library = await build({ ...common, entryPoints: ['src/index.ts'], chunkNames: 'chunks/[name]-[hash]' });
const cli = await build({ ...common, entryPoints: ['src/cli/main.ts'], chunkNames: 'chunks/cli-[name]-[hash]' });
if (metafile !== undefined) {
  const merged = { inputs: { ...library.metafile.inputs, ...cli.metafile.inputs }, outputs: { ...library.metafile.outputs, ...cli.metafile.outputs } };
  writeFileSync(metafile, JSON.stringify(merged));
}

if (types) run(process.execPath, [join(root, 'scripts', 'cjs-types.mjs')]);
