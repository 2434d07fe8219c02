// BpfMap against the fake syscall backend: argument checks, attr encoding, per-CPU layouts,
// batch fallback, error explanations and iteration semantics, all without a kernel.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeBackend, type FakeBpfCall } from '../../src/sys/backend-fake.js';
import { setBackend } from '../../src/sys/select.js';
import { Cmd } from '../../src/sys/layouts.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { overridePossibleCPUs, parseCPUList } from '../../src/sys/cpus.js';
import { Capability, overrideCapabilities } from '../../src/internal/privileges.js';
import { overrideKernelConfig } from '../../src/internal/kconfig.js';
import { resetMapTypeFeatures } from '../../src/features/map-types.js';
import {
  BatchCursor,
  BpfMap,
  IterationAbortedError,
  resetBatchSupport,
  sanitizeName,
  UpdateFlags,
} from '../../src/map.js';
import { copyMapSpec, PinType, type MapSpec } from '../../src/map-spec.js';
import { MapType } from '../../src/types.js';
import { ArgumentError, ClosedError, NotSupportedError, SyscallError } from '../../src/errors.js';

let fake: FakeBackend;

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

function nameOf(call: FakeBpfCall): string {
  if (call.attr.byteLength < 44) return '';
  const raw = call.attr.subarray(28, 44);
  const nul = raw.indexOf(0);
  return Buffer.from(nul < 0 ? raw : raw.subarray(0, nul)).toString('latin1');
}

/** Every MAP_CREATE succeeds; probes included. */
function acceptCreates(): void {
  fake.alwaysBpf(Cmd.MapCreate, () => fake.allocFd());
}

/** The MAP_CREATE calls that were not feature probes (probes use the names below). */
function userCreates(): FakeBpfCall[] {
  return fake.callsOf(Cmd.MapCreate).filter((c) => !['feature_probe', '.probe'].includes(nameOf(c)));
}

/**
 * A toy hash map behind the element commands, with the kernel's iteration rule: GET_NEXT_KEY
 * from a key that is not in the map starts over from the first key (htab_map_get_next_key()).
 */
class ToyHash {
  readonly entries = new Map<string, Uint8Array>();
  onLookup: ((key: string) => void) | undefined;

  install(): void {
    fake.alwaysBpf(Cmd.MapGetNextKey, (c) => {
      const key = c.pointers.get(8);
      const out = c.pointers.get(16)!;
      const keys = [...this.entries.keys()];
      let idx = 0;
      if (key != null) {
        const at = keys.indexOf(hex(key));
        idx = at < 0 ? 0 : at + 1;
      }
      if (idx >= keys.length) return -Errno.ENOENT;
      out.set(Buffer.from(keys[idx]!, 'hex'));
      return 0;
    });
    fake.alwaysBpf(Cmd.MapLookupElem, (c) => {
      const k = hex(c.pointers.get(8)!);
      this.onLookup?.(k);
      const v = this.entries.get(k);
      if (v === undefined) return -Errno.ENOENT;
      c.pointers.get(16)!.set(v);
      return 0;
    });
  }
}

beforeEach(() => {
  fake = new FakeBackend();
  setBackend(fake);
  overrideKernelVersion('6.18');
  overridePossibleCPUs(4);
  resetMapTypeFeatures();
  resetBatchSupport();
});

afterEach(() => {
  setBackend(undefined);
  overrideCapabilities();
  overrideKernelConfig();
  overrideKernelVersion(undefined);
  overridePossibleCPUs(undefined);
});

const hashSpec: MapSpec = { name: 'counts', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 16 };

