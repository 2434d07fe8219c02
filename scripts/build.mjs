#!/usr/bin/env node
// `npm run build`: the published dist/, a few bundled ES modules instead of one file per
// source file (Node's ESM loader spends more time resolving ~200 files than running them):
//
//   1. tsc emits the declarations only (dist/**/*.d.ts and their maps: the types users see
//      are tsc's, file for file as before);
//   2. esbuild bundles the two entry points, src/index.ts (the package) and src/cli/main.ts
//      (the `ebpf-ts` bin), into dist/index.js and dist/cli/main.js, in separate builds
//      (below: why). The CLI's command table and its groups of commands, each loaded on first
//      use, are standalone scripts in dist/chunks/ (cli-*.js, compiled by src/cli/code-cache.ts
//      through V8's code cache). Parts of the package few programs use are CommonJS files
//      dist/chunks/lib-*.cjs that the index loads on first use (lazyGroups, below), and the
//      index itself becomes dist/chunks/index.cjs behind a small ES module entry that
//      compiles both through V8's code cache (splitEntry, below). Dependencies (elfy, ffi-rs)
//      stay imports; node: modules become process.getBuiltinModule() look-ups. The outputs
//      are then made ASCII and keepNames' redundant calls blanked (postProcess, below).
//      Source maps (dist/**/*.js.map, without the sources) name src/ files in stack traces
//      under `node --enable-source-maps` (the package; not the command's vm.Script chunks);
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
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { splitModule } from './build-split.mjs';

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

// `node:` modules through process.getBuiltinModule() (Node 20.16+) instead of `import`: an
// ES module import of a builtin builds a module namespace from every export, which runs the
// lazy getters too (`import { readFileSync } from 'node:fs'` loads ~20 stream modules for
// fs.ReadStream, ~2.5 ms), and each builtin costs the ESM loader a module of its own. The
// stand-in module exports the names src/ imports from it, read once at load. A lazy getter
// (fs.promises, fs.ReadStream, …) is refused, so that no import loads one at start-up.
function builtinImports() {
  const names = new Map(); // 'node:fs' → Set of imported names ('default', '*')
  const add = (mod, name) => (names.get(mod) ?? names.set(mod, new Set()).get(mod)).add(name);
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/^import\s+(type\s+)?([^'";]*?)\s+from\s+'(node:[\w/]+)'/gm)) {
          if (m[1] !== undefined) continue;
          const clause = m[2];
          if (clause.startsWith('* as ')) add(m[3], '*');
          const def = /^([\w$]+)\s*(,|$)/.exec(clause);
          if (def !== null) add(m[3], 'default');
          const braces = /\{([^}]*)\}/.exec(clause);
          for (const item of braces?.[1].split(',') ?? []) {
            const name = item.trim().split(/\s+as\s+/)[0];
            if (name !== '' && !name.startsWith('type ')) add(m[3], name);
          }
        }
      }
    }
  };
  walk(join(root, 'src'));
  return names;
}
const builtins = {
  name: 'node-builtins',
  setup(b) {
    const imported = builtinImports();
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (a) => {
      const mod = process.getBuiltinModule(a.path);
      const props = Object.getOwnPropertyDescriptors(mod);
      const wanted = imported.get(a.path) ?? new Set();
      const names = wanted.has('*') ? Object.keys(props).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n)) : [...wanted].filter((n) => n !== 'default');
      for (const n of names) {
        if (props[n] === undefined) return { errors: [{ text: `${a.path} has no export ${n} in Node ${process.version}` }] };
        if (!('value' in props[n])) return { errors: [{ text: `${a.path}'s ${n} is a lazy getter: look it up where it is used (process.getBuiltinModule) so that the import does not load it` }] };
      }
      const m = `m_${a.path.slice(5).replace(/\W/g, '_')}`;
      return {
        contents: `const ${m} = process.getBuiltinModule(${JSON.stringify(a.path)});\nexport default ${m};\n${names.map((n) => `export const ${n} = ${m}.${n};`).join('\n')}\n`,
        loader: 'js',
      };
    });
  },
};

const common = {
  absWorkingDir: root,
  outdir: dist,
  bundle: true,
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
  plugins: [builtins],
};

