// Our CO-RE engine against libbpf: every relocation record of the testdata objects must give
// exactly what libbpf 1.1 computed for the same object and target (the fixture is libbpf's
// own debug log, parsed by scripts/core-libbpf-fixture.ts): same instruction, same kind of
// patch, same old and new value, same load-size change, same poisoning.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decode, type Instruction } from '../../src/asm/index.js';
import { findELFSection } from '../../src/btf/elf-section.js';
import { parseBTFExt } from '../../src/btf/ext.js';
import { coreRelocate, CORECandidateCache, type COREFixup } from '../../src/btf/core.js';
import { loadKernelSpec } from '../../src/btf/kernel.js';
import { parseSpec, type Spec } from '../../src/btf/spec.js';
import { retagTypeMatches } from './helpers/core-retag.js';
import { testdata, vmlinuxPath } from './btf-helpers.js';

interface FixtureRelocation {
  section: string;
  index: number;
  program: string;
  kind: string;
  instruction: number;
  patch: string;
  from?: string;
  to?: string;
  memorySize?: [number, number];
  noTarget: boolean;
  unsafeSizeChange?: boolean;
}
interface FixtureCase {
  name: string;
  object: string;
  target: string | null;
  retag?: string;
  vmlinuxSha256?: string;
  kernel?: string;
  sections: Record<string, number>;
  relocations: FixtureRelocation[];
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/core-libbpf.json'), 'utf8')) as {
  libbpf: string;
  cases: FixtureCase[];
};
const root = join(testdata, '..');

interface Relocated {
  insns: Instruction[];
  fixups: COREFixup[];
  relocationCount: number;
}

/** Relocates every code section of an object against `targets`, the way a loader would. */
function relocateObject(elf: Uint8Array, targets: Spec[], byteOrder?: 'little' | 'big'): Map<string, Relocated> {
  const local = parseSpec(findELFSection(elf, '.BTF')!.data);
  const ext = parseBTFExt(findELFSection(elf, '.BTF.ext')!.data, local);
  // One candidate cache per object, shared by all sections and programs, as in libbpf.
  const cache = new CORECandidateCache();
  const out = new Map<string, Relocated>();
  for (const [section, relos] of ext.coreRelocations) {
    const code = findELFSection(elf, section)!;
    const insns = decode(code.data, code.byteOrder);
    const { fixups } = coreRelocate(insns, relos, local, targets, { candidateCache: cache, ...(byteOrder ? { byteOrder } : {}) });
    out.set(section, { insns, fixups, relocationCount: relos.length });
  }
  return out;
}

function expectSameAsLibbpf(results: Map<string, Relocated>, c: FixtureCase, options: { compilerValuesDiffer?: boolean } = {}): number {
  let compared = 0;
  for (const [section, count] of Object.entries(c.sections)) {
    const r = results.get(section)!;
    expect(r.relocationCount, `records in ${section}`).toBe(count);
    expect(r.fixups).toHaveLength(c.relocations.filter((x) => x.section === section).length);
    for (const want of c.relocations.filter((x) => x.section === section)) {
      const got = r.fixups[want.index]!;
      const label = `${c.name}: relo #${want.index} (${want.kind}) ${got.description}`;
      expect(got.instruction, label).toBe(want.instruction);
      expect(got.patch.kind, label).toBe(want.patch);
      expect(got.poisoned, label).toBe(want.patch === 'poison');
      if (want.patch !== 'poison') {
        // The big-endian compiler writes its own (unvalidated) bitfield shift.
        if (!(options.compilerValuesDiffer === true && want.kind === 'lshift_u64')) expect(String(got.patch.from), label).toBe(want.from);
        expect(String(got.patch.to), label).toBe(want.to);
      }
      expect(got.patch.memorySize === undefined ? undefined : [got.patch.memorySize.from, got.patch.memorySize.to], label).toEqual(
        want.memorySize,
      );
      // TYPE_ID_LOCAL never looks for a target (libbpf does not log "no matching targets").
      if (want.kind !== 'local_type_id') expect(got.candidate === undefined, label).toBe(want.noTarget);
      expect(got.patch.unsafeSizeChange === true, label).toBe(want.unsafeSizeChange === true);
      compared++;
    }
  }
  return compared;
}

function objectBytes(c: FixtureCase, object = c.object): Uint8Array {
  const bytes = new Uint8Array(readFileSync(join(root, object)));
  return c.retag === 'type_matches' ? retagTypeMatches(bytes).bytes : bytes;
}

describe(`CO-RE results equal libbpf ${fixture.libbpf}'s`, () => {
  for (const c of fixture.cases.filter((x) => x.target !== null)) {
    const target = (): Spec => loadKernelSpec(join(root, c.target!));

    it(`${c.name}: ${c.object} (every record)`, () => {
      const compared = expectSameAsLibbpf(relocateObject(objectBytes(c), [target()]), c);
      expect(compared).toBe(c.relocations.length);
    });

    it(`${c.name}: the big-endian object gives the same results (bitfield shifts computed for little-endian)`, () => {
      const be = c.object.replace('.bpfel.', '.bpfeb.');
      // LSHIFT depends on the target byte order; forcing little-endian makes the bpfeb object
      // comparable with libbpf's little-endian run record for record.
      expectSameAsLibbpf(relocateObject(objectBytes(c, be), [target()], 'little'), c, { compilerValuesDiffer: true });
    });
  }

  it('covers every relocation kind clang-14 emits, plus TYPE_MATCHES', () => {
    const kinds = new Set(fixture.cases.flatMap((c) => c.relocations.map((r) => r.kind)));
    expect([...kinds].sort()).toEqual(
      [
        'byte_off',
        'byte_sz',
        'enumval_exists',
        'enumval_value',
        'field_exists',
        'local_type_id',
        'lshift_u64',
        'rshift_u64',
        'signed',
        'target_type_id',
        'type_exists',
        'type_matches',
        'type_size',
      ].sort(),
    );
    const patches = new Set(fixture.cases.flatMap((c) => c.relocations.map((r) => r.patch)));
    expect([...patches].sort()).toEqual(['alu-imm', 'ldimm64', 'mem-offset', 'poison']);
  });

  const host = fixture.cases.find((x) => x.target === null)!;
  const sameKernel =
    existsSync(vmlinuxPath) && createHash('sha256').update(readFileSync(vmlinuxPath)).digest('hex') === host.vmlinuxSha256;
  it.skipIf(!sameKernel)(
    `host kernel: task_struct relocations against ${vmlinuxPath} (skipped unless the kernel BTF is the fixture's, ${host.kernel})`,
    () => {
      const compared = expectSameAsLibbpf(relocateObject(objectBytes(host), [loadKernelSpec()]), host);
      expect(compared).toBe(host.relocations.length);
    },
  );
});