describe('key and value sizes', () => {
  it('rejects a key of the wrong size with ArgumentError naming the map and both sizes, before any syscall', () => {
    acceptCreates();
    const map = BpfMap.create(hashSpec);
    const before = fake.calls.length;
    expect(() => map.lookup(new Uint8Array(8))).toThrow(ArgumentError);
    expect(() => map.lookup(new Uint8Array(8))).toThrow(/map counts: lookup key must be a Uint8Array of keySize 4 bytes, got 8 bytes/);
    expect(() => map.update(new Uint8Array(3), new Uint8Array(8))).toThrow(/keySize 4 bytes, got 3 bytes/);
    expect(() => map.delete(new Uint8Array(5))).toThrow(ArgumentError);
    expect(() => map.lookupAndDelete(new Uint8Array(0))).toThrow(ArgumentError);
    expect(() => map.lookup([1, 2, 3, 4] as unknown as Uint8Array)).toThrow(/got an array of 4/);
    expect(fake.calls.length).toBe(before);
  });

  it('rejects a value of the wrong size before any syscall', () => {
    acceptCreates();
    const map = BpfMap.create(hashSpec);
    const before = fake.calls.length;
    expect(() => map.update(u32(1), new Uint8Array(4))).toThrow(/update value must be a Uint8Array of valueSize 8 bytes, got 4 bytes/);
    expect(() => map.updateBatch([u32(1), u32(2)], [new Uint8Array(8), new Uint8Array(9)])).toThrow(ArgumentError);
    expect(() => map.updateBatch([u32(1)], [])).toThrow(/1 keys but 0 values/);
    expect(fake.calls.length).toBe(before);
  });

  it('requires per-CPU values as one Uint8Array of valueSize per possible CPU', () => {
    acceptCreates();
    const map = BpfMap.create<Uint8Array[]>({ name: 'pc', type: MapType.PerCPUArray, keySize: 4, valueSize: 4, maxEntries: 1 });
    const before = fake.calls.length;
    expect(() => map.update(u32(0), [new Uint8Array(4)])).toThrow(/array of 4 Uint8Arrays \(one per possible CPU\).*got an array of 1/);
    expect(() => map.update(u32(0), new Uint8Array(16) as unknown as Uint8Array[])).toThrow(ArgumentError);
    const bad = [new Uint8Array(4), new Uint8Array(4), new Uint8Array(8), new Uint8Array(4)];
    expect(() => map.update(u32(0), bad)).toThrow(/value for CPU 2 must be a Uint8Array of valueSize 4 bytes, got 8 bytes/);
    expect(fake.calls.length).toBe(before);
  });

  it('refuses push/pop on a map with keys', () => {
    acceptCreates();
    const map = BpfMap.create(hashSpec);
    expect(() => map.pop()).toThrow(/pop is for maps without keys/);
  });
});

describe('BPF_MAP_CREATE attr', () => {
  it('ends at max_entries when nothing else is set', () => {
    acceptCreates();
    BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 2 }).close();
    const [call] = userCreates();
    expect(call!.attr.byteLength).toBe(16);
    const v = view(call!.attr);
    expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)]).toEqual([2, 4, 4, 2]);
  });

  it('ends at map_flags (20), map_name (44) or map_extra (72) as the spec requires', () => {
    acceptCreates();
    BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 2, flags: 1 }).close();
    BpfMap.create({ name: 'n', type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 2 }).close();
    BpfMap.create({ type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 2, mapExtra: 3n }).close();
    expect(userCreates().map((c) => c.attr.byteLength)).toEqual([20, 44, 72]);
    expect(view(userCreates()[2]!.attr).getBigUint64(64, true)).toBe(3n);
  });

  it('sanitises the name: [A-Za-z0-9_.] only, at most 15 bytes', () => {
    acceptCreates();
    BpfMap.create({ ...hashSpec, name: 'my-map.with:odd chars' }).close();
    expect(nameOf(userCreates()[0]!)).toBe('my_map.with_odd');
    expect(sanitizeName('a/b c', true)).toBe('a_b_c');
    expect(sanitizeName('.rodata', false)).toBe('_rodata');
  });

  it('replaces "." on kernels that reject it (probed once)', () => {
    fake.alwaysBpf(Cmd.MapCreate, (c) => (nameOf(c) === '.probe' ? -Errno.EINVAL : fake.allocFd()));
    BpfMap.create({ ...hashSpec, name: '.rodata' }).close();
    BpfMap.create({ ...hashSpec, name: '.bss' }).close();
    expect(userCreates().map(nameOf)).toEqual(['_rodata', '_bss']);
    expect(fake.callsOf(Cmd.MapCreate).filter((c) => nameOf(c) === '.probe')).toHaveLength(1);
  });

  it('omits the name entirely on kernels without map names (E2BIG for a non-zero tail)', () => {
    fake.alwaysBpf(Cmd.MapCreate, (c) => (c.attr.byteLength > 28 && c.attr[28] !== 0 ? -Errno.E2BIG : fake.allocFd()));
    const map = BpfMap.create({ ...hashSpec, name: 'counts' });
    const last = fake.callsOf(Cmd.MapCreate).at(-1)!;
    expect(last.attr.byteLength).toBe(16);
    expect(map.name).toBe('counts');
  });

  it('defaults PERF_EVENT_ARRAY to one entry per possible CPU and 4-byte keys and values', () => {
    acceptCreates();
    overridePossibleCPUs(6);
    const map = BpfMap.create({ type: MapType.PerfEventArray, keySize: 0, valueSize: 0 });
    const v = view(userCreates()[0]!.attr);
    expect([v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)]).toEqual([4, 4, 6]);
    expect(map.maxEntries).toBe(6);
  });

  it('creates a temporary inner map for a map-in-map and closes it after', () => {
    acceptCreates();
    const outer = BpfMap.create({
      name: 'outer',
      type: MapType.ArrayOfMaps,
      keySize: 4,
      valueSize: 4,
      maxEntries: 2,
      innerMap: { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 },
    });
    const [inner, outerCall] = userCreates();
    const innerFd = fake.calls.indexOf(inner!) >= 0 ? view(outerCall!.attr).getUint32(20, true) : -1;
    expect(view(inner!.attr).getUint32(8, true)).toBe(8);
    expect(fake.closed).toContain(innerFd);
    expect(fake.closed).not.toContain(outer.fd);
    expect(() => BpfMap.create({ type: MapType.HashOfMaps, keySize: 4, valueSize: 4, maxEntries: 1 })).toThrow(/needs innerMap/);
  });

  it('writes contents after creation and freezes when asked', () => {
    acceptCreates();
    fake.alwaysBpf(Cmd.MapUpdateElem, 0);
    fake.alwaysBpf(Cmd.MapFreeze, 0);
    BpfMap.create({ ...hashSpec, contents: [[u32(1), new Uint8Array(8).fill(7)]], freeze: true });
    expect(fake.callsOf(Cmd.MapUpdateElem)).toHaveLength(1);
    expect(fake.callsOf(Cmd.MapFreeze)).toHaveLength(1);
  });
});

