// The per-boot store of the kernel BTF index (features/kernel-btf-index-cache.ts) and its use
// by parsing (btf/parse.ts): an index read back is used only when a sample of it fits the BTF,
// and a file the store cannot trust, or one made for another key or another BTF, is not read.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSpec } from '../../src/btf/spec.js';
import { KernelBTFIndexFile, kernelBTFIndexFileName, kernelBTFIndexKey } from '../../src/features/kernel-btf-index-cache.js';
import type { KernelBTFIndex } from '../../src/internal/kernel-btf-index.js';

const vmlinux = '/sys/kernel/btf/vmlinux';
let root: string;
let dir: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ebpf-ts-btf-index-'));
  dir = join(root, 'ebpf-ts');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function indexOf(bytes: Uint8Array): KernelBTFIndex {
  const raw = parseSpec(bytes, { verified: true }).raw!;
  return { offsets: raw.offsets.slice(), names: raw.nameOffsets.slice(), maxNames: raw.maxNameOffsets!.slice() };
}

describe.skipIf(!existsSync(vmlinux))('kernel BTF index kept for the boot', () => {
  const bytes = existsSync(vmlinux) ? new Uint8Array(readFileSync(vmlinux)) : new Uint8Array();
  const key = kernelBTFIndexKey('8c1d0c1a-0000-4000-8000-000000000001', '6.18.0-test');

  it('is written into a 0700 directory and read back under its key and BTF length only', () => {
    const index = indexOf(bytes);
    const file = new KernelBTFIndexFile(dir, key);
    expect(file.save(bytes.length, index)).toBe(true);
    expect(file.load(bytes.length)).toEqual(index);
    expect(file.load(bytes.length + 4)).toBeUndefined();
    expect(new KernelBTFIndexFile(dir, kernelBTFIndexKey('8c1d0c1a-0000-4000-8000-000000000002', '6.18.0-test')).load(bytes.length)).toBeUndefined();
    // Others may write the file, or enter the directory: not read.
    chmodSync(join(dir, kernelBTFIndexFileName), 0o666);
    expect(file.load(bytes.length)).toBeUndefined();
    chmodSync(join(dir, kernelBTFIndexFileName), 0o600);
    chmodSync(dir, 0o755);
    expect(file.load(bytes.length)).toBeUndefined();
  });

  it('a truncated or foreign file is not an index', () => {
    const file = new KernelBTFIndexFile(dir, key);
    expect(file.save(bytes.length, indexOf(bytes))).toBe(true);
    const path = join(dir, kernelBTFIndexFileName);
    const whole = readFileSync(path);
    writeFileSync(path, whole.subarray(0, whole.length - 4), { mode: 0o600 });
    expect(file.load(bytes.length)).toBeUndefined();
    writeFileSync(path, Buffer.from('not an index at all'.repeat(100)), { mode: 0o600 });
    expect(file.load(bytes.length)).toBeUndefined();
  });

  it('parsing uses an index that fits and indexes anew when it does not', () => {
    const index = indexOf(bytes);
    const reused = parseSpec(bytes, { verified: true, index }).raw!;
    expect(reused.reusedIndex).toBe(true);
    expect(reused.offsets).toBe(index.offsets);
    const bad: KernelBTFIndex[] = [
      { ...index, offsets: index.offsets.map((o, i) => (i === Math.floor((index.offsets.length - 1) / 63) ? o + 12 : o)) },
      { ...index, names: index.names.map((n, i) => (i === index.names.length - 1 ? n + 1 : n)) },
      { ...index, offsets: index.offsets.subarray(0, index.offsets.length - 1), names: index.names.subarray(0, index.names.length - 1) },
      { ...index, maxNames: new Uint32Array(32) },
    ];
    for (const b of bad) {
      const raw = parseSpec(bytes, { verified: true, index: b }).raw!;
      expect(raw.reusedIndex).toBe(false);
      expect(raw.offsets).toEqual(index.offsets);
      expect(raw.nameOffsets).toEqual(index.names);
    }
    // Only verified BTF takes an index from outside.
    expect(parseSpec(bytes, { index }).raw!.reusedIndex).toBe(false);
  });
});
