// BpfMap against the running kernel (root): every map type of the UAPI created and used
// through the generic API, every map operation (element, per-CPU, queue/stack, batch),
// freeze, pinning on bpffs, info/listMaps, and fd hygiene. Runs on whichever backend
// EBPF_TS_BACKEND selects (CI runs it on both).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  BatchCursor,
  BpfMap,
  BPF_F_MMAPABLE,
  BPF_F_NO_PREALLOC,
  listMaps,
  UpdateFlags,
  type CreateMapOptions,
  type MapSpec,
} from '../../src/map.js';
import { PinType } from '../../src/map-spec.js';
import { MapType, mapTypeName, mapTypeSince } from '../../src/types.js';
import { loadMinimalIntBTF, mapTypeConfig, mapTypeFeature } from '../../src/features/map-types.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { expectVersionedFeature } from './helpers/kernel-features.js';
import { ensureSecurityfs } from './helpers/securityfs.js';
import { possibleCPUs } from '../../src/sys/cpus.js';
import { backend } from '../../src/sys/select.js';
import { bpfCall } from '../../src/sys/bpf.js';
import { ProgLoad } from '../../src/sys/layouts.js';
import { cString } from '../../src/sys/commands.js';
import { NotSupportedError, SyscallError } from '../../src/errors.js';
import { loadKernelSpec } from '../../src/btf/kernel.js';

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: bigint): Uint8Array => new Uint8Array(new BigUint64Array([n]).buffer);
const readU32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
const readU64 = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);
const fdCount = (): number => readdirSync('/proc/self/fd').length;

function expectErrno(fn: () => unknown, errno: string, pattern?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SyscallError);
  expect((caught as SyscallError).code).toBe(errno);
  if (pattern !== undefined) expect((caught as Error).message).toMatch(pattern);
}

// ---- helpers that make the objects fd-holding maps store ---------------------------------

const toClose: number[] = [];
let server: Server | undefined;

/** `mov r0, 0; exit` as a SOCKET_FILTER program. */
function loadTrivialProgram(): number {
  const insns = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  const fd = bpfCall(ProgLoad, { prog_type: 1, insn_cnt: 2, insns, license: cString('GPL') });
  toClose.push(fd);
  return fd;
}

/** A PERF_COUNT_SW_BPF_OUTPUT event on CPU 0, what a perf event array stores. */
function openPerfEvent(): number {
  const attr = new Uint8Array(64); // PERF_ATTR_SIZE_VER0
  const v = new DataView(attr.buffer);
  v.setUint32(0, 1, true); // PERF_TYPE_SOFTWARE
  v.setUint32(4, 64, true);
  v.setBigUint64(8, 10n, true); // PERF_COUNT_SW_BPF_OUTPUT
  const fd = backend().perfEventOpen(attr, -1, 0, -1, 8 /* PERF_FLAG_FD_CLOEXEC */);
  if (fd < 0) throw new Error(`perf_event_open: ${-fd}`);
  toClose.push(fd);
  return fd;
}

let cgroup2Root: string | undefined;
/** A cgroup v2 directory fd (cgroup_get_from_fd() takes only v2 cgroups); mounts one if needed. */
function openCgroup(): number {
  if (cgroup2Root === undefined) {
    const line = readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
    if (line !== undefined) {
      cgroup2Root = line.split(' ')[1]!;
    } else {
      cgroup2Root = mkdtempSync(join(tmpdir(), 'cgroup2-'));
      execFileSync('mount', ['-t', 'cgroup2', 'none', cgroup2Root]);
    }
  }
  const fd = openSync(cgroup2Root, 'r');
  toClose.push(fd);
  return fd;
}

/** A listening TCP socket's fd (sockmaps accept listening sockets, 5.7+). */
async function listeningSocketFd(): Promise<number> {
  if (server === undefined) {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    server = s;
  }
  return (server as unknown as { _handle: { fd: number } })._handle.fd;
}

// libc through ffi-rs for the two objects Node cannot make: a pidfd and a SO_REUSEPORT socket.
type Ffi = typeof import('ffi-rs');
let ffi: Ffi | undefined;
function libc(name: string, ret: 'i32' | 'i64', params: Array<'i32' | 'i64' | 'buf'>, values: unknown[]): number {
  if (ffi === undefined) {
    ffi = createRequire(import.meta.url)('ffi-rs') as Ffi;
    ffi.open({ library: 'libc_map_test', path: 'libc.so.6' });
  }
  const T = ffi.DataType;
  const type = (p: string) => (p === 'i32' ? T.I32 : p === 'i64' ? T.I64 : T.U8Array);
  const r = ffi.load({
    library: 'libc_map_test',
    funcName: name,
    retType: type(ret),
    paramsType: params.map(type),
    paramsValue: values,
  } as Parameters<Ffi['load']>[0]);
  return Number(r);
}

