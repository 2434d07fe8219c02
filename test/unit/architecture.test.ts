// The shape docs/architecture.md describes, checked: no import cycles among src/ files (value
// imports; `import type` is erased), and each folder imports only the folders below it.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = join(import.meta.dirname, '../../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return files(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Value imports (and re-exports) of each file, as paths relative to src/. */
function graph(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of files(src)) {
    const deps: string[] = [];
    for (const m of readFileSync(f, 'utf8').matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'";]*?from\s+['"](\.[^'"]+)['"]/gm)) {
      const target = normalize(join(dirname(f), m[1]!)).replace(/\.js$/, '.ts');
      const hit = [target, target.replace(/\.ts$/, '') + '/index.ts'].find((c) => existsSync(c));
      if (hit !== undefined) deps.push(relative(src, hit));
    }
    out.set(relative(src, f), deps);
  }
  return out;
}

/** The strongly connected components with more than one file (Tarjan). */
function cycles(g: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) found.push(c.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return found;
}

const folder = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

describe('src/ architecture (docs/architecture.md)', () => {
  const g = graph();

  it('has no import cycles', () => {
    expect(cycles(g)).toEqual([]);
  });

  // Parsing never touches the kernel (DESIGN.md): the spec layers stay free of sys/ and of
  // the kernel objects; internal/ is below everything but sys/, errors, types and features.
  const forbidden: Record<string, readonly string[]> = {
    asm: ['sys', 'link', 'perf', 'ringbuf', 'features', 'cli'],
    btf: ['sys', 'link', 'perf', 'ringbuf', 'features', 'cli'],
    elf: ['sys', 'link', 'perf', 'ringbuf', 'features', 'cli'],
    sys: ['link', 'perf', 'ringbuf', 'cli', 'elf', 'btf'],
    internal: ['link', 'perf', 'ringbuf', 'cli'],
    features: ['link', 'perf', 'ringbuf', 'cli'],
    perf: ['link', 'ringbuf', 'cli'],
    ringbuf: ['link', 'perf', 'cli'],
    link: ['perf', 'ringbuf', 'cli', 'profile'],
    profile: ['perf', 'ringbuf', 'cli'],
  };
  it('the spec layers (asm/, btf/, elf/) reach no sys/ module even through internal/', () => {
    const reach = (start: string): Set<string> => {
      const seen = new Set<string>();
      const todo = [start];
      while (todo.length > 0) {
        const f = todo.pop()!;
        for (const d of g.get(f) ?? []) if (!seen.has(d)) (seen.add(d), todo.push(d));
      }
      return seen;
    };
    const bad = [...g.keys()]
      .filter((f) => ['asm', 'btf', 'elf'].includes(folder(f)))
      .flatMap((f) => [...reach(f)].filter((d) => folder(d) === 'sys').map((d) => `${f} ->* ${d}`));
    expect(bad).toEqual([]);
  });

  for (const [from, banned] of Object.entries(forbidden)) {
    it(`${from}/ imports none of ${banned.join(', ')}`, () => {
      const bad = [...g.entries()].filter(([f]) => folder(f) === from).flatMap(([f, deps]) => deps.filter((d) => banned.includes(folder(d))).map((d) => `${f} -> ${d}`));
      expect(bad).toEqual([]);
    });
  }
});
