/**
 * How the `ebpf-ts` command loads its code in dist/: the command table and the groups of
 * commands are scripts (dist/chunks/cli-*.js, built by scripts/build.mjs) that this module
 * compiles with `vm.Script`, keeping V8's code cache of each on disk. Compiling is most of
 * what a short command costs (`prog list` spent ~70% of its instructions parsing and
 * compiling ~370 KB), and Node 20 has no compile cache of its own (`module.enableCompileCache`
 * is Node 22.1+). The cache is written at exit, after the command ran, so it also holds the
 * functions the command compiled on the way.
 *
 * Only the command does this: for a library it would be a decision about the disk taken on
 * the application's behalf.
 *
 * Where: `$EBPF_TS_CODE_CACHE` if set to a directory (relative: to the current one), else `$XDG_CACHE_HOME/ebpf-ts`, else
 * `~/.cache/ebpf-ts`; `EBPF_TS_CODE_CACHE=off` (or Node's `NODE_DISABLE_COMPILE_CACHE=1`)
 * turns it off. The command often runs as root, and cached code is code: a cache file is used
 * only when it is a regular file owned by the current user and writable by nobody else, in a
 * directory likewise; anything else is ignored (compiled again), never an error. V8 itself
 * refuses a cache of another V8 version or flags (then the file is rewritten).
 *
 * @module
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script, constants as vmConstants } from 'node:vm';

/** A chunk's wrapper: its exports object, module, `import.meta.url` and this loader (the command table loads its groups through it). */
type ChunkFunction = (exports: object, module: { exports: object }, url: string, load: (name: string) => unknown) => void;

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

/** How long a chunk's cache file of another build is kept after its last write. */
const staleMs = 7 * 24 * 3600 * 1000;

/** Owned by this user and writable by no one else (group or others). */
function trusted(st: { uid: number; mode: number }): boolean {
  return st.uid === process.geteuid!() && (st.mode & 0o022) === 0;
}

/** A cache file's bytes, or undefined if there is none or it is not to be trusted. */
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
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a cache file atomically (a private temporary file renamed into place) and removes
 * the same chunk's files of other builds (`<chunk>.*.bin`; chunk names have no dot) last
 * written over a week ago: two installed versions in use do not evict each other, and one no
 * longer used leaves no file behind for long. Failures are ignored: the next run compiles
 * again.
 */
export function writeCodeCache(file: string, data: Buffer, chunk: string): void {
  const dir = dirname(file);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || !trusted(st)) return;
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
    for (const old of readdirSync(dir)) {
      const path = join(dir, old);
      if (old.startsWith(`${chunk}.`) && old.endsWith('.bin') && path !== file && Date.now() - lstatSync(path).mtimeMs > staleMs) unlinkSync(path);
    }
  } catch {
    // Not cached this time.
  }
}

/**
 * Loads the chunks of one dist/ directory: `load('cli-run')` compiles (or takes from the
 * cache) and runs dist/chunks/cli-run.js once, and answers its exports.
 */
export class ChunkLoader {
  readonly #dir: string;
  readonly #hashes: Readonly<Record<string, string>>;
  readonly #cacheDir: string | undefined;
  readonly #loaded = new Map<string, unknown>();
  readonly #toWrite: Array<() => void> = [];

  private constructor(dir: string, hashes: Readonly<Record<string, string>>, cacheDir: string | undefined) {
    this.#dir = dir;
    this.#hashes = hashes;
    this.#cacheDir = cacheDir;
  }

  /**
   * The loader of the chunks in `dir` (dist/chunks/), or undefined when `dir` holds no
   * manifest (cli-chunks.json: chunk name → hash of its content), as when the CLI runs from
   * src/.
   */
  static open(dir: string, env: Readonly<Record<string, string | undefined>>): ChunkLoader | undefined {
    let hashes: Record<string, string>;
    try {
      hashes = JSON.parse(readFileSync(join(dir, 'cli-chunks.json'), 'utf8')) as Record<string, string>;
    } catch {
      return undefined;
    }
    const loader = new ChunkLoader(dir, hashes, typeof process.geteuid === 'function' ? codeCacheDir(env) : undefined);
    if (loader.#cacheDir !== undefined) process.once('exit', () => loader.flush());
    return loader;
  }

  /** The loader next to a dist/cli/main.js at `mainUrl`. */
  static besideMain(mainUrl: string, env: Readonly<Record<string, string | undefined>>): ChunkLoader | undefined {
    return ChunkLoader.open(join(dirname(dirname(fileURLToPath(mainUrl))), 'chunks'), env);
  }

  /** The exports of chunk `name`, run once. */
  load(name: string): unknown {
    if (this.#loaded.has(name)) return this.#loaded.get(name);
    const hash = this.#hashes[name];
    if (hash === undefined) throw new Error(`ebpf-ts: dist/chunks/cli-chunks.json names no chunk ${name}`);
    const file = join(this.#dir, `${name}.js`);
    const fd = openSync(file, constants.O_RDONLY);
    let source: string;
    let mtime: number;
    try {
      mtime = Math.trunc(fstatSync(fd).mtimeMs);
      source = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
    // The build's content hash, the file's mtime (a chunk edited in place), V8's version and
    // the architecture name the cache file; V8 checks its own flags and the source's length,
    // not its content.
    const cacheFile = this.#cacheDir === undefined ? undefined : join(this.#cacheDir, `${name}.${hash}-${mtime.toString(36)}.v8-${process.versions.v8}-${process.arch}.bin`);
    const cachedData = cacheFile === undefined ? undefined : readCodeCache(cacheFile);
    // One line: the chunk's own lines keep their numbers in stack traces.
    const script = new Script(`(function (exports, module, __ebpfTsUrl, __ebpfTsChunk) {"use strict";${source}\n})`, {
      filename: file,
      cachedData,
      importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    if (cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
      this.#toWrite.push(() => writeCodeCache(cacheFile, script.createCachedData(), name));
    }
    const module = { exports: {} };
    (script.runInThisContext() as ChunkFunction)(module.exports, module, pathToFileURL(file).href, (n) => this.load(n));
    this.#loaded.set(name, module.exports);
    return module.exports;
  }

  /** Writes the cache files of chunks that had none (or a refused one); at exit. */
  flush(): void {
    for (const write of this.#toWrite.splice(0)) write();
  }
}
