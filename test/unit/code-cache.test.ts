// V8's code cache of the scripts dist/ compiles itself (src/internal/code-cache.ts): the
// package's body and its chunks keep their line numbers, run strict, take a cache file V8
// accepts, and ignore (then rewrite) one it refuses. The trust rules and the cache directory
// are in cli-code-cache.test.ts.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileCached, compileDistScript } from '../../src/internal/code-cache.js';

let tmp: string;
const sourceMaps = process.sourceMapsEnabled;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ebpf-ts-code-cache-'));
});
afterEach(() => {
  process.setSourceMapsEnabled(sourceMaps);
  rmSync(tmp, { recursive: true, force: true });
});

/** A chunk in the build's CommonJS form: two wrapper lines, the body from line 3, `};`. */
function chunk(name: string): string {
  const file = join(tmp, `${name}.cjs`);
  writeFileSync(
    file,
    [
      'module.exports = function (a, b) {',
      '',
      '"use strict"; const module = { exports: {} };',
      'module.exports.sum = a + b;',
      'module.exports.strict = (function () { return this === undefined; })();',
      'module.exports.where = () => new Error("x").stack.split("\\n")[1];',
      'return module.exports;',
      '};',
      '//# sourceMappingURL=x.cjs.map',
      '',
    ].join('\n'),
  );
  return file;
}

type Chunk = { sum: number; strict: boolean; where(): string };

describe('compileDistScript', () => {
  for (const maps of [false, true]) {
    it(`runs the body with its params, strict, at its own lines (source maps ${maps ? 'on: new Function' : 'off: vm.Script'})`, () => {
      process.setSourceMapsEnabled(maps);
      const file = chunk('lib-x');
      const out = compileDistScript(tmp, 'lib-x', 'h', ['a', 'b'])(40, 2) as Chunk;
      expect(out.sum).toBe(42);
      expect(out.strict).toBe(true);
      expect(out.where()).toContain(`${file}:6:`);
    });
  }
});

describe('compileCached', () => {
  it('writes a cache V8 accepts next time; a damaged or refused one is ignored and rewritten', () => {
    // Otherwise the isolate's own cache of compiled sources answers before the file is read.
    setFlagsFromString('--no-compilation-cache');
    process.setSourceMapsEnabled(false);
    const file = chunk('lib-y');
    const cacheDir = join(tmp, 'cache');
    const options = { file, name: 'lib-y', hash: 'abc', params: ['a', 'b'], skipLines: 2, wrapped: true, cacheDir };
    const first = compileCached(options);
    expect((first.fn(1, 2) as Chunk).sum).toBe(3);
    expect(first.write).toBeDefined();
    first.write!();
    const [name] = readdirSync(cacheDir);
    expect(name).toMatch(new RegExp(`^lib-y\\.abc-[0-9a-z]+\\.v8-${process.versions.v8.replaceAll('.', '\\.')}-[0-9a-z]+-${process.arch}\\.bin$`));
    expect(statSync(join(cacheDir, name!)).mode & 0o777).toBe(0o600);
    // Accepted: nothing to write.
    const second = compileCached(options);
    expect((second.fn(2, 2) as Chunk).sum).toBe(4);
    expect(second.write).toBeUndefined();
    // Damaged anywhere (V8 would take a damaged payload and might crash): the checksum refuses
    // it, the code still runs, and the file is written again.
    const good = readFileSync(join(cacheDir, name!));
    for (const at of [0, 40, 52, good.length - 1]) {
      const bytes = Buffer.from(good);
      bytes[at] ^= 0x5a;
      writeFileSync(join(cacheDir, name!), bytes, { mode: 0o600 });
      const third = compileCached(options);
      expect((third.fn(3, 2) as Chunk).sum).toBe(5);
      expect(third.write).toBeDefined();
      third.write!();
      expect(compileCached(options).write).toBeUndefined();
    }
    // Refused by V8 (another source under the same name: an edit in place that kept the
    // file's mtime): compiled, and the file rewritten.
    const { atime, mtime } = statSync(file);
    writeFileSync(file, readFileSync(file, 'utf8').replace('a + b;', 'b + a + 100;'));
    utimesSync(file, atime, mtime);
    const edited = compileCached(options);
    expect((edited.fn(1, 2) as Chunk).sum).toBe(103);
    expect(edited.write).toBeDefined();
    expect(readdirSync(cacheDir)).toEqual([name]);
  });

  it('uses no cache with source maps on (their traces need new Function) or with none configured', () => {
    const file = chunk('lib-z');
    process.setSourceMapsEnabled(true);
    expect(compileCached({ file, name: 'lib-z', hash: 'h', params: ['a', 'b'], skipLines: 2, wrapped: true, cacheDir: join(tmp, 'c') }).write).toBeUndefined();
    process.setSourceMapsEnabled(false);
    expect(compileCached({ file, name: 'lib-z', hash: 'h', params: ['a', 'b'], skipLines: 2, wrapped: true, cacheDir: undefined }).write).toBeUndefined();
  });
});