function pidfdOpen(): number {
  const fd = libc('syscall', 'i64', ['i64', 'i64', 'i64'], [434 /* pidfd_open */, process.pid, 0]);
  if (fd < 0) throw new Error('pidfd_open failed');
  toClose.push(fd);
  return fd;
}

function reuseportListener(): number {
  const fd = libc('socket', 'i32', ['i32', 'i32', 'i32'], [2 /* AF_INET */, 1 /* SOCK_STREAM */, 0]);
  toClose.push(fd);
  const one = Buffer.from(u32(1));
  if (libc('setsockopt', 'i32', ['i32', 'i32', 'i32', 'buf', 'i32'], [fd, 1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, one, 4]) !== 0) {
    throw new Error('setsockopt SO_REUSEPORT failed');
  }
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(2, 0);
  addr.set([127, 0, 0, 1], 4);
  if (libc('bind', 'i32', ['i32', 'buf', 'i32'], [fd, addr, 16]) !== 0) throw new Error('bind failed');
  if (libc('listen', 'i32', ['i32', 'i32'], [fd, 1]) !== 0) throw new Error('listen failed');
  return fd;
}

/** BTF fd with `int` as type 1, for local storage maps. */
function intBTF(): number {
  const fd = loadMinimalIntBTF();
  if (fd < 0) throw new Error(`BPF_BTF_LOAD: ${-fd}`);
  toClose.push(fd);
  return fd;
}

