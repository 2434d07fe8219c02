// Statically linked objects against the running kernel, linked by `bpftool gen object`
// (testdata/linked) and by ebpf-ts's linkObjects from the same inputs: the self-checking pair
// loads whole and each program returns 0 under testRun (a definition that should have lost
// the link returns its line number); the links of committed testdata objects load program by
// program exactly as their inputs do — the same success and test-run result, or the same
// error — and whole where their inputs do.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Struct } from '../../src/btf/types.js';
import { loadCollection, type CollectionOptions } from '../../src/collection.js';
import { readFileSync } from 'node:fs';
import { linkObjects } from '../../src/collection-link.js';
import { loadCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';

const skip = process.getuid?.() !== 0 ? 'needs root for bpf()' : '';
const TD = 'testdata';
const packet = new Uint8Array(64);

/** The two linkers: bpftool's output, or linkObjects on its inputs. */
const linkers = {
  'bpftool gen object': (name: string): Promise<CollectionSpec> => loadCollectionSpec(join(TD, `linked/${name}.bpfel.o`)),
  linkObjects: (_name: string, inputs: string[]): Promise<CollectionSpec> =>
    Promise.resolve(linkObjects(inputs.map((i) => ({ name: i, bytes: new Uint8Array(readFileSync(join(TD, i))) })))),
};

/** Linked objects made of committed testdata objects, and their inputs (linked/build.sh). */
const links: Record<string, string[]> = {
  objects: ['elf_patterns', 'elf_programs', 'elf_globals'],
  legacy: ['elf_legacy_maps', 'elf_legacy_maps_ext'],
  tracing: ['multi', 'tracing', 'printk', 'core_relocs'],
};

/** What loading one program gives: its test-run result, or the error's class. */
async function outcome(spec: CollectionSpec, name: string): Promise<string> {
  // Both routes get the same options: core_relocs relocates against its own target, and
  // elf_globals' CONFIG_BPF_SYSCALL need not come from a readable kernel config.
  const options: CollectionOptions = { programs: [name], kconfig: { CONFIG_BPF_SYSCALL: 'y' } };
  if (name.startsWith('core_')) options.kernelBTF = join(TD, 'core_target.bpfel.o');
  let coll;
  try {
    coll = await loadCollection(spec, options);
  } catch (e) {
    return `refused: ${(e as Error).constructor.name}`;
  }
  try {
    try {
      return `loaded, testRun ${coll.programs[name]!.testRun({ data: packet }).retval}`;
    } catch {
      return 'loaded, no packet test run';
    }
  } finally {
    coll.close();
  }
}

describe.skipIf(skip !== '').each(Object.entries(linkers))('statically linked objects (%s)', (_linker, linked) => {
  it('linked/selfcheck: loads whole; every program returns 0 (the definitions that won the link)', async () => {
    const coll = await loadCollection(await linked('selfcheck', ['linked/selfcheck_a.bpfel.o', 'linked/selfcheck_b.bpfel.o']));
    try {
      expect(Object.keys(coll.programs).sort()).toEqual(['check_a', 'check_b']);
      expect(Object.keys(coll.maps).sort()).toEqual(['.data', 'legacy_a', 'legacy_b_array', 'legacy_b_hash', 'only_in_b', 'shared']);
      for (const name of ['check_a', 'check_b']) expect(coll.programs[name]!.testRun({ data: packet }).retval, name).toBe(0);
      // Programs with func_info for subprograms of both inputs were accepted with BTF.
      expect(coll.programs.check_a!.info().btfId).toBeGreaterThan(0);
      expect(coll.maps.legacy_b_hash!.info()).toMatchObject({ keySize: 4, valueSize: 4, maxEntries: 8 });
    } finally {
      coll.close();
    }
  });

  for (const [name, inputs] of Object.entries(links)) {
    it(`linked/${name}: every program loads (or is refused) as it is from its input, with the same test-run result`, async () => {
      const spec = await linked(name, inputs.map((i) => `${i}.bpfel.o`));
      const sources = await Promise.all(inputs.map((i) => loadCollectionSpec(join(TD, `${i}.bpfel.o`))));
      let loaded = 0;
      for (const prog of Object.keys(spec.programs)) {
        const source = sources.find((s) => Object.hasOwn(s.programs, prog))!;
        let expected = await outcome(source, prog);
        if (prog === 'core_types') {
          // It adds bpf_core_type_id_local(struct core_sample), an id in the object's own BTF,
          // which the linker renumbered.
          const id = (s: CollectionSpec): number => s.btf!.typeId(s.btf!.typeByName('core_sample', Struct));
          expected = expected.replace(/\d+$/, (r) => String(Number(r) + id(spec) - id(source)));
        }
        const got = await outcome(spec, prog);
        expect(got, prog).toBe(expected);
        if (got.startsWith('loaded')) loaded++;
      }
      expect(loaded).toBeGreaterThan(0);
    });
  }

  it('linked/legacy: loads whole, as its inputs do', async () => {
    const coll = await loadCollection(await linked('legacy', ['elf_legacy_maps.bpfel.o', 'elf_legacy_maps_ext.bpfel.o']));
    try {
      expect(Object.keys(coll.maps).sort()).toEqual(['ext_counts', 'legacy_array', 'legacy_hash']);
      // The 20-byte definition's map_flags (BPF_F_RDONLY_PROG) and the 36-byte one's fields.
      expect(coll.maps.legacy_array!.flags & 0x80).toBe(0x80);
      expect(coll.maps.ext_counts!.info()).toMatchObject({ keySize: 4, valueSize: 8, maxEntries: 1 });
      // ext_classifier adds skb->len to ext_counts[0]: the map it found is the 36-byte one.
      expect(coll.programs.ext_classifier!.testRun({ data: packet }).retval).toBe(0);
      const v = coll.maps.ext_counts!.lookup(new Uint8Array(4))!;
      expect(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true)).toBe(64n); // one 64-byte packet
    } finally {
      coll.close();
    }
  });
});
