/**
 * How the `ebpf-ts` command loads its code in dist/: the command table and the groups of
 * commands are scripts (dist/chunks/cli-*.js, built by scripts/build.mjs) that this module
 * compiles through V8's code cache (internal/code-cache.ts: where the cache lives, which
 * files it trusts). Compiling is most of what a short command costs (`prog list` spent ~70%
 * of its instructions parsing and compiling ~370 KB). The cache is written at exit, after the
 * command ran, so it also holds the functions the command compiled on the way. Stack traces
 * name lines of dist/chunks/cli-*.js (no source maps: those files are readable code).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { constants as vmConstants } from 'node:vm';
import { codeCacheDir, compileCached } from '../internal/code-cache.js';

/** A chunk's wrapper: its exports object, module, `import.meta.url` and this loader (the command table loads its groups through it). */
type ChunkFunction = (exports: object, module: { exports: object }, url: string, load: (name: string) => unknown) => void;

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
    const { fn, write } = compileCached({
      file,
      name,
      hash,
      params: ['exports', 'module', '__ebpfTsUrl', '__ebpfTsChunk'],
      prologue: '"use strict";',
      cacheDir: this.#cacheDir,
      importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    if (write !== undefined) this.#toWrite.push(write);
    const module = { exports: {} };
    (fn as ChunkFunction)(module.exports, module, pathToFileURL(file).href, (n) => this.load(n));
    this.#loaded.set(name, module.exports);
    return module.exports;
  }

  /** Writes the cache files of chunks that had none (or a refused one); at exit. */
  flush(): void {
    for (const write of this.#toWrite.splice(0)) write();
  }
}
