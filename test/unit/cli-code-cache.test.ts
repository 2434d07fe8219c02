// The `ebpf-ts` command's code cache (src/cli/code-cache.ts): where it lives, which files it
// trusts (the command runs as root: cached code is code), and that a second run takes V8's
// cache instead of compiling.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChunkLoader } from '../../src/cli/code-cache.js';
import { codeCacheDir, readCodeCache, writeCodeCache } from '../../src/internal/code-cache.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ebpf-ts-code-cache-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('codeCacheDir', () => {
  it('follows EBPF_TS_CODE_CACHE, then XDG_CACHE_HOME, then HOME; off when asked', () => {
    expect(codeCacheDir({ EBPF_TS_CODE_CACHE: '/x', HOME: '/root' })).toBe('/x');
    expect(codeCacheDir({ EBPF_TS_CODE_CACHE: 'rel' })).toBe(join(process.cwd(), 'rel'));
    expect(codeCacheDir({ XDG_CACHE_HOME: '/c', HOME: '/root' })).toBe('/c/ebpf-ts');
    expect(codeCacheDir({ HOME: '/root' })).toBe('/root/.cache/ebpf-ts');
    expect(codeCacheDir({ HOME: 'relative' })).toBeUndefined();
    expect(codeCacheDir({})).toBeUndefined();
    expect(codeCacheDir({ EBPF_TS_CODE_CACHE: 'off', HOME: '/root' })).toBeUndefined();
    expect(codeCacheDir({ EBPF_TS_CODE_CACHE: '0', HOME: '/root' })).toBeUndefined();
    expect(codeCacheDir({ NODE_DISABLE_COMPILE_CACHE: '1', HOME: '/root' })).toBeUndefined();
  });
});

describe('readCodeCache / writeCodeCache', () => {
  it('writes a private file, and reads back only files no one else can write', () => {
    const dir = join(tmp, 'cache');
    const file = join(dir, 'cli-show.aaaa.bin');
    writeCodeCache(file, Buffer.from('data'), 'cli-show');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readCodeCache(file)?.toString()).toBe('data');
    chmodSync(file, 0o620);
    expect(readCodeCache(file)).toBeUndefined();
    chmodSync(file, 0o600);
    chmodSync(dir, 0o777);
    expect(readCodeCache(file)).toBeUndefined();
    chmodSync(dir, 0o700);
    const link = join(dir, 'cli-show.link.bin');
    symlinkSync(file, link);
    expect(readCodeCache(link)).toBeUndefined();
    expect(readCodeCache(join(dir, 'missing.bin'))).toBeUndefined();
  });

  it("removes the same chunk's files of other builds written over a week ago, and nothing else", () => {
    const dir = join(tmp, 'cache');
    const weeks = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    for (const name of ['cli-show.old.bin', 'cli-show-x.old.bin', 'cli-run.old.bin']) {
      writeCodeCache(join(dir, name), Buffer.from('1'), name.slice(0, name.indexOf('.')));
      utimesSync(join(dir, name), weeks, weeks);
    }
    writeCodeCache(join(dir, 'cli-show.recent.bin'), Buffer.from('2'), 'cli-show');
    writeCodeCache(join(dir, 'cli-show.new.bin'), Buffer.from('3'), 'cli-show');
    expect(readdirSync(dir).sort()).toEqual(['cli-run.old.bin', 'cli-show-x.old.bin', 'cli-show.new.bin', 'cli-show.recent.bin']);
  });

  it('does not write into a directory others can write to', () => {
    const dir = join(tmp, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    writeCodeCache(join(dir, 'cli-run.x.bin'), Buffer.from('1'), 'cli-run');
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('ChunkLoader', () => {
  function distChunks(): string {
    const dir = join(tmp, 'chunks');
    mkdirSync(dir);
    writeFileSync(join(dir, 'cli-chunks.json'), JSON.stringify({ 'cli-run': '1111', 'cli-show': '2222' }));
    writeFileSync(join(dir, 'cli-run.js'), 'function answer() { return __ebpfTsChunk("cli-show").value + 1; }\nmodule.exports = { answer, url: __ebpfTsUrl, strict: this === undefined };\n');
    writeFileSync(join(dir, 'cli-show.js'), 'exports.value = 41;\n');
    return dir;
  }

  it('runs each chunk once with its url and the loader, strict', () => {
    const dir = distChunks();
    const loader = ChunkLoader.open(dir, { EBPF_TS_CODE_CACHE: 'off' })!;
    const run = loader.load('cli-run') as { answer(): number; url: string; strict: boolean };
    expect(run.answer()).toBe(42);
    expect(run.url).toBe(pathToFileURL(join(dir, 'cli-run.js')).href);
    expect(run.strict).toBe(true);
    expect(loader.load('cli-run')).toBe(run);
    expect(() => loader.load('cli-gen')).toThrow(/names no chunk cli-gen/);
  });

  it('writes the cache at flush, and the next process takes it instead of compiling', () => {
    const dir = distChunks();
    const cache = join(tmp, 'cache');
    const first = ChunkLoader.open(dir, { EBPF_TS_CODE_CACHE: cache })!;
    (first.load('cli-run') as { answer(): number }).answer();
    first.flush();
    const files = readdirSync(cache).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(new RegExp(`^cli-run\\.1111-[0-9a-z]+\\.v8-.*-${process.arch}\\.bin$`));
    const inode = statSync(join(cache, files[0]!)).ino;
    // Accepted by V8: nothing to write again (a rewrite would be a new file, a new inode).
    const second = ChunkLoader.open(dir, { EBPF_TS_CODE_CACHE: cache })!;
    expect((second.load('cli-run') as { answer(): number }).answer()).toBe(42);
    second.flush();
    expect(statSync(join(cache, files[0]!)).ino).toBe(inode);
    // A chunk edited in place (same hash in the manifest) gets a cache file of its own.
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'cli-run.js'), later, later);
    const third = ChunkLoader.open(dir, { EBPF_TS_CODE_CACHE: cache })!;
    third.load('cli-run');
    third.flush();
    expect(readdirSync(cache).filter((f) => f.startsWith('cli-run.'))).toHaveLength(2);
  });

  it('is absent where there is no manifest (the CLI run from src/)', () => {
    expect(ChunkLoader.open(tmp, {})).toBeUndefined();
    expect(existsSync(join(tmp, 'cli-chunks.json'))).toBe(false);
  });
});
