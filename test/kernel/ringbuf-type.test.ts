// A ring buffer declared with its record type (`__type(value, struct event)`,
// testdata/elf_ringbuf_type.bpf.c): it loads (key and value sizes 0 for the kernel), the spec
// keeps the type, and a record read back decodes with it.
import { describe, expect, it } from 'vitest';
import { loadCollection } from '../../src/collection.js';
import { loadCollectionSpec } from '../../src/collection-spec.js';
import { RingBufReader } from '../../src/ringbuf/reader.js';
import { codecFor } from '../../src/btf/codec.js';

const object = new URL('../../testdata/elf_ringbuf_type.bpfel.o', import.meta.url).pathname;
const noRoot = process.getuid?.() === 0 ? '' : 'needs root for bpf()';

describe.skipIf(noRoot !== '')('a ring buffer with a declared record type', () => {
  it('loads with sizes 0 and its records decode as the declared type', async () => {
    const spec = await loadCollectionSpec(object);
    expect(spec.maps.events).toMatchObject({ keySize: 0, valueSize: 0 });
    expect(String(spec.maps.events!.value)).toMatch(/^struct event\b/);
    const coll = await loadCollection(spec);
    try {
      expect(coll.maps.events!.info().valueSize).toBe(0);
      using reader = new RingBufReader(coll.maps.events!);
      expect(coll.programs.submit_event!.testRun({ data: new Uint8Array(64) }).retval).toBe(1);
      const events = reader.decoded('struct event', { btf: spec.btf });
      const first = await events.next();
      const event = first.value as { seq: number; tag: number[] };
      expect(event.seq).toBe(1);
      expect(Buffer.from(event.tag.slice(0, event.tag.indexOf(0))).toString()).toBe('ebpf-ts');
      await events.return(undefined);

      // decoded() with a codec: the same record, typed by the codec.
      expect(coll.programs.submit_event!.testRun({ data: new Uint8Array(64) }).retval).toBe(1);
      const typed = reader.decoded(codecFor<{ seq: number; tag: string }>(spec.btf, 'struct event'));
      const second = (await typed.next()).value as { seq: number; tag: string };
      expect(second.seq).toBe(2);
      expect(second.tag).toBe('ebpf-ts');
      await typed.return(undefined);
    } finally {
      coll.close();
    }
  });
});
