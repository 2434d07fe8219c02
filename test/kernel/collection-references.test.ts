// Symbolic references against the running kernel: testdata/elf_references (with BTF) and
// elf_references_nobtf (-g0) name symbols they do not define — inline assembly's constants,
// a map and a variable, a function only declared, a __kconfig extern without BTF. Unresolved,
// loading refuses them by name; resolved through CollectionSpec.resolveReference, every
// program loads and returns 0 under testRun (each returns its line number when a reference
// resolved to the wrong thing).
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCollection } from '../../src/collection.js';
import { loadCollectionSpec } from '../../src/collection-spec.js';
import { UnresolvedReferenceError } from '../../src/elf/references.js';

const skip = process.getuid?.() !== 0 ? 'needs root for bpf()' : '';
const TD = 'testdata';
const packet = new Uint8Array(64);
/** BPF objects this process holds fds of. */
const openFds = (): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return /^anon_inode:(bpf|btf)/.test(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false;
    }
  }).length;

describe.skipIf(skip !== '')('symbolic references, resolved and test-run', () => {
  it('unresolved: loading names the symbol, the program and the instruction, and creates nothing', async () => {
    const spec = await loadCollectionSpec(join(TD, 'elf_references.bpfel.o'));
    const before = openFds();
    const err = await loadCollection(spec).catch((e: unknown) => e);
    expect(openFds()).toBe(before);
    expect(err).toBeInstanceOf(UnresolvedReferenceError);
    expect(err).toMatchObject({ symbol: 'MY_CONST', program: 'refs_constant', instruction: 0 });
    expect((err as Error).message).toMatch(/^program refs_constant: instruction 0 \(r1 = 0 ll\) refers to MY_CONST, which the object does not define/);
  });

  it('elf_references: a 64-bit value (with and without an addend), a map, a variable and another program (with its static subprogram and BTF line info) return 0', async () => {
    const spec = await loadCollectionSpec(join(TD, 'elf_references.bpfel.o'));
    expect(spec.resolveReference('MY_CONST', 0x123456789abcdefn)).toBe(2); // refs_constant, refs_addend (+ 8)
    expect(spec.resolveReference('MY_MAP', { map: 'values' })).toBe(1);
    expect(spec.resolveReference('MY_VARIABLE', { variable: 'tally' })).toBe(1);
    expect(spec.resolveReference('answer', { function: 'answer_impl' })).toBe(1);
    expect(spec.unresolvedReferences()).toEqual([]);
    const coll = await loadCollection(spec);
    try {
      for (const name of ['refs_constant', 'refs_map', 'refs_variable', 'refs_call', 'refs_addend']) {
        expect(coll.programs[name]!.testRun({ data: packet }).retval, name).toBe(0);
      }
      // refs_map's lookup went to the map it was pointed at.
      const value = coll.maps.values!.lookup(new Uint8Array(4))!;
      expect(new DataView(value.buffer, value.byteOffset).getBigUint64(0, true)).toBe(1n);
      // The appended program and its subprogram came with func_info the kernel accepted.
      expect(coll.programs.refs_call!.info().btfId).toBeGreaterThan(0);
    } finally {
      coll.close();
    }
  });

  it('elf_references_nobtf: a kconfig extern pointed at a .rodata stand-in, a constant, and a subprogram another program carries return 0', async () => {
    const spec = await loadCollectionSpec(join(TD, 'elf_references_nobtf.bpfel.o'));
    expect(spec.btf).toBeUndefined();
    expect(spec.unresolvedReferences().map((r) => r.name)).toEqual(['LINUX_KERNEL_VERSION', 'MY_CONST', 'twice']);
    spec.rewriteConstants({ kernel_version_stand_in: 0x060c00 });
    spec.resolveReference('LINUX_KERNEL_VERSION', { variable: 'kernel_version_stand_in' });
    spec.resolveReference('MY_CONST', 5);
    spec.resolveReference('twice', { function: 'twice_impl' });
    const coll = await loadCollection(spec);
    try {
      for (const name of ['nobtf_kconfig', 'nobtf_constant', 'nobtf_call']) {
        expect(coll.programs[name]!.testRun({ data: packet }).retval, name).toBe(0);
      }
    } finally {
      coll.close();
    }
  });

  it('a wrong resolution is caught by the program itself: MY_CONST = 1 returns the line of its check (47)', async () => {
    const spec = await loadCollectionSpec(join(TD, 'elf_references.bpfel.o'));
    spec.resolveReference('MY_CONST', 1);
    const coll = await loadCollection(spec, { programs: ['refs_constant'] });
    try {
      expect(coll.programs.refs_constant!.testRun({ data: packet }).retval).toBe(47);
    } finally {
      coll.close();
    }
  });
});
