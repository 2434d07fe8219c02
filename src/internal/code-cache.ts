/**
 * V8's code cache for the scripts dist/ compiles itself: the package's body and its parts
 * loaded on first use (dist/chunks/index.cjs, lib-*.cjs; scripts/build.mjs) and the `ebpf-ts`
 * command's chunks (cli/code-cache.ts). Compiling is most of what a first run costs, and Node
 * 20 has no compile cache of its own (`module.enableCompileCache` is Node 22.1+). A cache file
 * is written after the code ran (at exit, or 30 s after the first compile in a process that
 * keeps running), so it holds the functions that run compiled on the way, not only the top
 * level.
 *
 * Where: `$EBPF_TS_CODE_CACHE` if set to a directory (relative: to the current one), else
 * `$XDG_CACHE_HOME/ebpf-ts`, else `~/.cache/ebpf-ts`; `EBPF_TS_CODE_CACHE=off` (or Node's
 * `NODE_DISABLE_COMPILE_CACHE=1`) turns it off. Programs that load BPF often run as root, and
 * cached code is code: a cache file is used only when it is a regular file owned by the
 * current user and writable by nobody else, in a directory likewise; anything else is ignored
 * (compiled again), never an error. A file is named by the script's content hash and mtime,
 * V8's version, a hash of the process's Node and V8 options and the architecture; V8 itself
 * refuses a cache of another version or flags (then the file is rewritten).
 *
 * Node applies source maps (`--enable-source-maps`) to code made by `new Function` with a
 * `sourceURL`, not to a `vm.Script`: with source maps on, scripts are compiled that way,
 * without a cache, so that stack traces name `src/` lines.
 *
 * @module
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The cache directory to use under `env`, or undefined when caching is off. Not created here.
 */
export function codeCacheDir(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const setting = env.EBPF_TS_CODE_CACHE;
  if (setting === 'off' || setting === '0' || env.NODE_DISABLE_COMPILE_CACHE === '1') return undefined;
  if (setting !== undefined && setting !== '') return resolve(setting);
  if (env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME.startsWith('/')) return join(env.XDG_CACHE_HOME, 'ebpf-ts');
  if (env.HOME !== undefined && env.HOME.startsWith('/')) return join(env.HOME, '.cache', 'ebpf-ts');
  return undefined;
}

/** How long a script's cache file of another build is kept after its last write. */
const staleMs = 7 * 24 * 3600 * 1000;

/** Owned by this user and writable by no one else (group or others). */
function trusted(st: { uid: number; mode: number }): boolean {
  return st.uid === process.geteuid!() && (st.mode & 0o022) === 0;
}

/** What a cache file starts with: the CRC-32 and the length of its payload (little-endian). */
const headerLength = 8;
function crc32(data: Uint8Array): number {
  // zlib's (Node 20.15+): native, ~0.3 ms per 700 KB; node:crypto would load ~40 modules (~4 ms).
  return process.getBuiltinModule('node:zlib').crc32(data);
}

/**
 * A cache file's payload, or undefined if there is none, it is not to be trusted or its
 * checksum does not match: V8 checks a cache's header, not its payload (a damaged one can
 * crash the process), so each file carries a CRC-32 of its payload, as Node 22's own compile
 * cache does.
 */