describe('per-CPU values', () => {
  it('lookup reads possibleCPUs × round_up(valueSize, 8) bytes and splits them per CPU', () => {
    acceptCreates();
    overridePossibleCPUs(3);
    const map = BpfMap.create<Uint8Array[]>({ type: MapType.PerCPUHash, keySize: 4, valueSize: 5, maxEntries: 4 });
    let seen = 0;
    fake.onBpf(Cmd.MapLookupElem, (c) => {
      const buf = c.pointers.get(16)!;
      seen = buf.byteLength;
      for (let cpu = 0; cpu < 3; cpu++) buf.fill(cpu + 1, cpu * 8, cpu * 8 + 8); // padding too
      return 0;
    });
    const values = map.lookup(u32(1))!;
    expect(seen).toBe(24);
    expect(values.map((v) => [...v])).toEqual([
      [1, 1, 1, 1, 1],
      [2, 2, 2, 2, 2],
      [3, 3, 3, 3, 3],
    ]);
  });

  it('update lays values out at an 8-byte stride with zeroed padding', () => {
    acceptCreates();
    overridePossibleCPUs(2);
    const map = BpfMap.create<Uint8Array[]>({ type: MapType.PerCPUArray, keySize: 4, valueSize: 3, maxEntries: 1 });
    let sent: number[] = [];
    fake.alwaysBpf(Cmd.MapUpdateElem, (c) => {
      sent = [...c.pointers.get(16)!];
      return 0;
    });
    map.update(u32(0), [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6])]);
    expect(sent).toEqual([1, 2, 3, 0, 0, 0, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0]);
  });
});

