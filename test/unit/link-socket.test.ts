// Socket, sockmap and netns attachment against the fake kernel: what reaches setsockopt and
// bpf() (option numbers, values, attrs, the fds kept for a later detach), which way is chosen
// on kernels with and without the links, and the typed errors for bad input before any
// syscall. Real socket and namespace fds of this process stand in for the targets (no
// privileges needed to open them); the kernel side is scripted.
import dgram from 'node:dgram';
import { closeSync, openSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, AttachTargetError, NotSupportedError, SyscallError } from '../../src/errors.js';
import { resolveSocket, socketFd } from '../../src/internal/socket-fd.js';
import { attachNetns, netnsLinkFeature } from '../../src/link/netns.js';
import { attachReuseport, attachSocketFilter } from '../../src/link/socket-filter.js';
import { addSocket, attachSockmap, sockmapLinkFeature } from '../../src/link/sockmap.js';
import { BpfMap } from '../../src/map.js';
import { Program } from '../../src/prog.js';
import { readField } from '../../src/sys/attr.js';
import { Errno } from '../../src/sys/errno.js';
import { Cmd, LinkCreate, MapUpdateElem, ProgAttach, ProgDetach } from '../../src/sys/layouts.js';
import { AttachType, MapType, ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';
import { progQueryAnswer } from './helpers/prog-query.js';
import { setBackend } from '../../src/sys/select.js';

/** The fake kernel plus scripted socket options and setns. */
class SocketFake extends PerfFake {
  readonly setsockopts: Array<{ fd: number; level: number; name: number; value: number }> = [];
  readonly getsockopts: Array<{ fd: number; name: number; length: number }> = [];
  readonly setsockoptResults: number[] = [];
  getsockoptResult = 0;
  readonly setnsCalls: number[] = [];

  override setsockopt(fd = -1, level = 0, name = 0, value: Uint8Array = new Uint8Array(4)): number {
    this.setsockopts.push({ fd, level, name, value: new DataView(value.buffer, value.byteOffset).getInt32(0, true) });
    return this.setsockoptResults.shift() ?? 0;
  }

  override getsockopt(fd = -1, _level = 0, name = 0, value: Uint8Array = new Uint8Array(0)): number {
    this.getsockopts.push({ fd, name, length: value.byteLength });
    return this.getsockoptResult;
  }

  override setns(fd = -1): number {
    this.setnsCalls.push(fd);
    return 0;
  }
}

let fake: SocketFake;
beforeEach(() => {
  installFakeKernel();
  fake = new SocketFake();
  setBackend(fake);
  fake.alwaysBpf(Cmd.ProgLoad, () => fake.allocFd());
  fake.alwaysBpf(Cmd.MapCreate, () => fake.allocFd());
  sockmapLinkFeature.reset();
  netnsLinkFeature.reset();
});
afterEach(() => {
  uninstallFakeKernel();
  sockmapLinkFeature.reset();
  netnsLinkFeature.reset();
});

const load = (type: ProgramType, attachType?: AttachType, name = 'prog'): Program =>
  Program.load({ name, type, attachType, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });

async function boundUdp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

const u32 = (attr: Uint8Array, field: { offset: number; size: number; kind: string; name: string }): number => Number(readField(attr, field as never));

describe('resolving a socket', () => {
  it('finds the fd of a bound dgram socket through its handle, without the DEP0112 warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    const s = await boundUdp();
    try {
      const ref = resolveSocket(s);
      expect(ref.fd).toBeGreaterThan(2);
      expect(ref.description).toBe(`dgram socket (fd ${ref.fd})`);
      expect(ref.current()).toBe(ref.fd);
      expect(socketFd({ fd: ref.fd })).toBe(ref.fd);
      await new Promise<void>((resolve) => s.close(resolve));
      expect(ref.current()).toBeUndefined();
    } finally {
      process.off('warning', onWarning);
    }
    await new Promise((r) => setImmediate(r));
    expect(warnings).not.toContain('DeprecationWarning');
  });

  it('names what is wrong: not bound, closed, not a socket, not open, not an fd', async () => {
    const unbound = dgram.createSocket('udp4');
    expect(caught(() => resolveSocket(unbound))).toMatchObject({ kind: 'socket', message: expect.stringMatching(/no fd until it is bound/) });
    unbound.close();
    const file = openSync('/dev/null', 'r');
    try {
      const err = caught(() => resolveSocket(file));
      expect(err).toBeInstanceOf(AttachTargetError);
      expect((err as AttachTargetError).code).toBe('ENOTSOCK');
    } finally {
      closeSync(file);
    }
    expect((caught(() => resolveSocket(987_654)) as AttachTargetError).code).toBe('EBADF');
    expect(() => resolveSocket(-1)).toThrow(/-1 is not a file descriptor/);
    expect(() => resolveSocket({} as never)).toThrow(TypeError);
  });
});

