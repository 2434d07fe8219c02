// The live layer of the tool cross-checks: every golden file in testdata/golden is what the
// tool prints now for the committed object, so the unit tests that compare with the golden
// files compare with the tools themselves. Runs where the tools are installed (.ci/run
// installs them); each missing tool skips its files with the reason.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findTool, golden, missingToolReason, testdata } from '../helpers/tools.js';

/** How testdata/golden.sh makes each kind of golden file from NAME.o. */
const kinds: Array<{ suffix: string; tool: string; args: (object: string) => string[]; transform?: (out: string, stderr: string, status: number | null) => string }> = [
  { suffix: '.objdump.txt', tool: 'llvm-objdump', args: (o) => ['-d', o] },
  { suffix: '.objdump-alu32.txt', tool: 'llvm-objdump', args: (o) => ['-d', '--mattr=+alu32', o] },
  { suffix: '.objdump-h.txt', tool: 'llvm-objdump', args: (o) => ['-h', o] },
  { suffix: '.readelf-s.txt', tool: 'llvm-readelf', args: (o) => ['-s', '--wide', o] },
  { suffix: '.readelf-r.txt', tool: 'llvm-readelf', args: (o) => ['-r', '--wide', o] },
  { suffix: '.btf-dump.txt', tool: 'bpftool', args: (o) => ['btf', 'dump', 'file', o] },
  {
    suffix: '.skeleton.txt',
    tool: 'bpftool',
    args: (o) => ['gen', 'skeleton', o, 'name', 'x'],
    transform: (out, stderr, status) => {
      if (status !== 0) return `refused: ${stderr.split('\n').find((l) => l !== '')}\n`;
      const names = (what: string): string[] => [...out.matchAll(new RegExp(`^\\s*struct bpf_${what} \\*(\\w+);$`, 'gm'))].map((m) => `${what} ${m[1]!}`).sort();
      return [...names('program'), ...names('map')].map((l) => `${l}\n`).join('');
    },
  },
];

const files = readdirSync(join(testdata, 'golden')).sort();

for (const kind of kinds) {
  const tool = findTool(kind.tool);
  const mine = files.filter((f) => f.endsWith(kind.suffix) && !kinds.some((k) => k !== kind && k.suffix.length > kind.suffix.length && f.endsWith(k.suffix)));
  describe(`${kind.tool} prints what testdata/golden/*${kind.suffix} records`, () => {
    it('has a golden file for every object it covers', () => {
      expect(mine.length).toBeGreaterThan(0);
    });
    it.skipIf(tool === undefined).each(mine)(`%s${tool === undefined ? ` (skipped: ${missingToolReason(kind.tool)})` : ''}`, (file) => {
      const object = file.slice(0, -kind.suffix.length) + '.o';
      const r = spawnSync(tool!, kind.args(object), { cwd: testdata, encoding: 'utf8', maxBuffer: 64 << 20 });
      const out = kind.transform === undefined ? r.stdout : kind.transform(r.stdout, r.stderr, r.status);
      if (kind.transform === undefined) expect(r.status, r.stderr).toBe(0);
      expect(out).toBe(golden(file));
    });
  });
}
