// Kernel BTF through the backend's read-only mapping: where the kernel allows mmap() of
// /sys/kernel/btf/vmlinux (6.16+), loadKernelSpec() parses the mapped pages (nothing read, the
// buffer exactly the file's size); elsewhere it reads. Either way the spec equals one parsed
// from a plain read. Runs on whichever backend EBPF_TS_BACKEND selects (CI runs both).
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { flushKernelSpecCache, loadKernelSpec } from '../../src/btf/kernel.js';
import { parseSpec } from '../../src/btf/spec.js';
import { Struct } from '../../src/btf/types.js';
import { backend } from '../../src/sys/select.js';

const path = '/sys/kernel/btf/vmlinux';
let fileBytes: Buffer | undefined;
try {
  fileBytes = readFileSync(path);
} catch {
  fileBytes = undefined;
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects, then lets finalizers and FinalizationRegistry callbacks run. */
async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

/** The mappings of the vmlinux BTF file this process holds (/proc/self/maps lines). */
function mappings(): number {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(path)).length;
}

/** Whether this backend and kernel can map the file read-only (MAP_PRIVATE). */
function kernelMaps(size: number): boolean {
  const fd = openSync(path, 'r');
  try {
    const m = backend().mmap(fd, size, 1, 2, 0);
    return typeof m !== 'number';
  } finally {
    closeSync(fd);
  }
}

describe(`kernel BTF by mmap (${backend().kind} backend)`, () => {
  it('maps /sys/kernel/btf/vmlinux where the kernel allows it, else reads it; same types either way', (ctx) => {
    if (fileBytes === undefined) ctx.skip(`${path} is missing`);
    const size = fileBytes!.length;
    flushKernelSpecCache();
    const spec = loadKernelSpec();
    const buffer = spec.raw!.bytes.buffer;
    if (kernelMaps(size)) {
      // A mapping is exactly the file; a read goes into a WebAssembly memory (64 KiB pages).
      expect(buffer.byteLength).toBe(size);
      expect(spec.raw!.bytes.byteOffset).toBe(0);
    }
    expect(Buffer.from(spec.raw!.bytes).equals(fileBytes!)).toBe(true);
    const plain = parseSpec(new Uint8Array(fileBytes!));
    expect(spec.typeCount).toBe(plain.typeCount);
    const task = spec.typeByName('task_struct', Struct);
    expect(task.size).toBe(plain.typeByName('task_struct', Struct).size);
    expect(task.members.map((m) => m.name)).toEqual(plain.typeByName('task_struct', Struct).members.map((m) => m.name));
    expect(spec.typeId(task)).toBe(plain.typeId(plain.typeByName('task_struct', Struct)));
  });

  it('a flushed spec stays mapped and readable while referenced, and is unmapped once collected', async (ctx) => {
    if (fileBytes === undefined) ctx.skip(`${path} is missing`);
    if (!kernelMaps(fileBytes!.length)) ctx.skip('this kernel or backend cannot map /sys/kernel/btf/vmlinux');
    flushKernelSpecCache();
    await collect();
    const before = mappings();
    let first: ReturnType<typeof loadKernelSpec> | undefined = loadKernelSpec();
    const size = first.typeByName('mm_struct', Struct).size;
    flushKernelSpecCache();
    const second = loadKernelSpec();
    expect(second === first).toBe(false); // (not.toBe would deep-compare two kernel specs)
    expect(mappings()).toBe(before + 2);
    await collect();
    // Still referenced: not unmapped under it, still reads the same bytes.
    expect(mappings()).toBe(before + 2);
    expect(first.typeByName('task_struct', Struct).size).toBe(second.typeByName('task_struct', Struct).size);
    expect(second.typeByName('mm_struct', Struct).size).toBe(size);
    first = undefined;
    await collect();
    expect(mappings()).toBe(before + 1);
  });
});