describe('attachSocketFilter and attachReuseport', () => {
  it('SO_ATTACH_BPF with the program fd; close runs SO_DETACH_BPF on the same socket, once', async () => {
    const s = await boundUdp();
    const fd = socketFd(s);
    using prog = load(ProgramType.SocketFilter, undefined, 'filter');
    const link = attachSocketFilter(prog, s);
    expect(fake.getsockopts).toEqual([{ fd, name: 26, length: 0 }]); // SO_GET_FILTER, asking for the length only
    expect(fake.setsockopts).toEqual([{ fd, level: 1, name: 50, value: prog.fd }]);
    expect(link.mode).toBe('attachment');
    link.close();
    link.close();
    expect(fake.setsockopts.slice(1)).toEqual([{ fd, level: 1, name: 27, value: 0 }]);
    s.close();
  });

  it('a socket closed before its link is not touched', async () => {
    const s = await boundUdp();
    using prog = load(ProgramType.SocketFilter);
    const link = attachSocketFilter(prog, s);
    await new Promise<void>((resolve) => s.close(resolve));
    link.close();
    expect(fake.setsockopts.map((c) => c.name)).toEqual([50]);
  });

  it('an existing filter is refused unless replace; EPERM names SO_LOCK_FILTER; a wrong program is an ArgumentError', async () => {
    const s = await boundUdp();
    using prog = load(ProgramType.SocketFilter);
    fake.getsockoptResult = -Errno.EACCES;
    expect(() => attachSocketFilter(prog, s)).toThrow(/already has an eBPF socket filter/);
    fake.getsockoptResult = 4;
    expect(() => attachSocketFilter(prog, s)).toThrow(/already has a classic BPF filter of 4 instructions/);
    expect(fake.setsockopts).toEqual([]);
    fake.setsockoptResults.push(-Errno.EPERM);
    const err = caught(() => attachSocketFilter(prog, s, { replace: true }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toMatch(/SO_LOCK_FILTER/);
    using kprobe = load(ProgramType.Kprobe, undefined, 'kp');
    expect(() => attachSocketFilter(kprobe, s)).toThrow(ArgumentError);
    s.close();
  });

  it('reuseport: SO_ATTACH_REUSEPORT_EBPF, SO_DETACH_REUSEPORT_BPF on close, EINVAL explained', async () => {
    const s = await boundUdp();
    const fd = socketFd(s);
    using prog = load(ProgramType.SKReuseport, AttachType.SKReuseportSelect, 'select');
    const link = attachReuseport(prog, s);
    link.close();
    expect(fake.setsockopts).toEqual([
      { fd, level: 1, name: 52, value: prog.fd },
      { fd, level: 1, name: 68, value: 0 },
    ]);
    fake.setsockoptResults.push(-Errno.EINVAL);
    expect(caught(() => attachReuseport(prog, s))).toMatchObject({ kind: 'socket', message: expect.stringMatching(/set SO_REUSEPORT before bind\(\)/) });
    using cls = load(ProgramType.SchedCls);
    expect(() => attachReuseport(cls, s)).toThrow(ArgumentError);
    s.close();
  });
});

function sockmap(valueSize = 8, type = MapType.SockMap): BpfMap {
  return BpfMap.create({ name: 'socks', type, keySize: 4, valueSize, maxEntries: 2 });
}

describe('attachSockmap', () => {
  it('on a kernel with sockmap links: BPF_LINK_CREATE with the map as target, the program\'s attach type', () => {
    using map = sockmap();
    using prog = load(ProgramType.SKMsg, AttachType.SKMsgVerdict, 'redirect');
    fake.onBpf(Cmd.LinkCreate, -Errno.EBADF); // the probe: the kernel looked for the map
    let sent: Uint8Array | undefined;
    fake.onBpf(Cmd.LinkCreate, (c) => ((sent = c.attr), fake.allocFd()));
    const link = attachSockmap(prog, map);
    expect(link.mode).toBe('bpf-link');
    expect(u32(sent!, LinkCreate.fields.target_fd)).toBe(map.fd);
    expect(u32(sent!, LinkCreate.fields.attach_type)).toBe(AttachType.SKMsgVerdict);
    expect(u32(sent!, LinkCreate.fields.prog_fd)).toBe(prog.fd);
    link.close();
  });

  it('before 6.10: BPF_PROG_ATTACH, and close detaches our program with fds of its own', () => {
    using map = sockmap();
    using prog = load(ProgramType.SKSKB, AttachType.SKSKBStreamVerdict, 'verdict');
    fake.onBpf(Cmd.LinkCreate, -Errno.EINVAL); // the probe: no sockmap links
    fake.onBpf(Cmd.ProgQuery, progQueryAnswer([])); // nothing attached
    fake.onBpf(Cmd.ProgAttach, 0);
    fake.onBpf(Cmd.ProgDetach, 0);
    const link = attachSockmap(prog, map);
    expect(link.mode).toBe('attachment');
    const attach = fake.callsOf(Cmd.ProgAttach)[0]!.attr;
    // The attach already names our own copy of the map fd, which the detach names too.
    const mapCopy = u32(attach, ProgAttach.fields.target_fd);
    expect(mapCopy).not.toBe(map.fd);
    expect(u32(attach, ProgAttach.fields.attach_bpf_fd)).toBe(prog.fd);
    expect(u32(attach, ProgAttach.fields.attach_type)).toBe(AttachType.SKSKBStreamVerdict);
    link.close();
    const detach = fake.callsOf(Cmd.ProgDetach)[0]!.attr;
    const mapDup = u32(detach, ProgDetach.fields.target_fd);
    expect(mapDup).toBe(mapCopy);
    const progDup = u32(detach, ProgDetach.fields.attach_bpf_fd);
    expect([mapDup, progDup]).not.toContain(map.fd);
    expect(fake.closed).toEqual(expect.arrayContaining([mapDup, progDup]));
    expect(u32(detach, ProgDetach.fields.attach_type)).toBe(AttachType.SKSKBStreamVerdict);
  });

  it('update() of an attachment: BPF_PROG_ATTACH of the new program, whose fd copy the detach then uses', () => {
    using map = sockmap();
    using v1 = load(ProgramType.SKSKB, AttachType.SKSKBStreamVerdict, 'v1');
    using v2 = load(ProgramType.SKSKB, AttachType.SKSKBStreamVerdict, 'v2');
    using msg = load(ProgramType.SKMsg, AttachType.SKMsgVerdict, 'msg');
    fake.onBpf(Cmd.ProgQuery, progQueryAnswer([]));
    fake.alwaysBpf(Cmd.ProgAttach, 0);
    fake.onBpf(Cmd.ProgDetach, 0);
    const link = attachSockmap(v1, map, undefined, { mode: 'attachment' });
    const firstDup = u32(fake.callsOf(Cmd.ProgAttach)[0]!.attr, ProgAttach.fields.attach_bpf_fd);
    expect(firstDup).toBe(v1.fd);
    expect(() => link.update(msg)).toThrow(/msg is SK_MSG, not SK_SKB/);
    expect(() => link.update(v2, { oldProgram: v2 })).toThrow(/runs v1 \(attached by this link\), not v2/);
    link.update(v2, { oldProgram: v1 });
    const second = fake.callsOf(Cmd.ProgAttach)[1]!.attr;
    expect(u32(second, ProgAttach.fields.attach_bpf_fd)).toBe(v2.fd);
    expect(u32(second, ProgAttach.fields.target_fd)).not.toBe(map.fd); // our own copy of the map fd
    link.close();
    const detachedWith = u32(fake.callsOf(Cmd.ProgDetach)[0]!.attr, ProgDetach.fields.attach_bpf_fd);
    expect(fake.closed).toContain(detachedWith);
    expect(detachedWith).not.toBe(v2.fd);
  });

  it('refuses to replace a program in the slot; EBUSY names what holds it', () => {
    using map = sockmap();
    using prog = load(ProgramType.SKMsg, AttachType.SKMsgVerdict, 'redirect');
    fake.alwaysBpf(Cmd.ProgQuery, progQueryAnswer([42]));
    expect(() => attachSockmap(prog, map, undefined, { mode: 'attachment' })).toThrow(/holds program 42 already; BPF_PROG_ATTACH would replace it silently/);
    expect(fake.callsOf(Cmd.ProgAttach)).toEqual([]);
    fake.onBpf(Cmd.LinkCreate, -Errno.EBADF);
    fake.onBpf(Cmd.LinkCreate, -Errno.EBUSY);
    expect(() => attachSockmap(prog, map)).toThrow(/sk_msg verdict slot of map socks is held by program 42 \(through a link/);
  });

  it('mode bpf-link before 6.10 is NotSupportedError naming 6.10', () => {
    using map = sockmap();
    using prog = load(ProgramType.SKMsg, AttachType.SKMsgVerdict);
    fake.onBpf(Cmd.LinkCreate, -Errno.EINVAL);
    const err = caught(() => attachSockmap(prog, map, undefined, { mode: 'bpf-link' }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.10');
  });

  it('checks the program, the attach type and the map before any syscall', () => {
    using map = sockmap();
    using plain = load(ProgramType.SKSKB, undefined, 'plain');
    expect(() => attachSockmap(plain, map)).toThrow(/say which slot plain takes/);
    using msg = load(ProgramType.SKMsg, AttachType.SKMsgVerdict);
    expect(() => attachSockmap(msg, map, AttachType.SKSKBStreamParser)).toThrow(/it takes BPF_SK_MSG_VERDICT/);
    using xdp = load(ProgramType.XDP);
    expect(() => attachSockmap(xdp, map)).toThrow(ArgumentError);
    using array = BpfMap.create({ name: 'arr', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    expect(() => attachSockmap(msg, array)).toThrow(/needs a SOCKMAP or SOCKHASH map; map arr is ARRAY/);
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });
});

describe('addSocket', () => {
  it('writes the fd as the map\'s 4- or 8-byte value at a numeric key', async () => {
    const s = await boundUdp();
    const fd = socketFd(s);
    for (const size of [8, 4]) {
      using map = sockmap(size);
      let value: Uint8Array | undefined;
      let key: Uint8Array | undefined;
      fake.onBpf(Cmd.MapUpdateElem, (c) => {
        key = c.pointers.get(MapUpdateElem.fields.key.offset)!.slice();
        value = c.pointers.get(MapUpdateElem.fields.value.offset)!.slice();
        return 0;
      });
      addSocket(map, 1, s);
      expect([...key!]).toEqual([1, 0, 0, 0]);
      expect(value!.byteLength).toBe(size);
      expect(size === 8 ? Number(new DataView(value!.buffer).getBigUint64(0, true)) : new DataView(value!.buffer).getUint32(0, true)).toBe(fd);
    }
    s.close();
  });

  it('EOPNOTSUPP says which sockets the map takes; other maps and bad keys are ArgumentErrors', async () => {
    const s = await boundUdp();
    using map = sockmap();
    fake.onBpf(Cmd.MapUpdateElem, -Errno.EOPNOTSUPP);
    expect(() => addSocket(map, 0, s)).toThrow(/TCP sockets must be established or listening/);
    expect(() => addSocket(map, -1, s)).toThrow(ArgumentError);
    using hash = BpfMap.create({ name: 'h', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1 });
    expect(() => addSocket(hash, 0, s)).toThrow(/needs a SOCKMAP or SOCKHASH or REUSEPORT_SOCKARRAY map/);
    s.close();
  });
});

describe('attachNetns', () => {
  it('a netns link to the calling thread\'s namespace by default, the namespace fd closed after', () => {
    using prog = load(ProgramType.FlowDissector, AttachType.FlowDissector, 'dissect');
    fake.onBpf(Cmd.LinkCreate, -Errno.EBADF); // the probe
    let target = -1;
    let attachType = -1;
    fake.onBpf(Cmd.LinkCreate, (c) => {
      target = u32(c.attr, LinkCreate.fields.target_fd);
      attachType = u32(c.attr, LinkCreate.fields.attach_type);
      return fake.allocFd();
    });
    const link = attachNetns(prog);
    expect(link.mode).toBe('bpf-link');
    expect(link.what).toMatch(/^flow dissector program dissect in netns of this thread \(net:\[\d+\]\)$/);
    expect(attachType).toBe(AttachType.FlowDissector);
    expect(target).toBeGreaterThan(2);
    expect(caught(() => closeSync(target))).toMatchObject({ code: 'EBADF' }); // closed again
    link.close();
  });

  it('before 5.8 a flow dissector is attached with BPF_PROG_ATTACH inside the namespace, and detached there', () => {
    using prog = load(ProgramType.FlowDissector, AttachType.FlowDissector, 'dissect');
    fake.onBpf(Cmd.LinkCreate, -Errno.EINVAL); // the probe: no netns links
    fake.onBpf(Cmd.ProgQuery, progQueryAnswer([]));
    fake.onBpf(Cmd.ProgAttach, 0);
    fake.onBpf(Cmd.ProgDetach, 0);
    const link = attachNetns(prog, { netns: '/proc/self/ns/net' });
    expect(link.mode).toBe('attachment');
    const attach = fake.callsOf(Cmd.ProgAttach)[0]!.attr;
    expect(u32(attach, ProgAttach.fields.target_fd)).toBe(0); // netns_bpf_prog_attach() wants 0
    expect(u32(attach, ProgAttach.fields.attach_type)).toBe(AttachType.FlowDissector);
    expect(fake.setnsCalls.length).toBe(2); // in and back out
    link.close();
    expect(fake.setnsCalls.length).toBe(4);
    const detach = fake.callsOf(Cmd.ProgDetach)[0]!.attr;
    expect(u32(detach, ProgDetach.fields.target_fd)).toBe(0);
    expect(fake.closed).toContain(u32(detach, ProgDetach.fields.attach_bpf_fd));
  });

  it('sk_lookup takes links only; other programs and non-namespaces are refused before any syscall', () => {
    using lookup = load(ProgramType.SKLookup, AttachType.SKLookup, 'steer');
    expect(() => attachNetns(lookup, { mode: 'attachment' })).toThrow(/netns links only/);
    using xdp = load(ProgramType.XDP);
    expect(() => attachNetns(xdp)).toThrow(ArgumentError);
    using fd = load(ProgramType.FlowDissector, AttachType.FlowDissector);
    expect(caught(() => attachNetns(fd, { netns: '/proc/self/ns/mnt' }))).toMatchObject({ kind: 'netns', message: expect.stringMatching(/is not a network namespace \(it is mnt:\[\d+\]\)/) });
    expect(() => attachNetns(fd, { netns: 'no-such' })).toThrow(/cannot open network namespace \/run\/netns\/no-such/);
    expect(fake.callsOf(Cmd.LinkCreate)).toEqual([]);
  });

  it('E2BIG and EEXIST of the link say what they mean', () => {
    using prog = load(ProgramType.FlowDissector, AttachType.FlowDissector, 'dissect');
    fake.onBpf(Cmd.LinkCreate, -Errno.EBADF);
    fake.onBpf(Cmd.LinkCreate, -Errno.E2BIG);
    expect(() => attachNetns(prog)).toThrow(/has a flow dissector link already.*a namespace takes one/);
    fake.onBpf(Cmd.LinkCreate, -Errno.EEXIST);
    expect(() => attachNetns(prog)).toThrow(/with BPF_PROG_ATTACH, which links cannot join.*root namespace/);
  });
});
