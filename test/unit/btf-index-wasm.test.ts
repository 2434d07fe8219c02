// The WebAssembly index pass (src/btf/index-wasm.ts) must accept exactly what the JavaScript
// passes accept and produce the same offsets: here the JavaScript passes run alone (the
// WebAssembly one is mocked away for parseSpec) and the real one is compared with them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { findELFSection } from '../../src/btf/elf-section.js';
import { indexModuleBytes } from '../../src/btf/index-wasm-code.js';
import { parseSpec } from '../../src/btf/spec.js';
import { Struct } from '../../src/btf/types.js';
import { BpfError, ParseError } from '../../src/errors.js';
import { objectBTF, testdata } from './btf-helpers.js';

vi.mock('../../src/btf/index-wasm.js', async (actual) => ({ ...(await actual<object>()), wasmIndex: () => undefined }));
const { allocateBTF, indexModule, wasmIndex } = await vi.importActual<typeof import('../../src/btf/index-wasm.js')>('../../src/btf/index-wasm.js');

// Windows small enough to cut through records and to be smaller than one (then doubled).
const windows = [12, 40, 256, 4096];

// What the JavaScript passes make of `btf`, and what the WebAssembly pass makes of it (through
// its default window, and `window` bytes if given).
function both(btf: Uint8Array, window?: number, verified = false): { js: { offsets: Uint32Array; names: Uint32Array } | undefined; wasm: { offsets: Uint32Array; names: Uint32Array } | undefined } {
  let js: { offsets: Uint32Array; names: Uint32Array } | undefined;
  try {
    const raw = parseSpec(btf, { verified }).raw!;
    js = { offsets: raw.offsets, names: raw.nameOffsets };
  } catch (err) {
    if (!(err instanceof BpfError)) throw err;
  }
  const view = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  const hdr = view.getUint32(4, true);
  const start = hdr + view.getUint32(8, true);
  const end = start + view.getUint32(12, true);
  const strLen = view.getUint32(20, true);
  const full = end <= btf.length ? wasmIndex(btf, start, end, strLen, 1, { window, verified }) : undefined;
  const wasm = full === undefined ? undefined : { offsets: full.offsets, names: full.names };
  if (full !== undefined && js !== undefined) {
    // Each kind's largest name offset, as the pass reports it for name lookups.
    const max = new Uint32Array(32);
    js.offsets.forEach((at, i) => {
      const kind = (view.getUint32(at + 4, true) >>> 24) & 0x1f;
      max[kind] = Math.max(max[kind]!, js!.names[i]!);
    });
    expect(full.maxNames).toEqual(max);
  }
  return { js, wasm };
}

