// The per-boot store of the kernel BTF index (features/kernel-btf-index-cache.ts) and its use
// by parsing (btf/parse.ts): a kept index gives the same IDs and names as indexing the BTF;
// whatever in it does not fit the BTF (a checkpoint, a name slot) is noticed where it is used
// and the BTF indexed as without it; a file the store cannot trust, or one made for another
// key, format or BTF, is not read.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { idBitsFor } from '../../src/btf/name-index.js';
import { parseSpec, type Spec } from '../../src/btf/spec.js';
import { Kind } from '../../src/btf/types.js';
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

function keptOf(bytes: Uint8Array): KernelBTFIndex {
  const kept = parseSpec(bytes, { verified: true }).raw!.keptIndex()!;
  return { ...kept, checkpoints: kept.checkpoints.slice(), names: kept.names.slice() };
}

// Equality of big arrays without a diff of 100k+ elements on failure.
const bytesOf = (a: Uint32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
function sameIndex(a: KernelBTFIndex | undefined, b: KernelBTFIndex): boolean {
  return (
    a !== undefined &&
    a.count === b.count &&
    a.strideLog2 === b.strideLog2 &&
    bytesOf(a.checkpoints).equals(bytesOf(b.checkpoints)) &&
    bytesOf(a.names).equals(bytesOf(b.names))
  );
}

// Whether the spec still uses its kept index (it drops one that proved wrong).
const usesKept = (spec: Spec): boolean => (spec.raw as unknown as { kept?: unknown }).kept !== undefined;

// Names a program looks up: structs, a typedef, a func, flavors, several same-named types, none.
const names = ['task_struct', 'task_struct___v2', 'u32', 'sk_buff', 'bpf_prog', 'list_head', 'do_sys_open', 'bpf_map_lookup_elem', 'nope_not_a_type', 'pid', 'file'];

function answers(spec: Spec): unknown[] {
  return names.map((n) => [n, spec.idsByName(n), spec.idsByName(n, [Kind.Struct]).map((id) => String(spec.typeById(id)))]);
}

describe.skipIf(!existsSync(vmlinux))('kernel BTF index kept for the boot', () => {
  const bytes = existsSync(vmlinux) ? new Uint8Array(readFileSync(vmlinux)) : new Uint8Array();
  const key = kernelBTFIndexKey('8c1d0c1a-0000-4000-8000-000000000001', '6.18.0-test');
  const reference = existsSync(vmlinux) ? answers(parseSpec(bytes, { verified: true })) : [];

  it('is small: checkpoints every 32 records and a name table at most ~55% full', () => {
    const kept = keptOf(bytes);
    expect(kept.strideLog2).toBe(5);
    expect(kept.checkpoints.length).toBe(Math.ceil(kept.count / 32) + 1);
    const used = kept.names.filter((s) => s !== 0xffffffff).length;
    expect(used / kept.names.length).toBeLessThan(0.56);
    expect(used).toBeGreaterThan(kept.count / 4);
  });

  it('is written into a 0700 directory and read back under its key and BTF length only', () => {
    const index = keptOf(bytes);
    const file = new KernelBTFIndexFile(dir, key);
    expect(file.save(bytes.length, index)).toBe(true);
    expect(sameIndex(file.load(bytes.length), index)).toBe(true);
    expect(file.load(bytes.length + 4)).toBeUndefined();
    expect(new KernelBTFIndexFile(dir, kernelBTFIndexKey('8c1d0c1a-0000-4000-8000-000000000002', '6.18.0-test')).load(bytes.length)).toBeUndefined();
    expect(new KernelBTFIndexFile(dir, kernelBTFIndexKey('8c1d0c1a-0000-4000-8000-000000000001', '6.18.1-test')).load(bytes.length)).toBeUndefined();
    // Others may write the file, or enter the directory: not read.
    chmodSync(join(dir, kernelBTFIndexFileName), 0o666);
    expect(file.load(bytes.length)).toBeUndefined();
    chmodSync(join(dir, kernelBTFIndexFileName), 0o600);
    chmodSync(dir, 0o755);
    expect(file.load(bytes.length)).toBeUndefined();
  });

  it('a truncated, foreign or older-format file is not an index', () => {
    const file = new KernelBTFIndexFile(dir, key);
    expect(file.save(bytes.length, keptOf(bytes))).toBe(true);
    const path = join(dir, kernelBTFIndexFileName);
    const whole = readFileSync(path);
    writeFileSync(path, whole.subarray(0, whole.length - 4), { mode: 0o600 });
    expect(file.load(bytes.length)).toBeUndefined();
    writeFileSync(path, Buffer.from('not an index at all'.repeat(100)), { mode: 0o600 });
    expect(file.load(bytes.length)).toBeUndefined();
    const older = Buffer.from(whole);
    older.writeUInt32LE(1, 4); // format 1: offsets and names of every type
    writeFileSync(path, older, { mode: 0o600 });
    expect(file.load(bytes.length)).toBeUndefined();
    writeFileSync(path, whole, { mode: 0o600 });
    expect(sameIndex(file.load(bytes.length), keptOf(bytes))).toBe(true);
  });

  it('parsing with a kept index finds the same types by name and ID as indexing the BTF', () => {
    const spec = parseSpec(bytes, { verified: true, index: keptOf(bytes) });
    expect(spec.raw!.reusedIndex).toBe(true);
    expect(answers(spec)).toEqual(reference);
    const plain = parseSpec(bytes, { verified: true });
    for (let id = 1; id < spec.typeCount; id += 997) expect([id, String(spec.typeById(id))]).toEqual([id, String(plain.typeById(id))]);
    const last = spec.typeCount - 1;
    expect(String(spec.typeById(last))).toBe(String(plain.typeById(last)));
    expect(usesKept(spec)).toBe(true);
    // The whole index, when something asks for it, is computed and agrees.
    expect(bytesOf(spec.raw!.offsets).equals(bytesOf(plain.raw!.offsets))).toBe(true);
  });

  it('an index of another shape is not used; only verified BTF takes one', () => {
    const index = keptOf(bytes);
    const bad: KernelBTFIndex[] = [
      { ...index, count: index.count - 1 },
      { ...index, count: index.count - 32 },
      { ...index, checkpoints: index.checkpoints.map((o, i) => (i === 0 ? o + 12 : o)) },
      { ...index, checkpoints: index.checkpoints.map((o, i) => (i === index.checkpoints.length - 1 ? o - 4 : o)) },
      { ...index, names: index.names.subarray(0, index.names.length - 1) },
      { ...index, strideLog2: 4 },
    ];
    for (const b of bad) {
      const spec = parseSpec(bytes, { verified: true, index: b });
      expect(spec.raw!.reusedIndex).toBe(false);
      expect(answers(spec)).toEqual(reference);
    }
    expect(parseSpec(bytes, { index }).raw!.reusedIndex).toBe(false);
  });

  it('a checkpoint or name slot that does not fit the BTF is noticed where it is used, and the answers stay right', () => {
    const index = keptOf(bytes);
    const plain = parseSpec(bytes, { verified: true });
    const taskId = plain.idsByName('task_struct', [Kind.Struct])[0]!;
    const stride = (taskId - 1) >>> 5;
    const idBits = idBitsFor(plain.typeCount);
    const slot = index.names.findIndex((s) => s !== 0xffffffff && s % 2 ** idBits === taskId);
    const corrupt: [string, KernelBTFIndex][] = [
      ['checkpoint one record off', { ...index, checkpoints: index.checkpoints.map((o, i) => (i === stride ? plain.raw!.offsets[(stride << 5) + 1]! : o)) }],
      ['checkpoint mid-record', { ...index, checkpoints: index.checkpoints.map((o, i) => (i === stride ? o + 4 : o)) }],
      ['next checkpoint wrong', { ...index, checkpoints: index.checkpoints.map((o, i) => (i === stride + 1 ? o + 12 : o)) }],
      ['name slot zeroed', { ...index, names: index.names.map((s, j) => (j === slot ? 0 : s)) }],
      ['name slot of another type', { ...index, names: index.names.map((s, j) => (j === slot ? (((s >>> idBits) << idBits) | (taskId + 1)) >>> 0 : s)) }],
      ['name slot with another hash', { ...index, names: index.names.map((s, j) => (j === slot ? (s ^ (1 << 31)) >>> 0 : s)) }],
    ];
    expect(slot).toBeGreaterThanOrEqual(0);
    for (const [what, b] of corrupt) {
      const spec = parseSpec(bytes, { verified: true, index: b });
      expect(spec.raw!.reusedIndex, what).toBe(true);
      expect(answers(spec), what).toEqual(reference);
      expect(String(spec.typeById(taskId)), what).toBe(String(plain.typeById(taskId)));
      expect(usesKept(spec), what).toBe(false);
    }
  });
});