afterAll(() => {
  for (const fd of toClose.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
  server?.close();
});

// ---- every map type ------------------------------------------------------------------------

/** The smallest spec of each type, plus creation options, as used by the per-type tests. */
function specFor(type: MapType): { spec: MapSpec; options?: () => CreateMapOptions } {
  const base = { name: `t_${mapTypeName(type).toLowerCase()}`.slice(0, 15), type, keySize: 4, valueSize: 4, maxEntries: 4 };
  switch (type) {
    case MapType.StackTrace:
      return { spec: { ...base, valueSize: 8 * 16 } };
    case MapType.LPMTrie:
      return { spec: { ...base, keySize: 8, flags: BPF_F_NO_PREALLOC } };
    case MapType.ArrayOfMaps:
    case MapType.HashOfMaps:
      return { spec: { ...base, innerMap: { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 } } };
    case MapType.SockMap:
    case MapType.SockHash:
    case MapType.ReuseportSockarray:
      return { spec: { ...base, valueSize: 8 } }; // 8-byte values: lookups return the socket cookie
    case MapType.CgroupStorage:
    case MapType.PerCPUCgroupStorage:
      return { spec: { ...base, keySize: 16, maxEntries: 0 } };
    case MapType.Queue:
    case MapType.Stack:
    case MapType.BloomFilter:
      return { spec: { ...base, keySize: 0 } };
    case MapType.RingBuf:
    case MapType.UserRingBuf:
      return { spec: { ...base, keySize: 0, valueSize: 0, maxEntries: 1 << 16 } };
    case MapType.Arena:
      return { spec: { ...base, keySize: 0, valueSize: 0, maxEntries: 2, flags: BPF_F_MMAPABLE } };
    case MapType.SKStorage:
    case MapType.InodeStorage:
    case MapType.TaskStorage:
    case MapType.CgrpStorage:
      return {
        spec: { ...base, maxEntries: 0, flags: BPF_F_NO_PREALLOC },
        options: () => ({ btfFd: intBTF(), btfKeyTypeId: 1, btfValueTypeId: 1 }),
      };
    case MapType.StructOps: {
      return {
        spec: { ...base, maxEntries: 1, valueSize: 0 },
        // map_create() wants a valid btf_fd even for a vmlinux value type: any BTF will do.
        options: () => ({ btfFd: intBTF(), btfVmlinuxValueTypeId: structOpsValue().id }),
      };
    }
    default:
      return { spec: base };
  }
}

let structOps: { id: number; size: number } | undefined;
/** `struct bpf_struct_ops_tcp_congestion_ops` from vmlinux BTF: a STRUCT_OPS map's value type. */
function structOpsValue(): { id: number; size: number } {
  if (structOps === undefined) {
    const spec = loadKernelSpec();
    const t = spec.typeByName('bpf_struct_ops_tcp_congestion_ops', 'struct') as unknown as { size: number };
    structOps = { id: spec.typeId(t as never), size: t.size };
  }
  return structOps;
}

function create<V extends Uint8Array | Uint8Array[] = Uint8Array>(type: MapType, patch: Partial<MapSpec> = {}): BpfMap<V> {
  const { spec, options } = specFor(type);
  const full = { ...spec, ...patch };
  if (type === MapType.StructOps) full.valueSize = structOpsValue().size;
  return BpfMap.create<V>(full, options?.());
}

/**
 * A test per map type: on a kernel whose probe says the type is there, `use` exercises it;
 * otherwise the test proves creation fails with a NotSupportedError that names the type and
 * its first kernel, and its title says so.
 */
function typeTest(type: MapType, what: string, use: (map: BpfMap<Uint8Array>) => void | Promise<void>): void {
  const probe = mapTypeFeature(type).check();
  const name = mapTypeName(type);
  if (probe.supported === true) {
    it(`${name}: ${what}`, async () => {
      const map = create(type);
      try {
        expect(map.info().type).toBe(type);
        await use(map);
      } finally {
        map.close();
      }
    });
  } else {
    it(`${name}: not available on this kernel (probe: ${probe.reason}), so create throws NotSupportedError naming it`, () => {
      let caught: unknown;
      try {
        create(type).close();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(NotSupportedError);
      expect((caught as Error).message).toContain(`map type ${name} is not supported`);
      // A version where one would help; the config option or the security policy otherwise.
      if (probe.supported === false && probe.refusedByPolicy) expect((caught as Error).message).toMatch(/refused by the kernel's security policy/);
      else if (probe.supported === false && probe.missingConfig !== undefined) expect((caught as Error).message).toContain(`${probe.missingConfig} is not set`);
      else expect((caught as Error).message).toContain(mapTypeSince[type]);
    });
  }
}

describe('every map type through the generic API', () => {
  typeTest(MapType.Hash, 'update, lookup, delete, iterate', (m) => {
    m.update(u32(1), u32(10));
    m.update(u32(2), u32(20));
    expect(readU32(m.lookup(u32(1))!)).toBe(10);
    expect([...m.entries()].map(([k, v]) => [readU32(k), readU32(v)]).sort()).toEqual([
      [1, 10],
      [2, 20],
    ]);
    expect(m.delete(u32(1))).toBe(true);
    expect(m.delete(u32(1))).toBe(false);
    expect(m.lookup(u32(1))).toBeUndefined();
  });
  typeTest(MapType.Array, 'update, lookup, every index iterates, delete is EINVAL', (m) => {
    m.update(u32(3), u32(33));
    expect(readU32(m.lookup(u32(3))!)).toBe(33);
    expect(readU32(m.lookup(u32(0))!)).toBe(0);
    expect([...m.keys()].map(readU32)).toEqual([0, 1, 2, 3]);
    expectErrno(() => m.delete(u32(0)), 'EINVAL', /delete in map t_array/);
    expectErrno(() => m.update(u32(4), u32(1)), 'E2BIG');
  });
  typeTest(MapType.ProgArray, 'holds a program fd; lookup gives its id', (m) => {
    const prog = loadTrivialProgram();
    m.update(u32(0), u32(prog));
    expect(readU32(m.lookup(u32(0))!)).toBeGreaterThan(0);
    expect(m.delete(u32(0))).toBe(true);
  });
  typeTest(MapType.PerfEventArray, 'holds a perf event fd; maxEntries defaults to the possible CPUs', (m) => {
    const auto = BpfMap.create({ type: MapType.PerfEventArray, keySize: 0, valueSize: 0 });
    expect(auto.maxEntries).toBe(possibleCPUs());
    expect(auto.info().maxEntries).toBe(possibleCPUs());
    auto.close();
    m.update(u32(0), u32(openPerfEvent()));
    expect(m.delete(u32(0))).toBe(true);
  });
  typeTest(MapType.PerCPUHash, 'one value per possible CPU', (m) => {
    const pc = m as unknown as BpfMap<Uint8Array[]>;
    const values = Array.from({ length: possibleCPUs() }, (_, i) => u32(100 + i));
    pc.update(u32(1), values);
    expect(pc.lookup(u32(1))!.map(readU32)).toEqual(values.map(readU32));
  });
  typeTest(MapType.PerCPUArray, 'one value per possible CPU', (m) => {
    const pc = m as unknown as BpfMap<Uint8Array[]>;
    const values = Array.from({ length: possibleCPUs() }, (_, i) => u32(7 * i));
    pc.update(u32(2), values);
    expect(pc.lookup(u32(2))!.map(readU32)).toEqual(values.map(readU32));
    expect(pc.lookup(u32(0))!.map(readU32)).toEqual(values.map(() => 0));
  });
  typeTest(MapType.StackTrace, 'empty: lookups miss, no keys', (m) => {
    expect(m.lookup(u32(0))).toBeUndefined();
    expect([...m.keys()]).toEqual([]);
  });
  typeTest(MapType.CgroupArray, 'holds a cgroup fd', (m) => {
    m.update(u32(0), u32(openCgroup()));
    expect(m.delete(u32(0))).toBe(true);
  });
  typeTest(MapType.LRUHash, 'evicts instead of failing when full', (m) => {
    for (let i = 0; i < 64; i++) m.update(u32(i), u32(i));
    expect([...m.keys()].length).toBeLessThanOrEqual(m.maxEntries + possibleCPUs() * 8);
    expect(readU32(m.lookup(u32(63))!)).toBe(63);
  });
  typeTest(MapType.LRUPerCPUHash, 'one value per possible CPU', (m) => {
    const pc = m as unknown as BpfMap<Uint8Array[]>;
    const values = Array.from({ length: possibleCPUs() }, (_, i) => u32(i + 1));
    pc.update(u32(5), values);
    expect(pc.lookup(u32(5))!.map(readU32)).toEqual(values.map(readU32));
  });
  typeTest(MapType.LPMTrie, 'longest-prefix match', (m) => {
    const key = (prefix: number, a: number, b: number, c: number, d: number) => new Uint8Array([...u32(prefix), a, b, c, d]);
    m.update(key(24, 10, 0, 0, 0), u32(24));
    m.update(key(32, 10, 0, 0, 1), u32(32));
    expect(readU32(m.lookup(key(32, 10, 0, 0, 1))!)).toBe(32);
    expect(readU32(m.lookup(key(32, 10, 0, 0, 9))!)).toBe(24);
    expect(m.lookup(key(32, 11, 0, 0, 1))).toBeUndefined();
    expect([...m.entriesBatch()].length).toBe(2);
    expect(m.delete(key(24, 10, 0, 0, 0))).toBe(true);
  });
  typeTest(MapType.ArrayOfMaps, 'holds an inner map; lookup gives its id', (m) => {
    using inner = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    m.update(u32(1), u32(inner.fd));
    expect(readU32(m.lookup(u32(1))!)).toBe(inner.info().id);
    expect(m.delete(u32(1))).toBe(true);
    using wrong = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 });
    expectErrno(() => m.update(u32(0), u32(wrong.fd)), 'EINVAL'); // bpf_map_meta_equal() fails
  });
  typeTest(MapType.HashOfMaps, 'holds an inner map; lookup gives its id', (m) => {
    using inner = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    m.update(u32(42), u32(inner.fd));
    expect(readU32(m.lookup(u32(42))!)).toBe(inner.info().id);
    expect([...m.keys()].map(readU32)).toEqual([42]);
  });
  typeTest(MapType.DevMap, 'holds an ifindex (lo)', (m) => {
    m.update(u32(0), u32(1));
    expect(readU32(m.lookup(u32(0))!)).toBe(1);
    expect(m.delete(u32(0))).toBe(true);
  });
  typeTest(MapType.SockMap, 'holds a listening TCP socket; lookup gives its cookie', async (m) => {
    m.update(u32(0), u64(BigInt(await listeningSocketFd())));
    expect(readU64(m.lookup(u32(0))!)).toBeGreaterThan(0n);
    expect(m.delete(u32(0))).toBe(true);
  });
  typeTest(MapType.CPUMap, 'holds a queue size per CPU', (m) => {
    m.update(u32(0), u32(192));
    expect(readU32(m.lookup(u32(0))!)).toBe(192);
    expect(m.delete(u32(0))).toBe(true);
  });
  typeTest(MapType.XSKMap, 'slots iterate; lookups from user space are refused (EOPNOTSUPP)', (m) => {
    expect([...m.keys()].map(readU32)).toEqual([0, 1, 2, 3]);
    // xsk_map_lookup_elem_sys_only(): only programs can read an XSKMAP.
    expectErrno(() => m.lookup(u32(0)), 'EOPNOTSUPP', /XSKMAP maps do not support lookup/);
  });
  typeTest(MapType.SockHash, 'holds a listening TCP socket under any key', async (m) => {
    m.update(u32(77), u64(BigInt(await listeningSocketFd())));
    expect(readU64(m.lookup(u32(77))!)).toBeGreaterThan(0n);
    expect([...m.keys()].map(readU32)).toEqual([77]);
  });
  typeTest(MapType.CgroupStorage, 'empty until a program is attached: lookups miss', (m) => {
    expect(m.lookup(new Uint8Array(16))).toBeUndefined();
    expect([...m.keys()]).toEqual([]);
  });
  typeTest(MapType.ReuseportSockarray, 'holds a SO_REUSEPORT listener; lookup gives its cookie', (m) => {
    m.update(u32(0), u64(BigInt(reuseportListener())));
    expect(readU64(m.lookup(u32(0))!)).toBeGreaterThan(0n);
    expect(m.delete(u32(0))).toBe(true);
  });
  typeTest(MapType.PerCPUCgroupStorage, 'empty until a program is attached: lookups miss', (m) => {
    expect(m.lookup(new Uint8Array(16))).toBeUndefined();
  });
  typeTest(MapType.Queue, 'FIFO push/peek/pop', (m) => {
    for (const n of [1, 2, 3]) m.push(u32(n));
    expect(readU32(m.peek()!)).toBe(1);
    expect([m.pop(), m.pop(), m.pop()].map((v) => readU32(v!))).toEqual([1, 2, 3]);
    expect(m.pop()).toBeUndefined();
    for (const n of [1, 2, 3, 4]) m.push(u32(n));
    expectErrno(() => m.push(u32(5)), 'E2BIG', /map is full/);
    m.push(u32(5), UpdateFlags.Exist); // BPF_EXIST drops the oldest
    expect(readU32(m.pop()!)).toBe(2);
  });
  typeTest(MapType.Stack, 'LIFO push/peek/pop', (m) => {
    for (const n of [1, 2, 3]) m.push(u32(n));
    expect(readU32(m.peek()!)).toBe(3);
    expect([m.pop(), m.pop(), m.pop()].map((v) => readU32(v!))).toEqual([3, 2, 1]);
    expect(m.peek()).toBeUndefined();
  });
  typeTest(MapType.SKStorage, 'stores a value for a socket fd key', async (m) => {
    const key = u32(await listeningSocketFd());
    m.update(key, u32(1234));
    expect(readU32(m.lookup(key)!)).toBe(1234);
    expect(m.delete(key)).toBe(true);
  });
  typeTest(MapType.DevMapHash, 'holds an ifindex (lo) under any key', (m) => {
    m.update(u32(9), u32(1));
    expect(readU32(m.lookup(u32(9))!)).toBe(1);
    expect([...m.keys()].map(readU32)).toEqual([9]);
  });
  typeTest(MapType.StructOps, 'created from vmlinux BTF (tcp_congestion_ops); the value reads back', (m) => {
    expect(m.info().btfVmlinuxValueTypeId).toBe(structOpsValue().id);
    expect(m.lookup(u32(0))!.byteLength).toBe(structOpsValue().size);
  });
  typeTest(MapType.RingBuf, 'created with a page-multiple size; element ops are refused', (m) => {
    expect(m.info().maxEntries).toBe(1 << 16);
    expect(() => m.push(new Uint8Array(0))).toThrow(SyscallError);
  });
  // The active LSM list lives in securityfs; where it cannot be mounted the read fails and the
  // EBADF explanation is expected.
  const bpfLSM = (() => {
    ensureSecurityfs();
    try {
      return readFileSync('/sys/kernel/security/lsm', 'utf8').trim().split(',').includes('bpf');
    } catch {
      return false;
    }
  })();
  typeTest(
    MapType.InodeStorage,
    bpfLSM ? 'stores a value for a file fd key (BPF LSM active)' : 'explains EBADF: the BPF LSM is not active on this kernel',
    (m) => {
      const fd = openSync('/proc/self/exe', 'r');
      toClose.push(fd);
      if (!bpfLSM) {
        expectErrno(() => m.update(u32(fd), u32(5)), 'EBADF', /inode storage needs the BPF LSM active/);
        return;
      }
      m.update(u32(fd), u32(5));
      expect(readU32(m.lookup(u32(fd))!)).toBe(5);
    },
  );
  typeTest(MapType.TaskStorage, 'stores a value for a pidfd key', (m) => {
    const key = u32(pidfdOpen());
    m.update(key, u32(6));
    expect(readU32(m.lookup(key)!)).toBe(6);
    expect(m.delete(key)).toBe(true);
  });
  typeTest(MapType.BloomFilter, 'push, then mayContain is true for it', (m) => {
    m.push(u32(99));
    expect(m.mayContain(u32(99))).toBe(true);
  });
  typeTest(MapType.UserRingBuf, 'created with a page-multiple size', (m) => {
    expect(m.info().maxEntries).toBe(1 << 16);
  });
  typeTest(MapType.CgrpStorage, 'stores a value for a cgroup fd key', (m) => {
    const key = u32(openCgroup());
    m.update(key, u32(8));
    expect(readU32(m.lookup(key)!)).toBe(8);
    expect(m.delete(key)).toBe(true);
  });
  typeTest(MapType.Arena, 'created with BPF_F_MMAPABLE; element ops are refused', (m) => {
    expect(m.info().flags & BPF_F_MMAPABLE).toBe(BPF_F_MMAPABLE);
    expect(m.info().maxEntries).toBe(2);
  });

  it('covers every map type of the UAPI (self-check of this table)', () => {
    const names = Object.keys(MapType).filter((k) => Number.isNaN(Number(k)) && k !== 'Unspec');
    expect(names.length).toBe(33);
  });
});

describe('map type probes', () => {
  // Runs on the host and in test:vm guests: answers are checked against the running kernel's
  // version (mapTypeSince) and, where a type hangs on a config option, against its config.
  for (let t = MapType.Hash; t <= MapType.Arena; t++) {
    it(`map type ${mapTypeName(t)} answers according to kernel ${kernelVersion()} (since ${mapTypeSince[t as MapType]})`, () => {
      expectVersionedFeature(mapTypeFeature(t).check(), mapTypeSince[t as MapType], mapTypeConfig[t as MapType]);
    });
  }
});

// ---- operations ---------------------------------------------------------------------------

describe('element operations', () => {
  it('honours UpdateFlags: NoExist → EEXIST, Exist → ENOENT, errors name the map', () => {
    using m = BpfMap.create({ name: 'flags', type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
    m.update(u32(1), u32(1), UpdateFlags.NoExist);
    expectErrno(() => m.update(u32(1), u32(2), UpdateFlags.NoExist), 'EEXIST', /update in map flags: BPF_MAP_UPDATE_ELEM: EEXIST/);
    expectErrno(() => m.update(u32(2), u32(2), UpdateFlags.Exist), 'ENOENT');
    m.update(u32(1), u32(3), UpdateFlags.Exist);
    expect(readU32(m.lookup(u32(1))!)).toBe(3);
  });

  it('reports E2BIG when a hash map is full', () => {
    using m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 2 });
    m.update(u32(1), u32(1));
    m.update(u32(2), u32(2));
    expectErrno(() => m.update(u32(3), u32(3)), 'E2BIG', /map is full \(maxEntries 2\)/);
  });

  it(`lookupAndDelete on a hash map ${kernelVersion().atLeast('5.14') ? 'returns and removes' : 'is not supported before 5.14'}`, () => {
    using m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
    m.update(u32(1), u32(11));
    if (!kernelVersion().atLeast('5.14')) {
      expect(() => m.lookupAndDelete(u32(1))).toThrow(/lookupAndDelete on HASH maps is not supported by this kernel \(requires Linux 5.14/);
      return;
    }
    expect(readU32(m.lookupAndDelete(u32(1))!)).toBe(11);
    expect(m.lookupAndDelete(u32(1))).toBeUndefined();
  });

  it('per-CPU values with a value size that is not a multiple of 8', () => {
    using m = BpfMap.create<Uint8Array[]>({ type: MapType.PerCPUHash, keySize: 4, valueSize: 3, maxEntries: 4 });
    const values = Array.from({ length: possibleCPUs() }, (_, i) => new Uint8Array([i, i + 1, i + 2]));
    m.update(u32(1), values);
    const back = m.lookup(u32(1))!;
    expect(back.map((v) => [...v])).toEqual(values.map((v) => [...v]));
    expect(back.every((v) => v.byteLength === 3)).toBe(true);
  });

  it('freeze, then update is refused with EPERM naming the map', () => {
    using m = BpfMap.create({ name: 'frozen', type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 });
    m.update(u32(0), u32(1));
    m.freeze();
    expectErrno(() => m.update(u32(0), u32(2)), 'EPERM', /update in map frozen: BPF_MAP_UPDATE_ELEM: EPERM \(the map is frozen/);
    expect(readU32(m.lookup(u32(0))!)).toBe(1);
  });

  it('contents and freeze from the spec', () => {
    using m = BpfMap.create({
      name: '.rodata',
      type: MapType.Array,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
      contents: [[u32(0), u32(77)]],
      freeze: true,
    });
    expect(m.info().name).toBe('.rodata');
    expect(readU32(m.lookup(u32(0))!)).toBe(77);
    expectErrno(() => m.update(u32(0), u32(1)), 'EPERM');
  });

  it('explains the kernel\'s E2BIG for a per-CPU value over 32 KiB', () => {
    expectErrno(
      () => BpfMap.create({ name: 'huge', type: MapType.PerCPUArray, keySize: 4, valueSize: 40_000, maxEntries: 1 }),
      // Kernels before the alloc_check() size test fail later, in the per-CPU allocator.
      kernelVersion().atLeast('5.11') ? 'E2BIG' : 'ENOMEM',
      /create map huge: BPF_MAP_CREATE: E(2BIG|NOMEM) \(the per-CPU value of 40000 bytes .*PCPU_MIN_UNIT_SIZE/,
    );
  });

  it('a map type number the kernel does not know gives NotSupportedError', () => {
    expect(() => BpfMap.create({ type: 200 as MapType, keySize: 4, valueSize: 4, maxEntries: 1 })).toThrow(
      /map type 200 is not supported by this kernel/,
    );
  });

  it('contents of a queue are pushed in order', () => {
    using q = BpfMap.create({
      type: MapType.Queue,
      keySize: 0,
      valueSize: 4,
      maxEntries: 4,
      contents: [
        [new Uint8Array(0), u32(1)],
        [new Uint8Array(0), u32(2)],
      ],
    });
    expect([q.pop(), q.pop()].map((v) => readU32(v!))).toEqual([1, 2]);
  });

  it('sanitises names the kernel would reject', () => {
    using m = BpfMap.create({ name: 'a-very-long-name:with/odd', type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(m.info().name).toBe('a_very_long_nam');
    expect(m.kernelName).toBe('a_very_long_nam');
  });
});

describe('batch operations', () => {
  const N = 1000;
  const keys = Array.from({ length: N }, (_, i) => u32(i));
  const values = keys.map((_, i) => u32(i * 3));

  for (const type of [MapType.Hash, MapType.LRUHash, MapType.Array]) {
    it(`${mapTypeName(type)}: updateBatch, lookupBatch with a cursor, entriesBatch`, () => {
      // LRU maps evict before they are full (per-CPU free lists): give them room.
      using m = BpfMap.create({ type, keySize: 4, valueSize: 4, maxEntries: type === MapType.LRUHash ? 4 * N : N });
      expect(m.updateBatch(keys, values)).toBe(N);
      const cursor = new BatchCursor();
      const seen = new Map<number, number>();
      let calls = 0;
      while (!cursor.done) {
        const batch = m.lookupBatch(cursor, 128);
        calls++;
        for (let i = 0; i < batch.count; i++) seen.set(readU32(batch.keys[i]!), readU32(batch.values[i]!));
      }
      expect(seen.size).toBe(N);
      expect(seen.get(500)).toBe(1500);
      expect(calls).toBeLessThan(N / 50);
      expect([...m.entriesBatch(7)].length).toBe(N);
    });
  }

  it('HASH: lookupAndDeleteBatch drains the map, deleteBatch skips missing keys', () => {
    using m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: N });
    m.updateBatch(keys, values);
    expect(m.deleteBatch([u32(0), u32(N + 5), u32(1)])).toBe(2);
    const cursor = new BatchCursor();
    let total = 0;
    while (!cursor.done) total += m.lookupAndDeleteBatch(cursor, 256).count;
    expect(total).toBe(N - 2);
    expect([...m.keys()]).toEqual([]);
  });

  it('PERCPU_HASH: batch values are arrays of per-CPU values', () => {
    using m = BpfMap.create<Uint8Array[]>({ type: MapType.PerCPUHash, keySize: 4, valueSize: 4, maxEntries: 64 });
    const cpus = possibleCPUs();
    const vals = keys.slice(0, 64).map((_, i) => Array.from({ length: cpus }, (_, c) => u32(i * 10 + c)));
    m.updateBatch(keys.slice(0, 64), vals);
    const got = new Map<number, number[]>();
    for (const [k, v] of m.entriesBatch(16)) got.set(readU32(k), v.map(readU32));
    expect(got.size).toBe(64);
    expect(got.get(5)).toEqual(Array.from({ length: cpus }, (_, c) => 50 + c));
  });

  it('PERCPU_ARRAY: lookupBatch per-CPU values', () => {
    using m = BpfMap.create<Uint8Array[]>({ type: MapType.PerCPUArray, keySize: 4, valueSize: 12, maxEntries: 8 });
    const cpus = possibleCPUs();
    m.update(u32(3), Array.from({ length: cpus }, (_, c) => new Uint8Array(12).fill(c + 1)));
    const batch = m.lookupBatch(new BatchCursor(), 8);
    expect(batch.count).toBe(8);
    expect(batch.values[3]!.map((v) => v[11])).toEqual(Array.from({ length: cpus }, (_, c) => c + 1));
  });

  it('DEVMAP_HASH has no batch ops (ENOTSUPP from BPF_DO_BATCH): lookupBatch falls back to per-key ops', () => {
    using m = BpfMap.create({ type: MapType.DevMapHash, keySize: 4, valueSize: 4, maxEntries: 8 });
    for (const k of [3, 5, 7]) m.update(u32(k), u32(1));
    const cursor = new BatchCursor();
    const first = m.lookupBatch(cursor, 2);
    expect(first.count).toBe(2);
    const rest = m.lookupBatch(cursor, 2);
    expect(rest.count).toBe(1);
    expect(cursor.done || m.lookupBatch(cursor, 2).count === 0).toBe(true);
    const keys = [...first.keys, ...rest.keys].map(readU32).sort();
    expect(keys).toEqual([3, 5, 7]);
    expect([...m.entriesBatch(1)].map(([, v]) => readU32(v))).toEqual([1, 1, 1]);
    expect(m.updateBatch([u32(9)], [u32(1)])).toBe(1);
    expect(m.deleteBatch([u32(9), u32(10)])).toBe(1);
  });

  it('ARRAY has no lookup-and-delete batch: the per-key fallback then fails as a delete on an array does (EINVAL)', () => {
    using m = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 4 });
    expectErrno(() => m.lookupAndDeleteBatch(new BatchCursor(), 4), 'EINVAL', /delete in/);
  });
});

describe('pinning, info and enumeration', () => {
  const bpffs = '/sys/fs/bpf';
  let dir: string;

  beforeAll(() => {
    const mounts = readFileSync('/proc/mounts', 'utf8');
    if (!mounts.split('\n').some((l) => l.split(' ')[1] === bpffs && l.split(' ')[2] === 'bpf')) {
      mkdirSync(bpffs, { recursive: true });
      execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
    }
    dir = join(bpffs, `ebpf-ts-map-test-${process.pid}`);
    mkdirSync(dir, { recursive: true });
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('pin, fromPin sees the same map, read-only open refuses updates, unpin removes the file', () => {
    using m = BpfMap.create({ name: 'pinned', type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
    m.update(u32(1), u32(5));
    const path = join(dir, 'pinned');
    m.pin(path);
    expect(existsSync(path)).toBe(true);
    {
      using again = BpfMap.fromPin(path);
      expect(again.info().id).toBe(m.info().id);
      expect(readU32(again.lookup(u32(1))!)).toBe(5);
      expect(again.keySize).toBe(4);
    }
    {
      using ro = BpfMap.fromPin(path, { readOnly: true });
      expectErrno(() => ro.update(u32(1), u32(6)), 'EPERM');
    }
    expectErrno(() => m.pin(path), 'EEXIST', /already exists/);
    m.unpin();
    expect(existsSync(path)).toBe(false);
    expectErrno(() => BpfMap.fromPin(path), 'ENOENT');
  });

  it('PinType.ByName with pinPath creates and pins once, then reuses the pin', () => {
    const spec: MapSpec = { name: 'byname', type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4, pinning: PinType.ByName };
    using first = BpfMap.create(spec, { pinPath: dir });
    first.update(u32(1), u32(9));
    using second = BpfMap.create(spec, { pinPath: dir });
    expect(second.info().id).toBe(first.info().id);
    expect(() => BpfMap.create({ ...spec, maxEntries: 8 }, { pinPath: dir })).toThrow(/incompatible.*maxEntries 4 != 8/);
    second.unpin();
  });

  it('info() reports what was created; fromId and fromFd open the same map', () => {
    using m = BpfMap.create({ name: 'info', type: MapType.LRUHash, keySize: 8, valueSize: 16, maxEntries: 32, flags: 0 });
    const info = m.info();
    expect(info).toMatchObject({ type: MapType.LRUHash, name: 'info', keySize: 8, valueSize: 16, maxEntries: 32, flags: 0 });
    expect(info.id).toBeGreaterThan(0);
    using byId = BpfMap.fromId(info.id);
    expect(byId.info().id).toBe(info.id);
    expect(byId.type).toBe(MapType.LRUHash);
    const dup = backend().dupAbove(m.fd, 3);
    using byFd = BpfMap.fromFd(dup);
    expect(byFd.name).toBe('info');
    expect(byFd.valueSize).toBe(16);
  });

  it('listMaps() finds a created map and closes every fd it opens', () => {
    using m = BpfMap.create({ name: 'listed', type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 });
    const before = fdCount();
    const all = listMaps();
    expect(fdCount()).toBe(before);
    const id = m.info().id;
    expect(all.find((i) => i.id === id)).toMatchObject({ name: 'listed', type: MapType.Array });
  });
});

describe('fd hygiene', () => {
  it('leaves /proc/self/fd unchanged after 10,000 create/close cycles', () => {
    const spec: MapSpec = { name: 'churn', type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 };
    BpfMap.create(spec).close(); // warm up probes
    const before = fdCount();
    for (let i = 0; i < 10_000; i++) BpfMap.create(spec).close();
    expect(fdCount()).toBe(before);
  });

  it('closes the temporary inner map of a map-in-map', () => {
    const spec: MapSpec = {
      type: MapType.HashOfMaps,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
      innerMap: { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 },
    };
    BpfMap.create(spec).close();
    const before = fdCount();
    for (let i = 0; i < 200; i++) BpfMap.create(spec).close();
    expect(fdCount()).toBe(before);
  });

  it('a failed create leaks nothing', () => {
    const before = fdCount();
    for (let i = 0; i < 100; i++) {
      expect(() => BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 0 })).toThrow(SyscallError);
    }
    expect(fdCount()).toBe(before);
  });
});

describe('lookupInto (zero-allocation lookup)', () => {
  it('fills the caller\'s buffer, returns false for an absent key, and checks sizes before any syscall', () => {
    using m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 4 });
    m.update(u32(1), u32(0xabcd));
    const out = new Uint8Array(4);
    expect(m.lookupInto(u32(1), out)).toBe(true);
    expect(readU32(out)).toBe(0xabcd);
    out.fill(7);
    expect(m.lookupInto(u32(2), out)).toBe(false);
    expect([...out]).toEqual([7, 7, 7, 7]);
    expect(() => m.lookupInto(u32(1), new Uint8Array(8))).toThrow(/lookupInto buffer must be a Uint8Array of 4 bytes, got 8 bytes/);
    expect(() => m.lookupInto(new Uint8Array(2), out)).toThrow(/key must be a Uint8Array of keySize 4/);
  });

  it('per-CPU maps fill the kernel layout: one 8-byte-rounded slot per possible CPU', () => {
    using m = BpfMap.create<Uint8Array[]>({ type: MapType.PerCPUArray, keySize: 4, valueSize: 4, maxEntries: 1 });
    const cpus = possibleCPUs();
    m.update(u32(0), Array.from({ length: cpus }, (_, i) => u32(100 + i)));
    const out = new Uint8Array(8 * cpus);
    expect(m.lookupInto(u32(0), out)).toBe(true);
    for (let cpu = 0; cpu < cpus; cpu++) expect(readU32(out.subarray(cpu * 8, cpu * 8 + 4))).toBe(100 + cpu);
  });
});
