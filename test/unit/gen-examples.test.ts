// The examples' generated bindings (examples/bpf/) cannot drift: each committed .js and .d.ts
// equals what `ebpf-ts gen` writes for its object now (regenerate with `npm run gen:examples`).
// And the typed path holds: the examples (JavaScript under `// @ts-check`) type-check against
// the bindings' declarations, and a consumer that misuses them does not.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { generateBindings } from '../../src/gen/generate.js';

const repo = join(import.meta.dirname, '../..');
// The list npm run gen:examples regenerates (a plain .mjs: imported by path, untyped).
const { exampleBindings: bindings } = (await import(join(repo, 'examples/bpf/generate.mjs'))) as { exampleBindings: ReadonlyArray<{ object: string; out: string }> };
const examples = ['execsnoop', 'writesnoop', 'sockalloc', 'printk', 'xdp-count', 'netmon', 'profile', 'demo'].map((n) => join(repo, 'examples', `${n}.mjs`));
const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-gen-examples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('examples/bpf', () => {
  for (const b of bindings) {
    it(`${b.out} is what ebpf-ts gen writes for ${b.object}`, () => {
      // The paths as generate.mjs passes them (relative to the repository): they are in the header.
      const cwd = relative(process.cwd(), repo);
      expect(cwd, 'run the unit tests from the repository root').toBe('');
      const now = generateBindings(b.object, { out: b.out });
      expect(now.declarations).toBeDefined();
      const stale = 'is stale: run `npm run build && npm run gen:examples` and commit examples/bpf/';
      expect(readFileSync(join(repo, b.out), 'utf8'), `${b.out} ${stale}`).toBe(now.text);
      expect(readFileSync(join(repo, now.declarations!.path), 'utf8'), `${now.declarations!.path} ${stale}`).toBe(now.declarations!.text);
    });
  }

  it('the examples type-check against the bindings, and wrong uses of them do not', () => {
    const consumer = join(dir, 'consumer.mjs');
    writeFileSync(
      consumer,
      `// @ts-check
import { loadExecsnoop } from ${JSON.stringify(join(repo, 'examples/bpf/execsnoop.js'))};
import { loadXdpCount } from ${JSON.stringify(join(repo, 'examples/bpf/xdp_count.js'))};
const obj = await loadExecsnoop({ constants: { failed_only: 1 } });
/** @type {string | undefined} */
const comm = obj.maps.execs.get(1n)?.comm;
// @ts-expect-error a misspelt map name
obj.maps.exces;
// @ts-expect-error execs is keyed by a u64: a bigint
obj.maps.execs.get(1);
// @ts-expect-error failed_only is a number
await loadExecsnoop({ constants: { failed_only: 'yes' } });
const xdp = await loadXdpCount();
for (const [proto, c] of xdp.maps.counts.entries()) {
  /** @type {number} */
  const p = proto;
  /** @type {bigint} */
  const packets = c.packets;
  // @ts-expect-error struct counter has packets and bytes only
  void c.drops;
  void p, packets, comm;
}
`,
    );
    const files = [...examples, consumer];
    const program = ts.createProgram(files, {
      allowJs: true,
      checkJs: true,
      noEmit: true,
      strict: false,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
      types: ['node'],
      typeRoots: [join(repo, 'node_modules/@types')],
      // The package itself, from source (dist/ need not be built).
      baseUrl: repo,
      paths: { 'ebpf-ts': ['src/index.ts'] },
      skipLibCheck: true,
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || files.includes(d.file.fileName) || d.file.fileName.includes('/examples/'))
      .map((d) => `${d.file?.fileName ?? ''}:${d.file === undefined ? '' : d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(diagnostics).toEqual([]);
  }, 180_000);
});
