// src/internal/owner.ts, the one ownership type behind BpfMap, Program, BTFHandle, Link and
// the readers: close releases once, use after close throws the object's ClosedError, and an
// object collected while open is released by its kind's registry with one warning per kind.
// Runs on the fake backend; the garbage collector is forced in-process (gc exposed through
// v8.setFlagsFromString, as `node --expose-gc` would).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BTFHandle } from '../../src/btf-handle.js';
import { ClosedError } from '../../src/errors.js';
import { fdState, Owner } from '../../src/internal/owner.js';
import { Link } from '../../src/link/link.js';
import { BpfMap } from '../../src/map.js';
import { PerfReader } from '../../src/perf/reader.js';
import { RingBufReader } from '../../src/ringbuf/reader.js';
import { Cmd } from '../../src/sys/layouts.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { resetMapTypeFeatures } from '../../src/features/map-types.js';
import { FakeBackend } from '../../src/sys/backend-fake.js';
import type { Mapping } from '../../src/sys/backend.js';
import { onlineCPUs } from '../../src/sys/cpus.js';
import { setBackend } from '../../src/sys/select.js';
import { MapType } from '../../src/types.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects, then lets the registries' cleanup tasks run (they are queued after a collection). */
async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The ebpf-ts leak warnings emitted during the test, as their messages. */
let leakWarnings: string[];
let fake: FakeBackend;
let unmapped: Mapping[];

beforeEach(() => {
  fake = new FakeBackend();
  unmapped = [];
  fake.munmap = (m?: Mapping): number => {
    if (m !== undefined) unmapped.push(m);
    return 0;
  };
  fake.alwaysBpf(Cmd.MapCreate, () => fake.allocFd());
  fake.alwaysBpf(Cmd.MapUpdateElem, 0);
  fake.alwaysBpf(Cmd.MapDeleteElem, 0);
  setBackend(fake);
  overrideKernelVersion('6.18');
  resetMapTypeFeatures();
  leakWarnings = [];
  vi.spyOn(process, 'emitWarning').mockImplementation(((warning: string | Error, options?: { code?: string }) => {
    if (options?.code === 'EBPF_TS_LEAKED_FD') leakWarnings.push(String(warning));
  }) as typeof process.emitWarning);
});

afterEach(() => {
  vi.restoreAllMocks();
  setBackend(undefined);
  overrideKernelVersion(undefined);
});

const timesClosed = (fd: number): number => fake.closed.filter((x) => x === fd).length;

describe('Owner', () => {
  it('closes its fd once, however often close() is called', () => {
    const kind = Owner.fdKind('Thing');
    const thing = {};
    const owner = new Owner(kind, thing, { fd: 41, name: 'a' }, 'thing a is closed');
    expect(owner.closed).toBe(false);
    expect(owner.held.fd).toBe(41);
    owner.close();
    owner.close();
    expect(timesClosed(41)).toBe(1);
    expect(owner.closed).toBe(true);
    expect(owner.peek()).toBeUndefined();
  });

  it('throws a ClosedError with the object’s own message on use after close', () => {
    const owner = new Owner(Owner.fdKind('Thing'), {}, { fd: 42, name: 'b' }, 'thing b is closed');
    expect(fdState(owner)).toBe('fd 42');
    owner.close();
    expect(() => owner.held).toThrow(ClosedError);
    expect(() => owner.held).toThrow(/^thing b is closed$/);
    expect(owner.closedError().message).toBe('thing b is closed');
    expect(fdState(owner)).toBe('closed');
  });

  it('releases a record with the kind’s release function, once, even when it throws', () => {
    const released: string[] = [];
    const kind = Owner.kind<{ what: string }>('Rec', ({ what }) => {
      released.push(what);
      throw new Error('release failed');
    });
    const owner = new Owner(kind, {}, { what: 'r1' }, 'rec r1 is closed');
    expect(() => owner.close()).toThrow('release failed');
    owner.close();
    expect(released).toEqual(['r1']);
    expect(owner.closed).toBe(true);
  });

  it('releases what collected objects held, and warns once per kind', async () => {
    const kindA = Owner.fdKind('ThingA');
    const kindB = Owner.fdKind('ThingB');
    const keep: object[] = [];
    // Made in a function of their own so that nothing on this frame keeps them alive.
    (() => {
      for (const fd of [51, 52, 53]) new Owner(kindA, {}, { fd, name: `a${fd}` }, 'a is closed');
      new Owner(kindB, {}, { fd: 61, name: '' }, 'b is closed');
      // Closed, then dropped: the registry must not release it again.
      const closedOne = {};
      new Owner(kindA, closedOne, { fd: 54, name: 'a54' }, 'a is closed').close();
      // Still referenced: never released.
      const kept = {};
      keep.push(kept);
      new Owner(kindA, kept, { fd: 55, name: 'a55' }, 'a is closed');
    })();
    await collect();
    for (const fd of [51, 52, 53, 54, 61]) expect(timesClosed(fd)).toBe(1);
    expect(timesClosed(55)).toBe(0);
    expect(leakWarnings).toHaveLength(2);
    expect(leakWarnings.filter((w) => /^ebpf-ts: ThingA a5[123] \(fd 5[123]\) was garbage-collected without close\(\); its kernel resources are released now, but call close\(\) or use `using` to release them deterministically$/.test(w))).toHaveLength(1);
    expect(leakWarnings).toContain(
      'ebpf-ts: ThingB (fd 61) was garbage-collected without close(); its kernel resources are released now, but call close() or use `using` to release them deterministically',
    );
    expect(keep).toHaveLength(1);
  });
});