describe('element operations', () => {
  it('treats ENOENT as absent, and returns copies the next call cannot overwrite', () => {
    acceptCreates();
    const map = BpfMap.create(hashSpec);
    const toy = new ToyHash();
    toy.entries.set(hex(u32(1)), new Uint8Array(8).fill(1));
    toy.entries.set(hex(u32(2)), new Uint8Array(8).fill(2));
    toy.install();
    const a = map.lookup(u32(1))!;
    const b = map.lookup(u32(2))!;
    expect([a[0], b[0]]).toEqual([1, 2]);
    expect(map.lookup(u32(3))).toBeUndefined();
    fake.alwaysBpf(Cmd.MapDeleteElem, -Errno.ENOENT);
    expect(map.delete(u32(3))).toBe(false);
  });

  it('explains EPERM on update of a frozen map, naming the map', () => {
    acceptCreates();
    const map = BpfMap.create(hashSpec);
    fake.alwaysBpf(Cmd.MapUpdateElem, -Errno.EPERM);
    expect(() => map.update(u32(1), new Uint8Array(8))).toThrow(/update in map counts: BPF_MAP_UPDATE_ELEM: EPERM \(the map is frozen/);
  });

  it('explains EEXIST for UpdateFlags.NoExist and passes the flag', () => {
    acceptCreates();
    const map = BpfMap.create(hashSpec);
    fake.alwaysBpf(Cmd.MapUpdateElem, -Errno.EEXIST);
    expect(() => map.update(u32(1), new Uint8Array(8), UpdateFlags.NoExist)).toThrow(/key already exists/);
    expect(view(fake.callsOf(Cmd.MapUpdateElem)[0]!.attr).getUint32(24, true)).toBe(UpdateFlags.NoExist);
  });

  it('push/pop/peek send no key pointer', () => {
    acceptCreates();
    const q = BpfMap.create({ type: MapType.Queue, keySize: 0, valueSize: 4, maxEntries: 4 });
    fake.alwaysBpf(Cmd.MapUpdateElem, 0);
    fake.onBpf(Cmd.MapLookupAndDeleteElem, (c) => {
      c.pointers.get(16)!.set(u32(9));
      return 0;
    });
    fake.onBpf(Cmd.MapLookupAndDeleteElem, -Errno.ENOENT);
    q.push(u32(9));
    expect([...q.pop()!]).toEqual([...u32(9)]);
    expect(q.pop()).toBeUndefined();
    for (const c of [...fake.callsOf(Cmd.MapUpdateElem), ...fake.callsOf(Cmd.MapLookupAndDeleteElem)]) {
      expect(c.pointers.has(8)).toBe(false);
    }
  });

  it('close is idempotent, closes the fd once, and later use throws ClosedError', () => {
    acceptCreates();
    const map = BpfMap.create(hashSpec);
    const fd = map.fd;
    map.close();
    map.close();
    map[Symbol.dispose]();
    expect(fake.closed.filter((x) => x === fd)).toHaveLength(1);
    expect(() => map.lookup(u32(1))).toThrow(ClosedError);
    expect(() => map.fd).toThrow(/map counts is closed/);
    expect(map.closed).toBe(true);
  });
});

describe('MAP_CREATE errors', () => {
  it('explains E2BIG for a per-CPU value over PCPU_MIN_UNIT_SIZE', () => {
    fake.alwaysBpf(Cmd.MapCreate, (c) => (view(c.attr).getUint32(0, true) === MapType.PerCPUArray ? -Errno.E2BIG : fake.allocFd()));
    const err = (() => {
      try {
        BpfMap.create({ name: 'big', type: MapType.PerCPUArray, keySize: 4, valueSize: 40_000, maxEntries: 1 });
      } catch (e) {
        return e as SyscallError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(SyscallError);
    expect(err.errno).toBe(Errno.E2BIG);
    expect(err.message).toMatch(/create map big: BPF_MAP_CREATE: E2BIG/);
    expect(err.message).toMatch(/per-CPU value of 40000 bytes .* exceeds the per-CPU allocator's 32 KiB unit \(PCPU_MIN_UNIT_SIZE/);
  });

  it('explains E2BIG for a hash key over MAX_BPF_STACK, and mentions the attr tail otherwise', () => {
    fake.alwaysBpf(Cmd.MapCreate, (c) => (nameOf(c) === 'feature_probe' || nameOf(c) === '.probe' ? fake.allocFd() : -Errno.E2BIG));
    expect(() => BpfMap.create({ name: 'k', type: MapType.Hash, keySize: 600, valueSize: 4, maxEntries: 1 })).toThrow(/MAX_BPF_STACK \(512\)/);
    expect(() => BpfMap.create({ name: 'k', type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 })).toThrow(
      /bpf_check_uarg_tail_zero/,
    );
  });

  it('turns E2BIG from a field the kernel is too old for into NotSupportedError for that field', () => {
    overrideKernelVersion('5.10');
    fake.alwaysBpf(Cmd.MapCreate, (c) => (c.attr.byteLength > 64 ? -Errno.E2BIG : fake.allocFd()));
    expect(() => BpfMap.create({ type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 1, mapExtra: 2n })).toThrow(
      /attr field BPF_MAP_CREATE.map_extra is not supported by this kernel \(requires Linux 5.16/,
    );
  });

  it('gives NotSupportedError naming the type and its first kernel on an old kernel', () => {
    overrideKernelVersion('4.9');
    fake.alwaysBpf(Cmd.MapCreate, -Errno.EINVAL);
    const create = () => BpfMap.create({ type: MapType.RingBuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
    expect(create).toThrow(NotSupportedError);
    expect(create).toThrow(/map type RINGBUF is not supported by this kernel \(requires Linux 5.8 or later\)/);
  });

  it('names the config option for a type configured out of a new kernel', () => {
    fake.alwaysBpf(Cmd.MapCreate, (c) => (view(c.attr).getUint32(0, true) === MapType.XSKMap ? -Errno.EINVAL : fake.allocFd()));
    expect(() => BpfMap.create({ type: MapType.XSKMap, keySize: 4, valueSize: 4, maxEntries: 1 })).toThrow(
      /map type XSKMAP is not supported.*requires Linux 4.18.*check CONFIG_XDP_SOCKETS/,
    );
  });

  it('keeps EINVAL with the type rules when the kernel has the type', () => {
    fake.alwaysBpf(Cmd.MapCreate, (c) =>
      view(c.attr).getUint32(0, true) === MapType.LPMTrie && view(c.attr).getUint32(16, true) === 0 ? -Errno.EINVAL : fake.allocFd(),
    );
    expect(() => BpfMap.create({ name: 'lpm', type: MapType.LPMTrie, keySize: 8, valueSize: 4, maxEntries: 1 })).toThrow(
      /create map lpm: BPF_MAP_CREATE: EINVAL \(LPM_TRIE needs flags BPF_F_NO_PREALLOC/,
    );
  });
});

describe('batch operations', () => {
  it('uses separate in/out tokens of max(keySize, 4) bytes and treats ENOENT as the last batch', () => {
    acceptCreates();
    const map = BpfMap.create({ type: MapType.Hash, keySize: 2, valueSize: 1, maxEntries: 8 });
    const tokens: Array<{ in: Uint8Array | null | undefined; out: Uint8Array }> = [];
    let round = 0;
    fake.alwaysBpf(Cmd.MapLookupBatch, (c) => {
      tokens.push({ in: c.pointers.get(0), out: c.pointers.get(8)! });
      const keys = c.pointers.get(16)!;
      const values = c.pointers.get(24)!;
      keys.set([round, 0, round, 1]);
      values.set([10 + round, 20 + round]);
      view(c.liveAttr).setUint32(32, 2, true);
      round++;
      return round === 2 ? -Errno.ENOENT : 0;
    });
    const cursor = new BatchCursor();
    const first = map.lookupBatch(cursor, 4);
    const second = map.lookupBatch(cursor, 4);
    expect(first.count).toBe(2);
    expect(first.done).toBe(false);
    expect(second.count).toBe(2);
    expect(second.done).toBe(true);
    expect(cursor.done).toBe(true);
    expect([...second.values[1]!]).toEqual([21]);
    expect(tokens[0]!.in).toBeUndefined();
    expect(tokens[0]!.out.byteLength).toBe(4);
    expect(tokens[1]!.in).toBe(tokens[0]!.out);
    expect(tokens[1]!.out).not.toBe(tokens[1]!.in);
    expect(map.lookupBatch(cursor, 4).count).toBe(0);
  });

  it('falls back to per-key ops when the kernel answers EINVAL, and remembers it per map type', () => {
    acceptCreates();
    fake.alwaysBpf(Cmd.MapLookupBatch, -Errno.EINVAL);
    const toy = new ToyHash();
    for (let i = 0; i < 5; i++) toy.entries.set(hex(u32(i)), new Uint8Array(8).fill(i));
    toy.install();
    const map = BpfMap.create(hashSpec);
    const cursor = new BatchCursor();
    const got: number[] = [];
    while (!cursor.done) {
      const batch = map.lookupBatch(cursor, 2);
      for (const v of batch.values) got.push(v[0]!);
    }
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(fake.callsOf(Cmd.MapLookupBatch)).toHaveLength(1);
    const other = BpfMap.create(hashSpec);
    expect([...other.entriesBatch()].length).toBe(5);
    expect(fake.callsOf(Cmd.MapLookupBatch)).toHaveLength(1);
  });

  it('falls back for updateBatch on ENOTSUPP', () => {
    acceptCreates();
    fake.alwaysBpf(Cmd.MapUpdateBatch, -Errno.ENOTSUPP);
    fake.alwaysBpf(Cmd.MapUpdateElem, 0);
    const map = BpfMap.create(hashSpec);
    expect(map.updateBatch([u32(1), u32(2)], [new Uint8Array(8), new Uint8Array(8)])).toBe(2);
    expect(fake.callsOf(Cmd.MapUpdateElem)).toHaveLength(2);
  });

  it('deleteBatch skips keys the kernel reports missing and counts the deleted ones', () => {
    acceptCreates();
    const map = BpfMap.create(hashSpec);
    fake.onBpf(Cmd.MapDeleteBatch, (c) => {
      view(c.liveAttr).setUint32(32, 1, true); // deleted 1, then key #1 was missing
      return -Errno.ENOENT;
    });
    fake.onBpf(Cmd.MapDeleteBatch, (c) => {
      expect(view(c.attr).getUint32(32, true)).toBe(1);
      return 0;
    });
    expect(map.deleteBatch([u32(1), u32(2), u32(3)])).toBe(2);
  });
});

describe('iteration', () => {
  it('restarts from the first key when the current key vanishes (htab_map_get_next_key semantics)', () => {
    acceptCreates();
    const toy = new ToyHash();
    for (const k of ['a', 'b', 'c']) toy.entries.set(hex(new TextEncoder().encode(`${k}\0\0\0`)), new Uint8Array(8));
    toy.install();
    const bKey = hex(new TextEncoder().encode('b\0\0\0'));
    toy.onLookup = (k) => {
      if (k === bKey) toy.entries.delete(k); // deleted between GET_NEXT_KEY and LOOKUP
    };
    const map = BpfMap.create(hashSpec);
    const seen = [...map.entries()].map(([k]) => String.fromCharCode(k[0]!));
    expect(seen).toEqual(['a', 'a', 'c']);
  });

  it('aborts with IterationAbortedError after more than maxEntries keys', () => {
    acceptCreates();
    fake.alwaysBpf(Cmd.MapGetNextKey, (c) => {
      c.pointers.get(16)!.set(u32(1)); // a walk that keeps restarting
      return 0;
    });
    const map = BpfMap.create({ ...hashSpec, maxEntries: 3 });
    const keys = () => [...map.keys()];
    expect(keys).toThrow(IterationAbortedError);
    expect(keys).toThrow(/map counts: iteration aborted after 4 keys, more than maxEntries 3/);
  });

  it('keys() yields copies', () => {
    acceptCreates();
    const toy = new ToyHash();
    toy.entries.set(hex(u32(1)), new Uint8Array(8));
    toy.entries.set(hex(u32(2)), new Uint8Array(8));
    toy.install();
    const map = BpfMap.create(hashSpec);
    const keys = [...map.keys()];
    expect(keys.map(hex)).toEqual([hex(u32(1)), hex(u32(2))]);
  });
});

describe('MapSpec and CPUs', () => {
  it('copyMapSpec copies inner maps and contents deeply', () => {
    const spec: MapSpec = {
      ...hashSpec,
      pinning: PinType.ByName,
      innerMap: { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 },
      contents: [[u32(1), new Uint8Array(8)]],
    };
    const copy = copyMapSpec(spec);
    copy.innerMap!.maxEntries = 9;
    (copy.contents![0]![0] as Uint8Array)[0] = 42;
    expect(spec.innerMap!.maxEntries).toBe(1);
    expect(spec.contents![0]![0][0]).toBe(1);
    expect(copy.pinning).toBe(PinType.ByName);
  });

  it('parses CPU lists with ranges', () => {
    expect(parseCPUList('0-3,5\n')).toEqual([0, 1, 2, 3, 5]);
    expect(parseCPUList('0')).toEqual([0]);
    expect(parseCPUList('')).toEqual([]);
    expect(() => parseCPUList('3-1')).toThrow(ArgumentError);
    expect(() => parseCPUList('x')).toThrow(ArgumentError);
  });
});

describe('map type probes', () => {
  it('answer unknown on EPERM without privileges (not cached), not supported on EINVAL with the version, supported on success', async () => {
    const { mapTypeFeature } = await import('../../src/features/map-types.js');
    overrideCapabilities(0n);
    fake.onBpf(Cmd.MapCreate, -Errno.EPERM);
    expect(mapTypeFeature(MapType.Queue).check()).toMatchObject({ supported: 'unknown' });
    fake.onBpf(Cmd.MapCreate, -Errno.EINVAL);
    expect(mapTypeFeature(MapType.Queue).check()).toMatchObject({ supported: false, minimumVersion: '4.20' });
    expect(mapTypeFeature(MapType.Queue).check()).toMatchObject({ supported: false }); // cached
    acceptCreates();
    expect(mapTypeFeature(MapType.Hash).check()).toEqual({ supported: true });
    const hashProbe = fake.callsOf(Cmd.MapCreate).at(-1)!;
    expect(view(hashProbe.attr).getUint32(0, true)).toBe(MapType.Hash);
  });

  it('EPERM with CAP_SYS_ADMIN held is a security policy refusing the type: create throws NotSupportedError naming it, no version', async () => {
    const { mapTypeFeature } = await import('../../src/features/map-types.js');
    overrideCapabilities(1n << BigInt(Capability.CAP_SYS_ADMIN));
    fake.alwaysBpf(Cmd.MapCreate, () => -Errno.EPERM);
    const r = mapTypeFeature(MapType.Arena).check();
    expect(r).toMatchObject({ supported: false, minimumVersion: undefined, refusedByPolicy: true });
    expect((r as { reason: string }).reason).toMatch(/^BPF_MAP_CREATE of map type ARENA answered EPERM: refused by the kernel's security policy \(lockdown or an LSM\)/);
    const err = (() => {
      try {
        BpfMap.create({ name: 'arena', type: MapType.Arena, keySize: 0, valueSize: 0, maxEntries: 2, flags: 1 << 10 });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBeUndefined();
    expect((err as Error).message).toMatch(/^map arena: map type ARENA is not supported by this kernel; .*security policy/);
    expect((err as NotSupportedError).errno).toBe(Errno.EPERM);
  });

  it('a type the kernel config leaves out names the option instead of a version', async () => {
    const { mapTypeFeature } = await import('../../src/features/map-types.js');
    overrideKernelConfig('# CONFIG_XDP_SOCKETS is not set\nCONFIG_NET=y\n');
    fake.onBpf(Cmd.MapCreate, -Errno.EINVAL);
    const r = mapTypeFeature(MapType.XSKMap).check();
    expect(r).toMatchObject({ supported: false, minimumVersion: undefined, missingConfig: 'CONFIG_XDP_SOCKETS' });
    expect(() => mapTypeFeature(MapType.XSKMap).require()).toThrow(/^map type XSKMAP is not supported by this kernel; .*CONFIG_XDP_SOCKETS is not set in this kernel's config \(\(test config\)\)$/);
    // On a kernel older than the type, the version is the answer whatever the config says.
    resetMapTypeFeatures();
    overrideKernelVersion('4.17');
    fake.onBpf(Cmd.MapCreate, -Errno.EINVAL);
    expect(mapTypeFeature(MapType.XSKMap).check()).toMatchObject({ supported: false, minimumVersion: '4.18' });
  });

  it('STRUCT_OPS: ENOTSUPP from a wrong value type id means the type exists', async () => {
    const { mapTypeFeature } = await import('../../src/features/map-types.js');
    fake.onBpf(Cmd.MapCreate, -Errno.ENOTSUPP);
    expect(mapTypeFeature(MapType.StructOps).check()).toEqual({ supported: true });
  });

  it('local storage probes load a one-type BTF blob and pass its fd with int key/value ids', async () => {
    const { mapTypeFeature, minimalIntBTF } = await import('../../src/features/map-types.js');
    fake.alwaysBpf(Cmd.BtfLoad, () => 55);
    acceptCreates();
    expect(mapTypeFeature(MapType.TaskStorage).check()).toEqual({ supported: true });
    const v = view(fake.callsOf(Cmd.MapCreate).at(-1)!.attr);
    expect([v.getUint32(16, true), v.getUint32(48, true), v.getUint32(52, true), v.getUint32(56, true)]).toEqual([1, 55, 1, 1]);
    expect(fake.closed).toContain(55);
    const blob = minimalIntBTF();
    expect(new DataView(blob.buffer).getUint16(0, true)).toBe(0xeb9f);
    expect(blob.byteLength).toBe(24 + 16 + 5);
  });
});
