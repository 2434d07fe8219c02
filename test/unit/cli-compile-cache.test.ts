// The `ebpf-ts` command enables Node's module compile cache where Node has it (22.1+), before
// it loads the rest of the CLI, and nothing else in the package does.
import module from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { enableCompileCache } from '../../src/cli/compile-cache.js';

const src = join(import.meta.dirname, '../../src');
const holder = module as unknown as { enableCompileCache?: unknown };
const original = holder.enableCompileCache;
afterEach(() => {
  holder.enableCompileCache = original;
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('enableCompileCache', () => {
  it("uses module.enableCompileCache() and answers its directory", () => {
    const calls: unknown[][] = [];
    holder.enableCompileCache = (...args: unknown[]) => (calls.push(args), { status: 1, directory: '/tmp/node-compile-cache' });
    expect(enableCompileCache()).toBe('/tmp/node-compile-cache');
    expect(calls).toEqual([[]]);
  });

  it('is a no-op on a Node without it, and never throws', () => {
    holder.enableCompileCache = undefined;
    expect(enableCompileCache()).toBeUndefined();
    holder.enableCompileCache = () => {
      throw new Error('EACCES');
    };
    expect(enableCompileCache()).toBeUndefined();
    holder.enableCompileCache = () => ({ status: 3, message: 'disabled' });
    expect(enableCompileCache()).toBeUndefined();
  });

  it('the command enables it before loading the CLI, and only the command does', () => {
    const main = readFileSync(join(src, 'cli/main.ts'), 'utf8');
    // A static import of run.ts would be evaluated before the cache is enabled.
    expect(main).not.toMatch(/^import .*from '\.\/run\.js'/m);
    expect(main.indexOf('enableCompileCache();')).toBeLessThan(main.indexOf("import('./run.js')"));
    const callers = sources(src)
      .filter((f) => /enableCompileCache\(\)/.test(readFileSync(f, 'utf8').replace(/^\s*(\*|\/\/).*$/gm, '')))
      .map((f) => relative(src, f));
    expect(callers.sort()).toEqual(['cli/compile-cache.ts', 'cli/main.ts']);
  });
});
