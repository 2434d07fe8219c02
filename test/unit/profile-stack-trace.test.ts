// STACK_TRACE map values on the fake kernel: addresses up to the first zero, build-id frames
// (struct bpf_stack_build_id) up to the first empty one, and the mistakes refused by name.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { resetMapTypeFeatures } from '../../src/features/map-types.js';
import { BPF_F_STACK_BUILD_ID } from '../../src/internal/flags.js';
import { BpfMap } from '../../src/map.js';
import { buildIdStackTrace, BPF_STACK_BUILD_ID_SIZE, stackTrace } from '../../src/profile/stack-trace.js';
import { hostLittleEndian } from '../../src/sys/attr.js';
import { FakeBackend } from '../../src/sys/backend-fake.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd } from '../../src/sys/layouts.js';
import { setBackend } from '../../src/sys/select.js';
import { MapType } from '../../src/types.js';

let fake: FakeBackend;
/** Values of the toy stack map by id. */
let stacks: Map<number, Uint8Array>;

beforeEach(() => {
  fake = new FakeBackend();
  setBackend(fake);
  overrideKernelVersion('6.18');
  resetMapTypeFeatures();
  stacks = new Map();
  fake.alwaysBpf(Cmd.MapCreate, () => fake.allocFd());
  fake.alwaysBpf(Cmd.MapLookupElem, (c) => {
    const key = c.pointers.get(8)!;
    const id = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, hostLittleEndian);
    const value = stacks.get(id);
    if (value === undefined) return -2; // ENOENT
    c.pointers.get(16)!.set(value);
    return 0;
  });
});

afterEach(() => {
  setBackend(undefined);
  overrideKernelVersion(undefined);
});

function addresses(depth: number, frames: bigint[]): Uint8Array {
  const out = new Uint8Array(depth * 8);
  const v = new DataView(out.buffer);
  frames.forEach((f, i) => v.setBigUint64(i * 8, f, hostLittleEndian));
  return out;
}

describe('stackTrace', () => {
  it('returns the addresses innermost first, up to the first zero; undefined for an id the map does not hold', () => {
    using map = BpfMap.create({ name: 'stacks', type: MapType.StackTrace, keySize: 4, valueSize: 6 * 8, maxEntries: 16 });
    stacks.set(3, addresses(6, [0xffffffff81001234n, 0xffffffff81005678n, 0xffffffffc0a01000n]));
    stacks.set(4, addresses(6, [0x401136n, 0x401200n, 0x7f0000001000n, 0x7f0000002000n, 0x7f0000003000n, 0x7f0000004000n]));
    expect(stackTrace(map, 3)).toEqual([0xffffffff81001234n, 0xffffffff81005678n, 0xffffffffc0a01000n]);
    // A stack as deep as the value holds has no terminating zero.
    expect(stackTrace(map, 4)).toHaveLength(6);
    expect(stackTrace(map, 5)).toBeUndefined();
  });

  it('refuses a negative id (the error bpf_get_stackid() returned), another map type, and a build-id map', () => {
    using map = BpfMap.create({ name: 'stacks', type: MapType.StackTrace, keySize: 4, valueSize: 8, maxEntries: 16 });
    expect(() => stackTrace(map, -14)).toThrow(ArgumentError);
    expect(() => stackTrace(map, -14)).toThrow(/stack id -14 of map stacks is not an id: a negative value is the error bpf_get_stackid\(\) returned \(-EFAULT: no stack/);
    expect(() => stackTrace(map, 1.5)).toThrow(/ids are non-negative integers/);
    using hash = BpfMap.create({ name: 'counts', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 16 });
    expect(() => stackTrace(hash, 1)).toThrow(/map counts is a HASH map, not a STACK_TRACE map/);
    using ids = BpfMap.create({ name: 'ids', type: MapType.StackTrace, keySize: 4, valueSize: 2 * BPF_STACK_BUILD_ID_SIZE, maxEntries: 16, flags: BPF_F_STACK_BUILD_ID });
    expect(() => stackTrace(ids, 1)).toThrow(/stores build ids \(BPF_F_STACK_BUILD_ID\).*buildIdStackTrace/);
    expect(() => buildIdStackTrace(map, 1)).toThrow(/stores addresses .*stackTrace\(\)/);
  });
});

describe('buildIdStackTrace', () => {
  it('decodes struct bpf_stack_build_id frames: VALID with build id and file offset, IP with the address, up to EMPTY', () => {
    expect(BPF_STACK_BUILD_ID_SIZE).toBe(32);
    using map = BpfMap.create({ name: 'ids', type: MapType.StackTrace, keySize: 4, valueSize: 3 * 32, maxEntries: 16, flags: BPF_F_STACK_BUILD_ID });
    const value = new Uint8Array(3 * 32);
    const v = new DataView(value.buffer);
    // Frame 0: VALID (1), build id 01 02 … 14, offset 0x1234.
    v.setInt32(0, 1, hostLittleEndian);
    for (let i = 0; i < 20; i++) value[4 + i] = i + 1;
    v.setBigUint64(24, 0x1234n, hostLittleEndian);
    // Frame 1: IP (2), the address.
    v.setInt32(32, 2, hostLittleEndian);
    v.setBigUint64(56, 0xffffffff81000010n, hostLittleEndian);
    // Frame 2: EMPTY (0) ends the stack even with bytes after it.
    v.setBigUint64(88, 0x99n, hostLittleEndian);
    stacks.set(7, value);
    expect(buildIdStackTrace(map, 7)).toEqual([
      { status: 'valid', buildId: '0102030405060708090a0b0c0d0e0f1011121314', offset: 0x1234n },
      { status: 'ip', ip: 0xffffffff81000010n },
    ]);
    expect(buildIdStackTrace(map, 8)).toBeUndefined();
  });
});