export function readCodeCache(file: string): Buffer | undefined {
  let fd: number;
  try {
    const dir = lstatSync(dirname(file));
    if (!dir.isDirectory() || !trusted(dir)) return undefined;
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || !trusted(st)) return undefined;
    const bytes = readFileSync(fd);
    if (bytes.length <= headerLength || bytes.readUInt32LE(4) !== bytes.length - headerLength) return undefined;
    const payload = bytes.subarray(headerLength);
    return crc32(payload) === bytes.readUInt32LE(0) ? payload : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a cache file atomically (a private temporary file renamed into place) and removes
 * the same script's files of other builds (`<name>.*.bin`; script names have no dot) last
 * written over a week ago: two installed versions in use do not evict each other, and one no
 * longer used leaves no file behind for long. Failures are ignored: the next run compiles
 * again.
 */
export function writeCodeCache(file: string, data: Buffer, name: string): void {
  const dir = dirname(file);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || !trusted(st)) return;
    const tmp = `${file}.${process.pid}.tmp`;
    const header = Buffer.alloc(headerLength);
    header.writeUInt32LE(crc32(data), 0);
    header.writeUInt32LE(data.length, 4);
    writeFileSync(tmp, Buffer.concat([header, data]), { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
    for (const old of readdirSync(dir)) {
      const path = join(dir, old);
      if (old.startsWith(`${name}.`) && old.endsWith('.bin') && path !== file && Date.now() - lstatSync(path).mtimeMs > staleMs) unlinkSync(path);
    }
  } catch {
    // Not cached this time.
  }
}

/** FNV-1a of the options a process was started with (V8 refuses a cache of other flags). */
function optionsKey(): string {
  const text = `${process.execArgv.join('\0')}\0${process.env.NODE_OPTIONS ?? ''}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

/** How a script is compiled: its file, what its wrapper function takes, its cache. */
export interface CompileOptions {
  /** The script's file: in stack traces, and its mtime keys the cache file. */
  readonly file: string;
  /** The script's name: the cache file's first word (no dot). */
  readonly name: string;
  /** The build's hash of the file's content. */
  readonly hash: string;
  /** The parameter names of the function the script's text is the body of. */
  readonly params: readonly string[];
  /** The cache directory (codeCacheDir()), or undefined for none. */
  readonly cacheDir: string | undefined;
  /** Lines at the start of the file that are not part of the body (a CommonJS wrapper's). */
  readonly skipLines?: number;
  /** Whether the body ends in a `};` closing such a wrapper, not part of the body. */
  readonly wrapped?: boolean;
  /** Text put before the body on its first line (`"use strict";` for a body that lacks it). */
  readonly prologue?: string;
  /** Passed to vm.Script (the command's chunks may `import()`). */
  readonly importModuleDynamically?: unknown;
}

/** A compiled script: the function its text is the body of, and the write of its cache file if it needs one. */
export interface Compiled {
  readonly fn: (...args: unknown[]) => unknown;
  readonly write: (() => void) | undefined;
}

/**
 * Compiles the text of `options.file` as the body of a function of `options.params`, with
 * V8's cached data when a trusted cache file accepts it. The body keeps its lines: the line
 * numbers of stack traces are the file's.
 */
export function compileCached(options: CompileOptions): Compiled {
  // By path (not fd): tests and the build watch which dist/chunks files are read.
  // latin1: the build makes every file ASCII, and a one-byte string is what V8 scans fastest.
  const text = readFileSync(options.file, 'latin1');
  const mtime = Math.trunc(statSync(options.file).mtimeMs);
  let from = 0;
  for (let i = 0; i < (options.skipLines ?? 0); i++) from = text.indexOf('\n', from) + 1;
  const body = text.slice(from, options.wrapped === true ? text.lastIndexOf('};') : text.length);
  // The skipped lines come back as empty ones, so that the body's lines keep their numbers.
  const pad = '\n'.repeat(options.skipLines ?? 0);
  // new Function's own header is two lines ("(function anonymous(a,b\n) {\n"): a body whose
  // file has two lines before it keeps its line numbers that way.
  if (process.sourceMapsEnabled && (options.skipLines ?? 0) >= 2) {
    try {
      const head = '\n'.repeat((options.skipLines ?? 0) - 2);
      const fn = new Function(...options.params, `${head}${options.prologue ?? ''}${body}\n//# sourceURL=${options.file}\n//# sourceMappingURL=${options.file}.map\n`);
      return { fn: fn as Compiled['fn'], write: undefined };
    } catch (e) {
      // Code generation from strings disallowed: a vm.Script, whose traces are unmapped.
      if (!(e instanceof EvalError)) throw e;
    }
  }
  const { Script } = process.getBuiltinModule('node:vm');
  const cacheFile = options.cacheDir === undefined || typeof process.geteuid !== 'function' ? undefined : join(options.cacheDir, `${options.name}.${options.hash}-${mtime.toString(36)}.v8-${process.versions.v8}-${optionsKey()}-${process.arch}.bin`);
  const cachedData = cacheFile === undefined ? undefined : readCodeCache(cacheFile);
  const script = new Script(`(function (${options.params.join(', ')}) {${options.prologue ?? ''}${pad}${body}\n})`, {
    filename: options.file,
    cachedData,
    ...(options.importModuleDynamically === undefined ? {} : { importModuleDynamically: options.importModuleDynamically as never }),
  });
  const fn = script.runInThisContext() as Compiled['fn'];
  const stale = cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected === true);
  return { fn, write: stale ? () => writeCodeCache(cacheFile, script.createCachedData(), options.name) : undefined };
}

let pending: Array<() => void> | undefined;

/**
 * Runs `write` at exit, or 30 s from the first such call in a process still running then,
 * whichever comes first: after the code ran, so that its cache holds what it compiled. The
 * timer does not keep the process alive.
 */
export function writeLater(write: () => void): void {
  if (pending === undefined) {
    pending = [];
    const flush = (): void => {
      for (const w of pending!.splice(0)) w();
    };
    process.once('exit', flush);
    setTimeout(flush, 30_000).unref();
  }
  pending.push(write);
}

/**
 * Compiles dist/chunks/`name`.cjs (a CommonJS file `module.exports = function (params) {` …
 * `};`, whose body starts on its third line) through the cache, for dist/index.js: the
 * package's body and its parts loaded on first use. A cache file it needs is written later
 * (writeLater).
 */
export function compileDistScript(chunksDir: string, name: string, hash: string, params: readonly string[], prologue = ''): (...args: unknown[]) => unknown {
  const { fn, write } = compileCached({ file: join(chunksDir, `${name}.cjs`), name, hash, params, prologue, skipLines: 2, wrapped: true, cacheDir: distCacheDir() });
  if (write !== undefined) writeLater(write);
  return fn;
}

let cacheDirOfProcess: string | undefined | null = null;
function distCacheDir(): string | undefined {
  if (cacheDirOfProcess === null) cacheDirOfProcess = typeof process.geteuid === 'function' ? codeCacheDir(process.env) : undefined;
  return cacheDirOfProcess;
}