// Parts of the package loaded on first use. V8 compiles a module's whole text when it is
// imported (its preparser skims every function body: ~70% of what the import costs), so code
// few programs run is kept out of dist/index.js: each group below is a CommonJS file,
// dist/chunks/lib-<group>.cjs, that the index compiles (through V8's code cache: the entry,
// below) the first time one of its functions is called. The library's API is synchronous, so
// the chunk cannot be an import().
//
// How: in dist/index.js each listed module is a stand-in exporting a function of the same
// name for each of the module's exported functions, which loads the group's chunk and calls
// the real one. The chunk holds the listed modules and what only they import; what they
// import from modules the index holds is not copied but read from the index's own bindings
// (an object of getters per module, made when the chunk loads), so classes, caches and
// instanceof stay one. A listed module may therefore export only functions (and types) to the
// rest of the package: the build fails when the index imports anything else from it, and when
// importing dist/index.js loads a chunk (a stand-in called by some module's top level).
const lazyGroups = {
  // The object linker (linkObjects, elf.linkELF), the C formatter (btf.dumpCHeader,
  // formatType), the disassembler.
  rare: ['src/collection-link.ts', 'src/elf/linker.ts', 'src/elf/writer.ts', 'src/btf/format.ts', 'src/asm/disasm.ts', 'src/asm/format.ts', 'src/profile/symbolizer.ts', 'src/link/trace-pipe.ts', 'src/profile/stack-trace.ts', 'src/profile/kernel-symbols.ts', 'src/profile/binary-symbols.ts', 'src/profile/perf-map.ts'],
  // Attach types most programs do not use: tc (netlink), socket filters, the legacy
  // BPF_PROG_ATTACH path and program queries, uprobes and tracefs probe events.
  attach: [
    'src/link/tc.ts',
    'src/link/socket-filter.ts',
    'src/link/raw.ts',
    'src/link/query.ts',
    'src/link/uprobe.ts',
    'src/link/probe-events.ts',
    'src/link/xdp.ts',
    'src/link/cgroup.ts',
    'src/link/sockmap.ts',
    'src/link/netfilter.ts',
    'src/link/attach-target.ts',
    'src/link/freplace.ts',
    'src/link/perf-event-cpus.ts',
    'src/link/mprog-placement.ts',
    'src/internal/cgroup.ts',
    'src/internal/socket-fd.ts',
    'src/internal/netns.ts',
    'src/internal/netlink.ts',
    'src/link/link.ts',
    'src/link/executable.ts',
    'src/link/iter.ts',
    'src/link/tcx.ts',
    'src/link/netkit.ts',
    'src/link/netns.ts',
    'src/link/struct-ops.ts',
    'src/internal/mountinfo.ts',
  ],
  // Multi-probe links and USDT.
  probe: [
    'src/link/kprobe.ts',
    'src/link/kprobe-multi.ts',
    'src/link/uprobe-multi.ts',
    'src/link/multi-link-info.ts',
    'src/link/usdt.ts',
    'src/link/usdt-args.ts',
    'src/link/usdt-spec.ts',
    'src/link/tracepoint.ts',
    'src/link/raw-tracepoint.ts',
    'src/link/tracing-target.ts',
    'src/link/perf-event.ts',
    'src/internal/kallsyms.ts',
    'src/internal/tracefs.ts',
  ],
  // Reading an object file's programs, maps and relocations (loadCollectionSpec).
  elf: [
    'src/elf/reader.ts',
    'src/elf/code.ts',
    'src/elf/maps.ts',
    'src/elf/data.ts',
    'src/elf/references.ts',
    'src/elf/struct-ops.ts',
    'src/btf/ext.ts',
  ],
  // Loading a collection into the kernel: CO-RE, BTF fixed up, sanitised and marshalled for
  // the kernel, externs, struct_ops.
  load: [
    'src/btf/marshal.ts',
    'src/btf/fixup.ts',
    'src/btf/sanitize.ts',
    'src/btf/core.ts',
    'src/btf/core-access.ts',
    'src/btf/core-compat.ts',
    'src/collection.ts',
    'src/collection-externs.ts',
    'src/collection-struct-ops.ts',
    'src/struct-ops.ts',
    'src/struct-ops-layout.ts',
    'src/btf-handle.ts',
  ],
  // The ffi-rs backend, used only where the native addon cannot load.
  ffi: ['src/sys/backend-ffi.ts'],
};
// A grouped module whose exported classes or constants only its group uses names what the
// rest of the package imports from it (the rest stays in the chunk; a name missing here fails
// the index's build: "No matching export"). Not for a module some other one re-exports with
// `export *`, whose missing names nothing would report (checked).
const indexUses = {
  'src/internal/netlink.ts': ['NetlinkError'],
};
for (const f of Object.keys(indexUses)) {
  const rel = relative(join(root, 'src'), resolve(root, f)).replace(/\.ts$/, '.js');
  const star = (dir) => readdirSync(dir, { withFileTypes: true }).some((e) => (e.isDirectory() ? star(join(dir, e.name)) : e.name.endsWith('.ts') && new RegExp(`^export \\* from '[./]*${rel.split('/').pop().replaceAll('.', '\\.')}'`, 'm').test(readFileSync(join(dir, e.name), 'utf8'))));
  if (star(join(root, 'src'))) throw new Error(`build: ${f} is re-exported with export *: indexUses cannot apply to it`);
}
const lazyModules = new Map(Object.entries(lazyGroups).flatMap(([g, files]) => files.map((f) => [resolve(root, f), g])));
const splits = new Map([...lazyModules.keys()].map((f) => [f, splitModule(f, indexUses[relative(root, f)])]));
const lazyId = (f) => f.replace(/\W/g, '_');
/** Plugin of the index build: the stand-ins, and per group the loader of its chunk. */
function lazyStandIns(shared) {
  return {
    name: 'lazy-stand-ins',
    setup(b) {
      b.onResolve({ filter: /^[./]/ }, async (a) => {
        if (a.pluginData === 'lazy-stand-ins') return undefined;
        const r = await b.resolve(a.path, { kind: a.kind, importer: a.importer, resolveDir: a.resolveDir, pluginData: 'lazy-stand-ins' });
        return r.errors.length === 0 && lazyModules.has(r.path) ? { path: relative(root, r.path), namespace: 'ebpf-ts-stand-in' } : r;
      });
      b.onLoad({ filter: /.*/, namespace: 'ebpf-ts-stand-in' }, (a) => {
        const path = resolve(root, a.path);
        const { eager, eagerExports, lazyFunctions } = splits.get(path);
        const eagerId = JSON.stringify(`ebpf-ts-eager:${a.path}`);
        const lines = [`import { load } from 'ebpf-ts-lazy:${lazyModules.get(path)}';`];
        if (eager !== null) lines.push(eagerExports === null ? `export * from ${eagerId};` : eagerExports.length > 0 ? `export { ${eagerExports.join(', ')} } from ${eagerId};` : `import ${eagerId};`);
        for (const f of lazyFunctions) lines.push(`export function ${f}(...args) { return load().${lazyId(a.path)}.${f}(...args); }`);
        return { contents: `${lines.join('\n')}\n`, loader: 'js', resolveDir: root };
      });
      // Stand-ins of the functions an eager part's class methods call (splitModule's stubs).
      b.onResolve({ filter: /^ebpf-ts-stubs:/ }, (a) => ({ path: a.path.slice('ebpf-ts-stubs:'.length), namespace: 'ebpf-ts-stubs' }));
      b.onLoad({ filter: /.*/, namespace: 'ebpf-ts-stubs' }, (a) => ({
        contents: [
          `import { load } from 'ebpf-ts-lazy:${lazyModules.get(a.path)}';`,
          ...splits.get(a.path).stubs.map((f) => `export function ${f}(...args) { return load().${lazyId(relative(root, a.path))}.${f}(...args); }`),
        ].join('\n'),
        loader: 'js',
      }));
      b.onResolve({ filter: /^ebpf-ts-eager:/ }, (a) => ({ path: a.path.slice('ebpf-ts-eager:'.length), namespace: 'ebpf-ts-eager' }));
      b.onLoad({ filter: /.*/, namespace: 'ebpf-ts-eager' }, (a) => ({ contents: splits.get(resolve(root, a.path)).eager, loader: 'ts', resolveDir: dirname(resolve(root, a.path)) }));
      // The stand-ins import only this, which imports nothing: the loader (below) imports
      // the bindings the chunk shares, and an import of those from a stand-in would change the
      // order in which the index's modules run (a class evaluated before the one it extends).
      b.onResolve({ filter: /^ebpf-ts-lazy:/ }, (a) => ({ path: a.path.slice('ebpf-ts-lazy:'.length), namespace: 'ebpf-ts-lazy' }));
      b.onLoad({ filter: /.*/, namespace: 'ebpf-ts-lazy' }, (a) => ({
        contents: `let loader;\n/** ${a.path}'s chunk, loaded on first use. */\nexport function load() {\n  if (loader === undefined) throw new Error('ebpf-ts: chunk ${a.path} called while dist/index.js loads');\n  return loader();\n}\nexport function setLoader(f) {\n  loader = f;\n}\n`,
        loader: 'js',
      }));
      // The index imports each group's loader last, after every module it holds.
      b.onLoad({ filter: /[\\/]src[\\/]index\.ts$/ }, (a) => ({
        contents: `${readFileSync(a.path, 'utf8')}\n${Object.keys(lazyGroups).map((g) => `import 'ebpf-ts-lazy-init:${g}';`).join('\n')}\n`,
        loader: 'ts',
      }));
      b.onResolve({ filter: /^ebpf-ts-lazy-init:/ }, (a) => ({ path: a.path.slice('ebpf-ts-lazy-init:'.length), namespace: 'ebpf-ts-lazy-init' }));
      b.onLoad({ filter: /.*/, namespace: 'ebpf-ts-lazy-init' }, (a) => {
        // Each shared module as an object of the bindings the chunk reads, made when the chunk
        // loads (after the index ran: every one is set): nothing of it runs at import.
        const mods = shared.get(a.path) ?? [];
        const spec = (file) => JSON.stringify(file.startsWith('ebpf-ts-eager:') ? file : resolve(root, file));
        const imports = mods.map(({ file, names }, i) =>
          names === null ? `import * as s${i} from ${spec(file)};` : `import { ${names.map((n) => `${n} as s${i}_${n}`).join(', ')} } from ${spec(file)};`,
        );
        const objects = mods.map(({ names }, i) => (names === null ? `s${i}` : `{ ${names.map((n) => `${n}: s${i}_${n}`).join(', ')} }`));
        return {
          contents: [
            "import { loadChunk } from 'ebpf-ts-lazy-runtime';",
            `import { setLoader } from 'ebpf-ts-lazy:${a.path}';`,
            ...imports,
            'let chunk;',
            `setLoader(() => chunk ??= loadChunk(${JSON.stringify(`lib-${a.path}`)}, () => [`,
            ...objects.map((o) => `  ${o},`),
            ']));',
          ].join('\n'),
          loader: 'js',
          resolveDir: root,
        };
      });
      // The chunk compiled by dist/index.js's loader (__ebpfTsChunk: internal/code-cache.ts,
      // through V8's code cache), which hands the body of the package that function.
      b.onResolve({ filter: /^ebpf-ts-lazy-runtime$/ }, () => ({ path: 'runtime', namespace: 'ebpf-ts-lazy-runtime' }));
      b.onLoad({ filter: /.*/, namespace: 'ebpf-ts-lazy-runtime' }, () => ({
        contents: [
          '/** Loads dist/chunks/<name>.cjs and runs it with the bindings it shares with the index. */',
          'export function loadChunk(name, shared) {',
          '  return __ebpfTsChunk(name)(shared(), import.meta.url);',
          '}',
        ].join('\n'),
        loader: 'js',
      }));
    },
  };
}
/** The bindings a chunk reads from each shared module (esbuild's CommonJS output reads `import_x.name`); null: the whole namespace. */
function sharedNames(text, files) {
  const requireOf = new Map([...text.matchAll(/^var (require_[\w$]+) = __commonJS\(\{\n\s*"ebpf-ts-shared:([^"]+)"/gm)].map((m) => [m[1], m[2]]));
  const names = new Map(files.map((f) => [f, new Set()]));
  for (const m of text.matchAll(/^var (import_[\w$]+) = (?:__toESM\()?(require_[\w$]+)\(\)/gm)) {
    const file = requireOf.get(m[2]);
    if (file === undefined) continue;
    for (const use of text.matchAll(new RegExp(`\\b${m[1].replaceAll('$', '\\$')}\\b(\\.[\\w$]+)?`, 'g'))) {
      if (use.index === m.index + 4) continue; // the declaration
      if (use[1] === undefined) names.set(file, null);
      else names.get(file)?.add(use[1].slice(1));
    }
  }
  return files.map((file) => ({ file, names: names.get(file) === null ? null : [...names.get(file)].sort() }));
}
const indexOptions = { ...common, entryPoints: ['src/index.ts'], outbase: 'src', entryNames: '[dir]/[name]', splitting: true, chunkNames: 'chunks/[name]-[hash]', define: { 'import.meta.url': '__ebpfTsUrl' } };
// First the index without the chunks' shared modules, to learn which modules it holds; then
// each chunk, which imports those from the index; then the index again, handing the chunks
// the modules they import.
const probe = await build({ ...indexOptions, write: false, plugins: [builtins, lazyStandIns(new Map())] });
const inIndex = new Set(Object.keys(probe.metafile.inputs).filter((f) => f.startsWith('src/')));
const sharedOf = new Map();
const lazyOutputs = [];
const inChunk = new Map();
for (const [group, files] of Object.entries(lazyGroups)) {
  // Twice: the first build's output says which bindings the chunk reads from each shared
  // module (esbuild's CommonJS form reads `import_x.name`); the second takes them as plain
  // constants of the chunk (`const { a, b } = shared[i]`), which its code reads directly
  // instead of through getters (a parse loop calls such functions per instruction).
  let known;
  let chunk;
  let shared;
  for (const pass of [1, 2]) {
  shared = known?.map((m) => m.file) ?? [];
  chunk = await build({
    ...common,
    format: 'cjs',
    entryPoints: { [`chunks/lib-${group}`]: `ebpf-ts-lazy-entry:${group}` },
    outExtension: { '.js': '.cjs' },
    define: { 'import.meta.url': '__ebpfTsUrl' },
    // The chunk is a function of the index's modules it shares and of the index's URL.
    banner: { js: 'module.exports = function (__ebpfTsShared, __ebpfTsUrl) {\n\n"use strict"; const module = { exports: {} };' },
    footer: { js: 'return module.exports;\n};' },
    plugins: [
      builtins,
      {
        name: 'lazy-chunk',
        setup(b) {
          b.onResolve({ filter: /^ebpf-ts-lazy-entry:/ }, () => ({ path: group, namespace: 'ebpf-ts-lazy-entry' }));
          b.onLoad({ filter: /.*/, namespace: 'ebpf-ts-lazy-entry' }, () => ({
            contents: files.map((f) => `export * as ${lazyId(f)} from ${JSON.stringify(resolve(root, f))};`).join('\n'),
            loader: 'js',
            resolveDir: root,
          }));
          // A grouped module: its lazy part, which imports its eager part from the index.
          b.onLoad({ filter: /\.ts$/ }, (a) => {
            const split = splits.get(a.path);
            if (split === undefined || split.eager === null) return undefined;
            const eagerId = JSON.stringify(`ebpf-ts-eager:${relative(root, a.path)}`);
            const tail = [
              split.eagerNames.length > 0 ? `import { ${split.eagerNames.join(', ')} } from ${eagerId};` : '',
              split.eagerExports === null ? `export * from ${eagerId};` : split.eagerExports.length > 0 ? `export { ${split.eagerExports.join(', ')} } from ${eagerId};` : '',
            ];
            return { contents: `${split.lazy}\n${tail.join('\n')}\n`, loader: 'ts' };
          });
          b.onResolve({ filter: /^ebpf-ts-eager:/ }, (a) => {
            if (!shared.includes(a.path)) shared.push(a.path);
            return { path: a.path, namespace: 'ebpf-ts-shared' };
          });
          // A module the index holds: the chunk reads the index's namespace object of it
          // (CommonJS-shaped, so that each use reads the live binding).
          b.onResolve({ filter: /^\./ }, async (a) => {
            if (a.pluginData === 'lazy-chunk') return undefined;
            const r = await b.resolve(a.path, { kind: a.kind, importer: a.importer, resolveDir: a.resolveDir, pluginData: 'lazy-chunk' });
            const rel = relative(root, r.path);
            const other = lazyModules.has(r.path) && lazyModules.get(r.path) !== group; // another chunk's: its stand-in
            if (r.errors.length > 0 || !(inIndex.has(rel) || other)) return r;
            if (!shared.includes(rel)) shared.push(rel);
            return { path: rel, namespace: 'ebpf-ts-shared' };
          });
          b.onLoad({ filter: /.*/, namespace: 'ebpf-ts-shared' }, (a) => {
            const i = shared.indexOf(a.path);
            const names = known?.[i]?.names;
            if (names === undefined || names === null) return { contents: `module.exports = __ebpfTsShared[${i}];`, loader: 'js' };
            return { contents: `const s = __ebpfTsShared[${i}];\n${names.map((n) => `export const ${n} = s.${n};`).join('\n')}\n`, loader: 'js' };
          });
        },
      },
    ],
  });
  if (pass === 1) known = sharedNames(readFileSync(join(dist, 'chunks', `lib-${group}.cjs`), 'utf8'), shared);
  }
  for (const f of Object.keys(chunk.metafile.inputs)) {
    if (!f.startsWith('src/') || inIndex.has(f)) continue;
    if (inChunk.has(f)) throw new Error(`build: ${f} is in the chunks of both ${inChunk.get(f)} and ${group}; one copy of its state each: put the modules that import it in one group`);
    inChunk.set(f, group);
  }
  // A binding the index may still assign (let) would be read once, when the chunk loads.
  for (const { file, names } of known) {
    const source = file.startsWith('ebpf-ts-eager:') ? splits.get(resolve(root, file.slice('ebpf-ts-eager:'.length))).eager : readFileSync(resolve(root, file), 'utf8');
    for (const n of names ?? []) if (new RegExp(`^(?:export )?(?:let|var) ${n.replaceAll('$', '\\$')}\\b`, 'm').test(source)) throw new Error(`build: chunk ${group} reads ${file}'s ${n}, a let: it would see the value it had when the chunk loaded; read it through a function`);
  }
  sharedOf.set(group, known);
  lazyOutputs.push(chunk);
}
const index = await build({ ...indexOptions, plugins: [builtins, lazyStandIns(sharedOf)] });
for (const f of Object.keys(index.metafile.inputs)) if (inChunk.has(f)) throw new Error(`build: ${f} ended up in dist/index.js and in a chunk`);
const outputs = [index, ...lazyOutputs];
for (const o of outputs) postProcess(o);
// The package's body as a script: dist/index.js is a small ES module that compiles
// dist/chunks/index.cjs (esbuild's output for the package, its `export { … }` turned into a
// `return { … }`) and the chunks through V8's code cache (internal/code-cache.ts), then
// exports the body's values. An ES module's code cannot be cached in Node 20 (no
// module.enableCompileCache), and its functions compiled at their first call were most of a
// first loadCollection; a script's are kept in the cache with its top level. The body keeps
// its lines (two lines down, in its map too), so stack traces name its lines, and src/ lines
// under --enable-source-maps (then it is compiled with new Function: see code-cache.ts).
const chunkParams = ['__ebpfTsShared', '__ebpfTsUrl'];
const bodyParams = ['__ebpfTsUrl', '__ebpfTsChunk'];
function splitEntry() {
  const indexPath = join(dist, 'index.js');
  const text = readFileSync(indexPath, 'utf8');
  const block = /\nexport \{\n([\s\S]*?)\n\};\n(?:\/\/# sourceMappingURL=index\.js\.map\n?)?$/.exec(text);
  if (block === null) throw new Error('build: dist/index.js does not end in one export block');
  const before = text.slice(0, block.index);
  if (/^(?:import|export)\b/m.test(before) || /\bimport\.meta\b/.test(before)) throw new Error('build: dist/index.js has an import, export or import.meta besides its export block: the body script cannot');
  const exported = block[1].split(',\n').map((l) => l.trim()).map((e) => {
    const [local, name = local] = e.split(/\s+as\s+/);
    return { local, name };
  });
  for (const { local, name } of exported) {
    if (!/^[A-Za-z_$][\w$]*$/.test(name) || name === 'default') throw new Error(`build: the package exports ${name}, which the entry cannot destructure`);
    if (new RegExp(`^let ${local.replaceAll('$', '\\$')}\\b`, 'm').test(before)) throw new Error(`build: the package exports ${local}, a let: the entry would export the value it had at load`);
  }
  const chunks = join(dist, 'chunks');
  writeFileSync(join(chunks, 'index.cjs'), `module.exports = function (${bodyParams.join(', ')}) {\n\n${before}\nreturn {\n${exported.map((e) => `  ${e.name}: ${e.local},`).join('\n')}\n};\n};\n//# sourceMappingURL=index.cjs.map\n`);
  const map = JSON.parse(readFileSync(`${indexPath}.map`, 'utf8'));
  map.sources = map.sources.map((f) => (/^[\w-]+:/.test(f) ? f : relative(chunks, resolve(dist, f))));
  map.mappings = `;;${map.mappings}`;
  writeFileSync(join(chunks, 'index.cjs.map'), JSON.stringify(map));
  return exported.map((e) => e.name);
}
const entryExports = splitEntry();
const hashOf = (file) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
const scriptHashes = Object.fromEntries(['index', ...Object.keys(lazyGroups).map((g) => `lib-${g}`)].map((n) => [n, hashOf(join(dist, 'chunks', `${n}.cjs`))]));
const entry = await build({
  ...common,
  entryPoints: ['ebpf-ts-entry'],
  outfile: join(dist, 'index.js'),
  outdir: undefined,
  plugins: [
    builtins,
    {
      name: 'entry',
      setup(b) {
        b.onResolve({ filter: /^ebpf-ts-entry$/ }, () => ({ path: 'index.js', namespace: 'ebpf-ts-entry' }));
        b.onLoad({ filter: /.*/, namespace: 'ebpf-ts-entry' }, () => ({
          contents: [
            "import { compileDistScript } from './src/internal/code-cache.ts';",
            "import { fileURLToPath } from 'node:url';",
            `const hashes = ${JSON.stringify(scriptHashes)};`,
            "const chunks = fileURLToPath(new URL('./chunks/', import.meta.url));",
            '/** A chunk of dist/chunks/, compiled: the function its file is the body of. */',
            `const chunk = (name) => compileDistScript(chunks, name, hashes[name], ${JSON.stringify(chunkParams)});`,
            `const body = compileDistScript(chunks, 'index', hashes.index, ${JSON.stringify(bodyParams)}, '"use strict";')(import.meta.url, chunk);`,
            `export const { ${entryExports.join(', ')} } = body;`,
          ].join('\n'),
          resolveDir: root,
          loader: 'js',
        }));
      },
    },
  ],
});
postProcess(entry);
outputs.push(entry);
// A chunk that the import itself loads (a stand-in called by some module's top level, such as
// a table built at load) would cost more than it saves: refused.
const atImport = spawnSync(process.execPath, ['--input-type=module', '-e', `const fs = process.getBuiltinModule('node:fs'); const read = fs.readFileSync; const loaded = []; fs.readFileSync = (f, ...rest) => { if (/lib-[\\w-]+\\.cjs$/.test(String(f))) loaded.push(String(f)); return read(f, ...rest); }; await import(${JSON.stringify(pathToFileURL(join(dist, 'index.js')).href)}); if (loaded.length > 0) { console.error('build: importing dist/index.js loads ' + loaded.join(', ') + ': a module of that group is called at the top level of another'); process.exit(1); }`], { stdio: 'inherit' });
if (atImport.status !== 0) process.exit(1);

// The CLI, built apart from the package: with esbuild's splitting, every set of outputs that
// shares code gets a chunk of its own, and the commands' import()s in the same build cut the
// index into ~35 files (+30 ms at import) and `prog list` into ~23 (each file costs the ESM
// loader ~1 ms here, more than 100 KB of code does). So each output below is one standalone
// file: dist/cli/main.js; dist/chunks/cli-run.js, the command table (all `--help` needs);
// and one file per group of commands that use much the same library code, which
// cli/commands.ts imports on first use. They carry their own copies of the library code they
// use (the bin never loads dist/index.js), ~1.9 MB in all. A command in no group gets a file
// of its own.
const cliGroups = {
  show: ['prog-show', 'map-show', 'btf-list'], // the bpftool-style listings: the fastest start
  objects: ['prog-dump', 'map-dump', 'map-elem', 'link-list', 'cgroup-tree', 'net'],
  files: ['inspect', 'disasm', 'btf-dump', 'link'],
  gen: ['gen', 'build'],
  system: ['probe', 'cleanup', 'usdt'],
};
// `run: async (args, ctx) => (await import('./prog-show.js')).runProgShow(args, ctx)`.
const runs = [...readFileSync(join(root, 'src/cli/commands.ts'), 'utf8').matchAll(/import\('\.\/([\w-]+)\.js'\)\)\.(\w+)\(/g)].map((m) => ({ file: m[1], fn: m[2] }));
const groupOf = new Map(Object.entries(cliGroups).flatMap(([g, files]) => files.map((f) => [f, g])));
for (const f of groupOf.keys()) if (!runs.some((r) => r.file === f)) throw new Error(`build: cliGroups names ${f}, which src/cli/commands.ts does not import`);
for (const r of runs) if (!groupOf.has(r.file)) groupOf.set(r.file, r.file);
const cliFiles = {
  name: 'cli-files',
  setup(b) {
    // main.ts imports run.ts itself only when there is no chunk manifest (it runs from src/);
    // in dist/ that means a damaged install, which this stand-in says.
    b.onResolve({ filter: /^\.\/run\.js$/ }, (a) => (a.importer.endsWith(join('src', 'cli', 'main.ts')) ? { path: 'no-manifest', namespace: 'cli-no-manifest' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'cli-no-manifest' }, () => ({
      contents: 'export function runCLI() { throw new Error("ebpf-ts: dist/chunks/cli-chunks.json is missing; reinstall the package or run npm run build"); }',
      loader: 'js',
    }));
    // The command table's `import('./prog-show.js')` becomes a call of the chunk loader
    // (cli/code-cache.ts) for the command's group: the chunks are scripts, not modules.
    b.onLoad({ filter: /[\\/]src[\\/]cli[\\/]commands\.ts$/ }, (a) => ({
      contents: readFileSync(a.path, 'utf8').replace(/\bimport\('\.\/([\w-]+)\.js'\)/g, (_m, f) => `__ebpfTsChunk(${JSON.stringify(`cli-${groupOf.get(f)}`)})`),
      loader: 'ts',
    }));
    // A group's entry: the run functions of its commands.
    b.onResolve({ filter: /^cli-group:/ }, (a) => ({ path: a.path.slice('cli-group:'.length), namespace: 'cli-group' }));
    b.onLoad({ filter: /.*/, namespace: 'cli-group' }, (a) => ({
      contents: runs.filter((r) => groupOf.get(r.file) === a.path).map((r) => `export { ${r.fn} } from './${r.file}.js';`).join('\n'),
      resolveDir: join(root, 'src', 'cli'),
      loader: 'ts',
    }));
  },
};
// The chunks: scripts in CommonJS form, which cli/code-cache.ts wraps in a function of
// (exports, module, __ebpfTsUrl, __ebpfTsChunk) and compiles through V8's code cache;
// import.meta.url is the wrapper's __ebpfTsUrl. dist/chunks/cli-chunks.json names each with
// a hash of its content, which keys the cache files (V8 checks a cache against the source's
// length only).
const cliEntries = { 'chunks/cli-run': 'src/cli/run.ts' };
for (const g of new Set(groupOf.values())) cliEntries[`chunks/cli-${g}`] = `cli-group:${g}`;
const cliChunks = await build({ ...common, format: 'cjs', define: { 'import.meta.url': '__ebpfTsUrl' }, entryPoints: cliEntries, plugins: [builtins, cliFiles] });
postProcess(cliChunks);
outputs.push(cliChunks);
const manifest = {};
for (const name of Object.keys(cliEntries)) manifest[name.slice('chunks/'.length)] = createHash('sha256').update(readFileSync(join(dist, `${name}.js`))).digest('hex').slice(0, 16);
writeFileSync(join(dist, 'chunks', 'cli-chunks.json'), `${JSON.stringify(manifest, null, 1)}\n`);
// The bin is CommonJS (dist/cli/package.json says so): run as an ES module, main.js would
// first start Node's ESM loader (~20 internal modules, fs/promises, readline: ~3% of a bare
// `node -e 0`'s instructions) for a file that imports nothing but node: modules.
const cliMain = await build({
  ...common,
  format: 'cjs',
  define: { 'import.meta.url': '__ebpfTsMainUrl' },
  banner: { js: '"use strict";\nconst __ebpfTsMainUrl = require("node:url").pathToFileURL(__filename).href;' },
  entryPoints: ['src/cli/main.ts'],
  outbase: 'src',
  entryNames: '[dir]/[name]',
  plugins: [builtins, cliFiles],
});
postProcess(cliMain);
outputs.push(cliMain);
writeFileSync(join(dist, 'cli', 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

// keepNames' redundant calls blanked: esbuild names every function and class (`__name(f,
// "f")` after a declaration, a `static { __name(this, "C"); }` block in a class) so that names
// survive its renaming, but a declaration `function f` or `var C = class {` already gives
// the name written there: at start-up those calls (~900 in dist/index.js) cost ~10% of our
// share of the import. Only those exact top-level forms are blanked, with the name checked; a
// renamed one (`var Array2 = class { static { __name(this, "Array") } }`) stays. Lines are
// emptied, not removed, so the source maps stay exact.
function dropRedundantNames(text) {
  const lines = text.split('\n');
  const declared = new Set();
  for (const l of lines) {
    const m = /^(?:async )?function\*? ([\w$]+)\(/.exec(l);
    if (m !== null) declared.add(m[1]);
  }
  for (let i = 0; i < lines.length; i++) {
    const fn = /^__name\(([\w$]+), "([\w$]+)"\);$/.exec(lines[i]);
    if (fn !== null && fn[1] === fn[2] && declared.has(fn[1])) lines[i] = '';
    const cls = /^var ([\w$]+) = class (?:extends [\w$.]+ )?\{$/.exec(lines[i]);
    if (cls !== null && lines[i + 1] === '  static {' && lines[i + 2] === `    __name(this, "${cls[1]}");` && lines[i + 3] === '  }') {
      lines[i + 1] = lines[i + 2] = lines[i + 3] = '';
    }
  }
  return lines.join('\n');
}

// TypeScript enums as object literals: esbuild emits each as a function run at load that
// stores every member twice (`E[E["A"] = 0] = "A"`), two property-store misses per member
// (~480 members in dist/index.js) and bytecode for each; a literal with the same keys in the
// same order is built from one boilerplate. Only enums of that exact form, declared once,
// with numeric members; lines are kept, so the source maps stay exact.
function enumLiterals(text) {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const head = /^var ([\w$]+) = \/\* @__PURE__ \*\/ \(\(([\w$]+)\) => \{$/.exec(lines[i]);
    if (head === null) continue;
    const [, name, inner] = head;
    const member = new RegExp(`^  ${inner.replaceAll('$', '\\$')}\\[${inner.replaceAll('$', '\\$')}\\["([\\w$]+)"\\] = (-?\\d+)\\] = "\\1";$`);
    let j = i + 1;
    while (j < lines.length && member.test(lines[j])) j++;
    if (j === i + 1 || lines[j] !== `  return ${inner};` || lines[j + 1] !== `})(${name} || {});`) continue;
    if (text.split(`(${name} || {})`).length !== 2) continue; // merged declarations: left as they are
    lines[i] = `var ${name} = {`;
    for (let k = i + 1; k < j; k++) {
      const [, key, value] = member.exec(lines[k]);
      lines[k] = `  ${key}: ${value}, ${JSON.stringify(value)}: ${JSON.stringify(key)},`;
    }
    lines[j] = '';
    lines[j + 1] = '};';
    i = j + 1;
  }
  return lines.join('\n');
}

// ASCII only: Node reads a module's file as UTF-8, and one non-ASCII character (esbuild
// escapes them in strings and names, but copies comments as written: `→`, `…`) makes the
// whole source a two-byte string, slower to decode (~2.6 → ~0.8 ms for dist/index.js) and to
// scan. They are on comment lines only (checked), so escaping them moves no code's column.
function postProcess(o) {
  for (const file of Object.keys(o.metafile.outputs)) {
    if (!file.endsWith('.js') && !file.endsWith('.cjs')) continue;
    const path = resolve(root, file);
    const text = enumLiterals(dropRedundantNames(readFileSync(path, 'utf8')));
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!/[^\x00-\x7f]/.test(lines[i])) continue;
      if (!/^\s*(\*|\/\*|\/\/)/.test(lines[i])) throw new Error(`build: ${file}:${i + 1} has a non-ASCII character outside a comment line`);
      lines[i] = lines[i].replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    }
    writeFileSync(path, lines.join('\n'));
    // A grouped module's eager part (lazyGroups) has the lines of its source file: named so.
    const mapPath = `${path}.map`;
    const map = JSON.parse(readFileSync(mapPath, 'utf8'));
    if (map.sources.some((f) => f.startsWith('ebpf-ts-eager:'))) {
      map.sources = map.sources.map((f) => (f.startsWith('ebpf-ts-eager:') ? relative(dirname(path), resolve(root, f.slice('ebpf-ts-eager:'.length))) : f));
      writeFileSync(mapPath, JSON.stringify(map));
    }
  }
}

if (metafile !== undefined) {
  const merged = { inputs: {}, outputs: {} };
  for (const o of outputs) Object.assign(merged.inputs, o.metafile.inputs), Object.assign(merged.outputs, o.metafile.outputs);
  writeFileSync(metafile, JSON.stringify(merged));
}

if (types) run(process.execPath, [join(root, 'scripts', 'cjs-types.mjs')]);