describe('WebAssembly index pass', () => {
  const objects = readdirSync(testdata).filter((f) => f.endsWith('.bpfel.o'));

  it('runs the module index-wasm-code.ts assembles', () => {
    const assembled = Buffer.from(indexModuleBytes()).toString('base64');
    expect(indexModule, `src/btf/index-wasm-code.ts changed: set indexModule in src/btf/index-wasm.ts to\n${assembled}`).toBe(assembled);
  });

  it('indexes verified BTF (records skipped) to the same offsets and names, in both passes', () => {
    for (const f of objects) {
      const section = findELFSection(readFileSync(join(testdata, f)), '.BTF');
      if (section === undefined) continue;
      const { js } = both(section.data);
      const verified = both(section.data, undefined, true);
      expect(verified.js, f).toEqual(js);
      expect(verified.wasm, f).toEqual(js);
      expect(both(section.data, 40, true).wasm, `${f}, window 40`).toEqual(js);
    }
    if (existsSync('/sys/kernel/btf/vmlinux')) {
      const vmlinux = readFileSync('/sys/kernel/btf/vmlinux');
      const { js } = both(vmlinux);
      const verified = both(vmlinux, 4096, true);
      expect(verified.js!.offsets).toEqual(js!.offsets);
      expect(verified.wasm!.offsets).toEqual(js!.offsets);
      expect(verified.wasm!.names).toEqual(js!.names);
    }
  });

  it('checks the records of verified BTF when their type is decoded', () => {
    // A struct member whose type ID is past the last type: parsing rejects it, verified parsing
    // skips it, and decoding the member's type reports it.
    const b = new Uint8Array(objectBTF('btf_kinds.bpfel.o').btf);
    const spec = parseSpec(b);
    const id = [...spec.entries()].find(([, t]) => t instanceof Struct && t.members.length > 0)![0];
    const at = spec.raw!.offsets[id - 1]!;
    new DataView(b.buffer, b.byteOffset).setUint32(at + 12 + 4, 0x7fffff, true);
    expect(() => parseSpec(b)).toThrow(ParseError);
    const verified = parseSpec(b, { verified: true });
    const s = verified.typeById(id) as Struct;
    expect(() => s.members[0]!.type).toThrow(/type ID 8388607 is referenced, but the last type ID is/);
  });

  it('gives the same offsets and names as the JavaScript pass for every testdata object', () => {
    let compared = 0;
    for (const f of objects) {
      const section = findELFSection(readFileSync(join(testdata, f)), '.BTF');
      if (section === undefined) continue;
      const { js, wasm } = both(section.data);
      expect(wasm, f).toBeDefined();
      expect(wasm, f).toEqual(js);
      for (const window of windows) expect(both(section.data, window).wasm, `${f}, window ${window}`).toEqual(js);
      compared++;
    }
    expect(compared).toBeGreaterThan(10);
  });

  it.skipIf(!existsSync('/sys/kernel/btf/vmlinux'))('gives the same result for vmlinux', () => {
    const { js, wasm } = both(readFileSync('/sys/kernel/btf/vmlinux'));
    expect(wasm).toBeDefined();
    expect(wasm!.offsets).toEqual(js!.offsets);
    expect(wasm!.names).toEqual(js!.names);
    const small = both(readFileSync('/sys/kernel/btf/vmlinux'), 4096).wasm;
    expect(small!.offsets).toEqual(js!.offsets);
    expect(small!.names).toEqual(js!.names);
  });

  it('indexes bytes read into its own memory in place, once', () => {
    const { btf } = objectBTF('btf_kinds.bpfel.o');
    const { js } = both(btf);
    const own = allocateBTF(btf.length);
    own.set(btf);
    const view = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
    const start = 24 + view.getUint32(8, true);
    const end = start + view.getUint32(12, true);
    const strLen = view.getUint32(20, true);
    const first = wasmIndex(own, start, end, strLen, 1)!;
    expect({ offsets: first.offsets, names: first.names }).toEqual(js);
    // Its output lives in the same memory as the bytes.
    expect(first.offsets.buffer).toBe(own.buffer);
    // A second pass over the same bytes must not overwrite those views: it copies.
    const second = wasmIndex(own, start, end, strLen, 1)!;
    expect({ offsets: second.offsets, names: second.names }).toEqual(js);
    expect(second.maxNames).toEqual(first.maxNames);
    expect(second.offsets.buffer).not.toBe(own.buffer);
  });

  it('rejects a section whose last record is cut off, whatever the window', () => {
    const b = new Uint8Array(objectBTF('btf_kinds.bpfel.o').btf);
    const view = new DataView(b.buffer);
    const start = 24 + view.getUint32(8, true);
    const end = start + view.getUint32(12, true);
    const strLen = view.getUint32(20, true);
    for (const window of [undefined, ...windows]) {
      expect(wasmIndex(b, start, end - 4, strLen, 1, { window }), String(window)).toBeUndefined();
      expect(wasmIndex(b, start, end, strLen, 1, { window }), String(window)).toBeDefined();
    }
  });

  it('accepts nothing the JavaScript pass rejects (1000 mutations)', () => {
    // A copy: the section is a Buffer view into the object file, and Buffer#slice shares memory.
    const base = new Uint8Array(objectBTF('btf_kinds.bpfel.o').btf);
    let seed = 0x2468ace;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    let rejected = 0;
    for (let i = 0; i < 1000; i++) {
      const b = base.slice();
      // Mutate the type section only (the header and string table are checked before either pass).
      const view = new DataView(b.buffer);
      const start = 24 + view.getUint32(8, true);
      const len = view.getUint32(12, true);
      for (let k = 1 + rand(3); k > 0; k--) b[start + rand(len)] = rand(3) === 0 ? 0xff : rand(256);
      const { js, wasm } = both(b);
      const windowed = both(b, windows[i % windows.length]).wasm;
      if (js === undefined) {
        rejected++;
        expect(wasm).toBeUndefined();
        expect(windowed).toBeUndefined();
      } else {
        if (wasm !== undefined) expect(wasm).toEqual(js);
        if (windowed !== undefined) expect(windowed).toEqual(js);
      }
    }
    expect(rejected).toBeGreaterThan(0);
  });
});
