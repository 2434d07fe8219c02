import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeBackend } from '../../src/sys/backend-fake.js';
import { setBackend } from '../../src/sys/select.js';
import { bpfCall, bpfRaw, PROG_LOAD_ATTEMPTS, resetDebugFlags, setDebugSink } from '../../src/sys/bpf.js';
import { Cmd, LinkCreate, MapCreate, ProgLoad, ObjGet } from '../../src/sys/layouts.js';
import { encodeAttr } from '../../src/sys/attr.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { ensureMemlock, memlockState, resetMemlockProbe } from '../../src/sys/memlock.js';
import { RLIM_INFINITY } from '../../src/sys/backend.js';
import { NotSupportedError, SyscallError } from '../../src/errors.js';
import { mapElem, objGetInfoByFd } from '../../src/sys/commands.js';
import { MapLookupElem, MapDeleteElem, MapGetNextKey } from '../../src/sys/layouts.js';

let fake: FakeBackend;
beforeEach(() => {
  fake = new FakeBackend();
  setBackend(fake);
  overrideKernelVersion('6.18.0');
});
afterEach(() => {
  setBackend(undefined);
  overrideKernelVersion(undefined);
  delete process.env.EBPF_TS_DEBUG;
  resetDebugFlags();
});

describe('the bpf() funnel', () => {
  it('retries BPF_PROG_LOAD on EAGAIN a bounded number of times', () => {
    fake.alwaysBpf(Cmd.ProgLoad, -Errno.EAGAIN);
    expect(() => bpfCall(ProgLoad, { prog_type: 1 })).toThrow(SyscallError);
    expect(fake.callsOf(Cmd.ProgLoad)).toHaveLength(PROG_LOAD_ATTEMPTS);
  });

  it('succeeds when a retry after EAGAIN succeeds', () => {
    fake.onBpf(Cmd.ProgLoad, -Errno.EAGAIN).onBpf(Cmd.ProgLoad, 7);
    expect(bpfCall(ProgLoad, { prog_type: 1 })).toBe(7);
  });

  it('does not retry other commands on EAGAIN', () => {
    fake.alwaysBpf(Cmd.MapCreate, -Errno.EAGAIN);
    expect(() => bpfCall(MapCreate, { map_type: 1 })).toThrow(/EAGAIN/);
    expect(fake.callsOf(Cmd.MapCreate)).toHaveLength(1);
  });

  it('moves an fd the kernel placed on stdio (0-2) above 2', () => {
    fake.onBpf(Cmd.MapCreate, 0);
    const fd = bpfCall(MapCreate, { map_type: 2, key_size: 4, value_size: 4, max_entries: 1 });
    expect(fd).toBeGreaterThan(2);
    expect(fake.closed).toContain(0);
  });

  it('names a field newer than the running kernel when the kernel answers E2BIG', () => {
    overrideKernelVersion('5.10.0');
    fake.onBpf(Cmd.MapCreate, -Errno.E2BIG);
    const err = (() => {
      try {
        bpfCall(MapCreate, { map_type: 1, map_extra: 5n }, { context: 'create map bloom' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).feature).toBe('create map bloom: attr field BPF_MAP_CREATE.map_extra');
    expect((err as NotSupportedError).minimumVersion).toBe('5.16');
    expect((err as Error).message).toMatch(/requires Linux 5.16 or later/);
  });

  it('does not take a union member newer than the kernel for the older member sharing its bytes', () => {
    // BPF_LINK_CREATE's map_fd (6.4) is prog_fd's slot: an E2BIG on 6.1 is the kernel's own answer.
    overrideKernelVersion('6.1.0');
    fake.onBpf(Cmd.LinkCreate, -Errno.E2BIG);
    const err = (() => {
      try {
        bpfCall(LinkCreate, { prog_fd: 3, target_fd: 4, attach_type: 17 }, { explain: () => 'a namespace takes one link' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SyscallError);
    expect(err).not.toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toMatch(/a namespace takes one link/);
  });

  it('reports a command newer than the kernel as not supported', () => {
    overrideKernelVersion('5.4.0');
    fake.onBpf(Cmd.LinkCreate, -Errno.EINVAL);
    expect(() => bpfCall(LinkCreate, { prog_fd: 3, target_fd: 4, attach_type: 0 })).toThrow(
      /bpf command BPF_LINK_CREATE is not supported by this kernel \(requires Linux 5.7 or later\)/,
    );
  });

  it('keeps errno and command name for plain failures', () => {
    fake.onBpf(Cmd.ObjGet, -Errno.ENOENT);
    try {
      bpfCall(ObjGet, { pathname: new Uint8Array([0x2f, 0]), bpf_fd: 0 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SyscallError);
      expect((e as SyscallError).errno).toBe(Errno.ENOENT);
      expect((e as SyscallError).code).toBe('ENOENT');
      expect((e as SyscallError).command).toBe('BPF_OBJ_GET');
    }
  });

  it('explains EPERM', () => {
    fake.onBpf(Cmd.MapCreate, -Errno.EPERM);
    expect(() => bpfCall(MapCreate, { map_type: 1 })).toThrow(/EPERM \(.+\)/);
  });

  it('lets the caller explain an errno', () => {
    fake.onBpf(Cmd.MapCreate, -Errno.E2BIG);
    expect(() =>
      bpfCall(MapCreate, { map_type: 6, value_size: 1 << 20 }, { explain: (e) => (e === Errno.E2BIG ? 'value too big' : undefined) }),
    ).toThrow(/E2BIG \(value too big\)/);
  });

  it('logs every call with EBPF_TS_DEBUG=syscalls', () => {
    process.env.EBPF_TS_DEBUG = 'syscalls';
    resetDebugFlags();
    const lines: string[] = [];
    const prev = setDebugSink((l) => lines.push(l));
    try {
      fake.onBpf(Cmd.MapCreate, 9).onBpf(Cmd.MapCreate, -Errno.EINVAL);
      bpfCall(MapCreate, { map_type: 1, key_size: 4, value_size: 8, max_entries: 10, map_name: 'counts' });
      bpfRaw(MapCreate, encodeAttr(MapCreate, { map_type: 99 }).attr);
    } finally {
      setDebugSink(prev);
    }
    expect(lines[0]).toBe('bpf(BPF_MAP_CREATE, size=44) map_type=1 key_size=4 value_size=8 max_entries=10 map_name="counts" = 9');
    expect(lines[1]).toBe('bpf(BPF_MAP_CREATE, size=4) map_type=99 = -1 EINVAL');
  });
});

describe('element operations', () => {
  it('send 32, 24 and 16 byte attrs for lookup, next key and delete', () => {
    fake.alwaysBpf(Cmd.MapLookupElem, 0).alwaysBpf(Cmd.MapGetNextKey, 0).alwaysBpf(Cmd.MapDeleteElem, 0);
    const key = new Uint8Array(4);
    const value = new Uint8Array(8);
    mapElem(MapLookupElem, 5, key, value, 4);
    mapElem(MapGetNextKey, 5, null, value);
    mapElem(MapDeleteElem, 5, key, null);
    const [lookup, next, del] = fake.calls;
    expect(lookup!.attr.byteLength).toBe(32);
    expect([...lookup!.attr]).toEqual([5, 0, 0, 0, ...new Array(20).fill(0), 4, 0, 0, 0, 0, 0, 0, 0]);
    expect(lookup!.pointers.get(8)).toBe(key);
    expect(lookup!.pointers.get(16)).toBe(value);
    expect(next!.attr.byteLength).toBe(24);
    expect(next!.pointers.has(8)).toBe(false); // NULL key: start of iteration
    expect(del!.attr.byteLength).toBe(16);
    expect(del!.pointers.has(16)).toBe(false);
  });

  it('returns -errno instead of throwing', () => {
    fake.onBpf(Cmd.MapLookupElem, -Errno.ENOENT);
    expect(mapElem(MapLookupElem, 5, new Uint8Array(4), new Uint8Array(8))).toBe(-Errno.ENOENT);
  });
});

describe('BPF_OBJ_GET_INFO_BY_FD', () => {
  it('places the info struct after the attr so its own pointers can be patched', () => {
    const ids = new Uint8Array(8);
    fake.onBpf(Cmd.ObjGetInfoByFd, (call) => {
      const info = call.pointers.get(8)!;
      expect(info.byteLength).toBe(64);
      expect(call.pointers.get(16 + 56)).toBe(ids); // bpf_prog_info.map_ids at 56, after the 16-byte attr
      info[4] = 42;
      return 0;
    });
    const info = objGetInfoByFd(3, 64, [56, ids]);
    expect(info[4]).toBe(42);
    expect(fake.calls[0]!.attr.byteLength).toBe(16);
  });
});

describe('RLIMIT_MEMLOCK probe', () => {
  beforeEach(() => resetMemlockProbe());
  afterEach(() => resetMemlockProbe());

  it('leaves an unlimited limit alone without probing', () => {
    ensureMemlock(fake);
    expect(fake.calls).toHaveLength(0);
    expect(memlockState().chargesMemlock).toBe(false);
  });

  it('raises the limit when a map cannot be created under a zero limit (pre-5.11 accounting)', () => {
    fake.setrlimit(8, 65536n, 65536n);
    fake.onBpf(Cmd.MapCreate, -Errno.EPERM);
    ensureMemlock(fake);
    expect(memlockState().chargesMemlock).toBe(true);
    expect(memlockState().raised).toBe(true);
    expect(fake.getrlimit()).toEqual([RLIM_INFINITY, RLIM_INFINITY]);
  });

  it('restores the limit when the kernel accounts BPF memory to memcg (5.11+)', () => {
    fake.setrlimit(8, 65536n, 65536n);
    fake.onBpf(Cmd.MapCreate, 10);
    ensureMemlock(fake);
    expect(memlockState().chargesMemlock).toBe(false);
    expect(fake.getrlimit()).toEqual([65536n, 65536n]);
    expect(fake.closed).toContain(10);
  });
});