describe('the kernel objects on Owner', () => {
  it('BpfMap: close twice closes once, use after close names the map, a leaked map is closed with a warning', async () => {
    const map = BpfMap.create({ name: 'counts', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
    const fd = map.fd;
    map.close();
    map.close();
    expect(timesClosed(fd)).toBe(1);
    expect(map.closed).toBe(true);
    expect(() => map.lookup(new Uint8Array(4))).toThrow(/^map counts is closed$/);
    expect(() => map.delete(new Uint8Array(4))).toThrow(ClosedError);

    const leaked = (() => BpfMap.create({ name: 'lost', type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 }).fd)();
    await collect();
    expect(timesClosed(leaked)).toBe(1);
    expect(leakWarnings).toEqual([expect.stringMatching(/^ebpf-ts: BpfMap lost \(fd \d+\) was garbage-collected without close\(\)/)]);
  });

  it('BTFHandle: close twice closes once; a leaked handle is closed with a warning naming its fd', async () => {
    const btf = BTFHandle.fromFd(71);
    btf.close();
    btf.close();
    expect(timesClosed(71)).toBe(1);
    expect(() => btf.fd).toThrow(/^BTF handle is closed$/);
    (() => BTFHandle.fromFd(72))();
    await collect();
    expect(timesClosed(72)).toBe(1);
    expect(leakWarnings).toEqual([expect.stringMatching(/^ebpf-ts: BTFHandle \(fd 72\) was garbage-collected/)]);
  });

  it('Link: close releases its fds and cleanup once; a leaked link is released the same way', async () => {
    let cleanups = 0;
    const link = Link.adopt({ fd: 81, perfFd: 82, mode: 'perf-link', what: 'kprobe f', cleanup: () => cleanups++ });
    expect(link.toString()).toBe('Link(kprobe f, perf-link, fd 81)');
    link.close();
    link.close();
    expect([timesClosed(81), timesClosed(82), cleanups]).toEqual([1, 1, 1]);
    expect(() => link.fd).toThrow(/^link kprobe f is closed$/);
    expect(link.toString()).toBe('Link(kprobe f, perf-link, closed)');

    (() => Link.adopt({ fd: 83, perfFd: 84, mode: 'perf-link', what: 'kprobe g', cleanup: () => cleanups++ }))();
    await collect();
    expect([timesClosed(83), timesClosed(84), cleanups]).toEqual([1, 1, 2]);
    expect(leakWarnings).toEqual([expect.stringMatching(/^ebpf-ts: Link kprobe g \(fd 83\) was garbage-collected/)]);
  });

  it('RingBufReader: close unmaps once; a leaked reader is unmapped with a warning', async () => {
    using map = BpfMap.create({ name: 'rb', type: MapType.RingBuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
    const reader = new RingBufReader(map);
    reader.close();
    reader.close();
    expect(unmapped).toHaveLength(2);
    expect(reader.closed).toBe(true);
    expect(() => reader.consume(() => {})).toThrow(/^RingBufReader is closed$/);

    (() => new RingBufReader(map))();
    await collect();
    expect(unmapped).toHaveLength(4);
    expect(leakWarnings).toEqual([expect.stringMatching(/^ebpf-ts: RingBufReader was garbage-collected/)]);
    expect(map.closed).toBe(false);
  });

  it('PerfReader: close takes its events out of the map, unmaps and closes each ring once; so does the safety net', async () => {
    const cpus = onlineCPUs().length;
    const maxEntries = Math.max(...onlineCPUs()) + 1;
    using map = BpfMap.create({ name: 'events', type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries });
    const reader = new PerfReader(map, { perCpuBufferBytes: 4096 });
    const deletesBefore = fake.callsOf(Cmd.MapDeleteElem).length;
    reader.close();
    reader.close();
    expect(unmapped).toHaveLength(cpus);
    expect(fake.callsOf(Cmd.MapDeleteElem).length - deletesBefore).toBe(cpus);
    expect(reader.closed).toBe(true);
    expect(() => reader.pause(onlineCPUs()[0]!)).toThrow(/^PerfReader is closed$/);

    const closedBefore = fake.closed.length;
    (() => new PerfReader(map, { perCpuBufferBytes: 4096 }))();
    await collect();
    expect(unmapped).toHaveLength(2 * cpus);
    expect(fake.closed.length - closedBefore).toBe(cpus);
    expect(fake.callsOf(Cmd.MapDeleteElem).length - deletesBefore).toBe(2 * cpus);
    expect(leakWarnings).toEqual([expect.stringMatching(/^ebpf-ts: PerfReader was garbage-collected/)]);
  });
});
