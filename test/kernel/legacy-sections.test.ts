// Objects whose section names follow cilium/ebpf's and old libbpf's prefix rule
// (testdata/elf_legacy_sections.bpf.c) load and run: the program type comes from the row the
// name starts with. Each program returns a value of its own under BPF_PROG_TEST_RUN.
import { describe, expect, it } from 'vitest';
import { loadCollection } from '../../src/collection.js';
import { ProgramType } from '../../src/types.js';

const object = new URL('../../testdata/elf_legacy_sections.bpfel.o', import.meta.url).pathname;
const noRoot = process.getuid?.() === 0 ? '' : 'needs root for bpf()';

// An Ethernet + IPv4 header's worth of zeros: enough packet for the test runs of skb and XDP programs.
const packet = new Uint8Array(64);

describe.skipIf(noRoot !== '')('legacy section names', () => {
  it('load with the type of the row they start with, and run', async () => {
    const coll = await loadCollection(object);
    try {
      // ?kprobe__do_exit matches no rule and is not loaded by default.
      expect(Object.keys(coll.programs).sort()).toEqual(['legacy_classifier', 'legacy_sk_lookup', 'legacy_socket', 'legacy_xdp']);
      expect(coll.programs.legacy_socket!.type).toBe(ProgramType.SocketFilter);
      expect(coll.programs.legacy_xdp!.type).toBe(ProgramType.XDP);
      expect(coll.programs.legacy_classifier!.type).toBe(ProgramType.SchedCls);
      expect(coll.programs.legacy_sk_lookup!.type).toBe(ProgramType.SKLookup);
      expect(coll.programs.legacy_socket!.testRun({ data: packet }).retval).toBe(11);
      expect(coll.programs.legacy_classifier!.testRun({ data: packet }).retval).toBe(7);
      expect(coll.programs.legacy_xdp!.testRun({ data: packet }).retval).toBe(2); // XDP_PASS
    } finally {
      coll.close();
    }
  });
});
