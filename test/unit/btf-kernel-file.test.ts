// How kernel BTF files are read: the read-only mapping seam (used for /sys/kernel/btf/ only,
// declined on the fake backend and on mmap errors), and the one-large-read fallbacks for files
// of known and of unknown (st_size 0) size.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readBTFFile } from '../../src/btf/kernel-file.js';
import { mapReadOnly, setReadOnlyMapper } from '../../src/internal/read-only-mapper.js';
import type { Backend, Mapping } from '../../src/sys/backend.js';
import { FakeBackend } from '../../src/sys/backend-fake.js';
import { readOnlyMapperFor } from '../../src/sys/map-file.js';
import { backend } from '../../src/sys/select.js';
import { testdata } from './btf-helpers.js';

// Importing sys/select.ts registers the backend mapper; each test puts it back.
const registered = readOnlyMapperFor(backend);
afterEach(() => setReadOnlyMapper(registered));

describe('readBTFFile', () => {
  it('reads a file of known size whole, without asking the mapper outside /sys/kernel/btf/', () => {
    const calls: number[] = [];
    setReadOnlyMapper((_fd, length) => {
      calls.push(length);
      return new Uint8Array(length);
    });
    const path = join(testdata, 'btf_kinds.bpfel.o');
    expect(Buffer.from(readBTFFile(path)).equals(readFileSync(path))).toBe(true);
    expect(Buffer.from(readBTFFile(`${testdata}/../testdata/btf_kinds.bpfel.o`)).equals(readFileSync(path))).toBe(true);
    expect(calls).toEqual([]);
  });

  it('asks the mapper for /sys/kernel/btf/ files and uses its bytes (skipped without vmlinux BTF)', (ctx) => {
    let size: number;
    try {
      size = readFileSync('/sys/kernel/btf/vmlinux').length;
    } catch {
      ctx.skip('no /sys/kernel/btf/vmlinux');
      return;
    }
    const mapped = new Uint8Array(size);
    setReadOnlyMapper((_fd, length) => (length === size ? mapped : undefined));
    expect(readBTFFile('/sys/kernel/btf/vmlinux')).toBe(mapped);
    // A declining mapper means a read.
    setReadOnlyMapper(() => undefined);
    const read = readBTFFile('/sys/kernel/btf/vmlinux');
    expect(read).not.toBe(mapped);
    expect(read.length).toBe(size);
  });

  it('reads files that report size 0 (procfs) into a growing buffer', () => {
    const expected = readFileSync('/proc/self/environ');
    expect(Buffer.from(readBTFFile('/proc/self/environ')).equals(expected)).toBe(true);
  });
});

describe('readOnlyMapperFor', () => {
  const stub = (kind: Backend['kind'], mmap: Backend['mmap']): Backend => ({ ...new FakeBackend(), kind, mmap }) as unknown as Backend;

  it('maps with PROT_READ and MAP_PRIVATE and hands out exactly the file length', () => {
    const seen: number[][] = [];
    const map = readOnlyMapperFor(() =>
      stub('native', (fd, length, prot, flags, offset): Mapping => {
        seen.push([fd, length, prot, flags, offset]);
        return { buffer: new ArrayBuffer(8192), length: 8192 };
      }),
    );
    const bytes = map(7, 5000);
    expect(bytes?.length).toBe(5000);
    expect(seen).toEqual([[7, 5000, 1, 2, 0]]);
  });

  it('declines on mmap errors, the fake backend, a backend that cannot load, and empty files', () => {
    expect(readOnlyMapperFor(() => stub('ffi-rs', () => -95))(3, 100)).toBeUndefined();
    expect(readOnlyMapperFor(() => new FakeBackend())(3, 100)).toBeUndefined();
    expect(
      readOnlyMapperFor(() => {
        throw new Error('no backend');
      })(3, 100),
    ).toBeUndefined();
    expect(readOnlyMapperFor(() => stub('native', () => ({ buffer: new ArrayBuffer(1), length: 1 })))(3, 0)).toBeUndefined();
  });

  it('without a registered mapper, mapReadOnly declines', () => {
    setReadOnlyMapper(undefined);
    expect(mapReadOnly(0, 100)).toBeUndefined();
  });
});
