// tcx and netkit on the fake kernel: the BPF_LINK_CREATE and BPF_PROG_ATTACH/DETACH attrs each
// option gives (attach type, ifindex, anchor flags and relative fd or id, expected revision),
// the feature probes' readings of each errno, the explanations built from BPF_PROG_QUERY, and
// every argument mistake refused before any syscall. Interfaces come from a scripted ioctl:
// eth0 is ifindex 7.
import { endianness } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, AttachTargetError, NotSupportedError, SyscallError } from '../../src/errors.js';
import { programNameDotFeature, programNameFeature } from '../../src/features/prog-types.js';
import { BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK } from '../../src/internal/flags.js';
import { Link } from '../../src/link/link.js';
import { encodePlacement, queryMprog } from '../../src/link/mprog.js';
import { attachNetkit, netkitFeature } from '../../src/link/netkit.js';
import { attachTcx, tcxFeature, type TcxOptions } from '../../src/link/tcx.js';
import { Program } from '../../src/prog.js';
import type { FakeBpfCall } from '../../src/sys/backend-fake.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd } from '../../src/sys/layouts.js';
import { setBackend } from '../../src/sys/select.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { caught, PerfFake } from './helpers/perf-fake.js';

const le = endianness() === 'LE';
const SIOCGIFNAME = 0x8910;
const SIOCGIFINDEX = 0x8933;
const IFACES: Record<string, number> = { eth0: 7, lo: 1 };

/** The perf fake plus interfaces (SIOCGIFINDEX/SIOCGIFNAME on any socket) and a setns that succeeds. */
class NetFake extends PerfFake {
  readonly setnsCalls: number[] = [];

  override socket(): number {
    return this.allocFd();
  }

  override setns(fd = -1): number {
    this.setnsCalls.push(fd);
    return 0;
  }

  override ioctl(fd = -1, request = 0, arg: number | bigint | Uint8Array = 0): number {
    if (!(arg instanceof Uint8Array) || (request !== SIOCGIFINDEX && request !== SIOCGIFNAME)) return super.ioctl(fd, request, arg);
    const view = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    if (request === SIOCGIFINDEX) {
      const nul = arg.indexOf(0);
      const index = IFACES[new TextDecoder().decode(arg.subarray(0, nul < 0 ? 16 : nul))];
      if (index === undefined) return -Errno.ENODEV;
      view.setInt32(16, index, le);
      return 0;
    }
    const name = Object.keys(IFACES).find((n) => IFACES[n] === view.getInt32(16, le));
    if (name === undefined) return -Errno.ENODEV;
    arg.set(new TextEncoder().encode(`${name}\0`));
    return 0;
  }
}

let fake: NetFake;

beforeEach(() => {
  fake = new NetFake();
  setBackend(fake);
  overrideKernelVersion('6.18.0');
  for (const f of [programNameFeature, programNameDotFeature, tcxFeature, netkitFeature]) f.reset();
  fake.alwaysBpf(Cmd.ProgLoad, () => fake.allocFd());
});

afterEach(() => {
  setBackend(undefined);
  overrideKernelVersion(undefined);
  tcxFeature.reset();
  netkitFeature.reset();
});

const load = (name: string, type = ProgramType.SchedCls, attachType?: AttachType): Program =>
  Program.load({ name, type, attachType, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, -1), asm.exit()] });

const u32 = (c: FakeBpfCall, offset: number): number => new DataView(c.attr.buffer).getUint32(offset, le);
const u64 = (c: FakeBpfCall, offset: number): bigint => (c.attr.byteLength >= offset + 8 ? new DataView(c.attr.buffer).getBigUint64(offset, le) : 0n);

/** The feature probe answers `probe`, then every LINK_CREATE makes a link. */
function linkCreateAnswers(probe = -Errno.ENODEV): void {
  fake.onBpf(Cmd.LinkCreate, probe);
  fake.alwaysBpf(Cmd.LinkCreate, () => fake.allocFd());
}

/** The attaching LINK_CREATE calls (the probe's target is ifindex 0). */
const attaches = (): FakeBpfCall[] => fake.callsOf(Cmd.LinkCreate).filter((c) => u32(c, 4) !== 0);

describe('attachTcx on the fake kernel', () => {
  it('sends BPF_LINK_CREATE with the interface index, the direction and no placement by default', () => {
    linkCreateAnswers();
    using prog = load('cls');
    using link = attachTcx(prog, { interface: 'eth0', direction: 'egress' });
    const [c] = attaches();
    expect([u32(c!, 0), u32(c!, 4), u32(c!, 8), u32(c!, 12)]).toEqual([prog.fd, 7, AttachType.TCXEgress, 0]);
    expect(c!.attr.byteLength).toBe(16); // no tcx fields: kernels check nothing they were not asked to
    expect(link.mode).toBe('bpf-link');
    expect(link.what).toBe('tcx egress of eth0 (ifindex 7)');
  });

  it('takes the direction from a tcx/ingress or tcx/egress section, and the interface by index', () => {
    linkCreateAnswers();
    using prog = load('cls', ProgramType.SchedCls, AttachType.TCXEgress);
    using _ = attachTcx(prog, { interface: 7 });
    expect(u32(attaches()[0]!, 8)).toBe(AttachType.TCXEgress);
  });

  it('encodes every kind of anchor and the expected revision', () => {
    linkCreateAnswers();
    using prog = load('cls');
    using anchor = load('anchor');
    using first = attachTcx(anchor, { interface: 'eth0', direction: 'ingress' });
    const cases: Array<[Partial<TcxOptions>, number, number]> = [
      [{ before: anchor }, BPF_F_BEFORE, anchor.fd],
      [{ after: first }, BPF_F_AFTER | BPF_F_LINK, first.fd],
      [{ before: { programId: 41 } }, BPF_F_BEFORE | BPF_F_ID, 41],
      [{ after: { linkId: 9 } }, BPF_F_AFTER | BPF_F_ID | BPF_F_LINK, 9],
      [{ before: 'all' }, BPF_F_BEFORE, 0],
      [{ after: 'all' }, BPF_F_AFTER, 0],
    ];
    for (const [options, flags, relative] of cases) {
      using _ = attachTcx(prog, { interface: 'eth0', direction: 'ingress', ...options });
      const c = attaches().at(-1)!;
      expect([u32(c, 12), c.attr.byteLength >= 20 ? u32(c, 16) : 0], JSON.stringify(Object.keys(options))).toEqual([flags, relative]);
    }
    using _r = attachTcx(prog, { interface: 'eth0', direction: 'ingress', expectedRevision: 5 });
    expect(u64(attaches().at(-1)!, 24)).toBe(5n);
  });

  it("mode 'attachment': BPF_PROG_ATTACH, and close() detaches that program (our copy of its fd) in the attach's namespace", () => {
    fake.onBpf(Cmd.LinkCreate, -Errno.ENODEV);
    fake.alwaysBpf(Cmd.ObjGetInfoByFd, (c) => {
      const info = c.pointers.get(8)!;
      new DataView(info.buffer, info.byteOffset).setUint32(4, 77, le); // bpf_prog_info.id
      return 0;
    });
    fake.alwaysBpf(Cmd.ProgAttach, 0);
    fake.alwaysBpf(Cmd.ProgGetFdById, () => fake.allocFd());
    fake.alwaysBpf(Cmd.ProgDetach, 0);
    using prog = load('cls');
    const link = attachTcx(prog, { interface: 'eth0', direction: 'ingress', mode: 'attachment', after: { programId: 5 } });
    expect(link.mode).toBe('attachment');
    expect(link.fd).toBe(-1);
    const [attach] = fake.callsOf(Cmd.ProgAttach);
    expect([u32(attach!, 0), u32(attach!, 4), u32(attach!, 8), u32(attach!, 12), u32(attach!, 20)]).toEqual([7, prog.fd, AttachType.TCXIngress, BPF_F_AFTER | BPF_F_ID, 5]);
    // As an anchor it stands for its program's id.
    expect(encodePlacement({ before: link }, ProgramType.SchedCls, 'test')).toMatchObject({ flags: BPF_F_BEFORE | BPF_F_ID, relative: 77 });

    expect(fake.callsOf(Cmd.ProgDetach)).toHaveLength(0);
    fake.setnsCalls.length = 0;
    link.close();
    const [detach] = fake.callsOf(Cmd.ProgDetach);
    // Our own copy of the program's fd (the Program may be closed first), closed with the link.
    const ours = u32(detach!, 4);
    expect(ours).not.toBe(prog.fd);
    expect(fake.closed).toContain(ours);
    expect([u32(detach!, 0), u32(detach!, 8)]).toEqual([7, AttachType.TCXIngress]);
    // Into the namespace of the attach and back.
    expect(fake.setnsCalls).toHaveLength(2);
    expect(caught(() => encodePlacement({ before: link }, ProgramType.SchedCls, 'test'))).toBeInstanceOf(ArgumentError);
  });

  it('explains ESTALE with the revision and programs the hook has now', () => {
    linkCreateAnswers();
    fake.onBpf(Cmd.LinkCreate, -Errno.ESTALE);
    fake.alwaysBpf(Cmd.ProgQuery, (c) => {
      const v = new DataView(c.liveAttr.buffer, c.liveAttr.byteOffset);
      expect([v.getUint32(0, le), v.getUint32(4, le)]).toEqual([7, AttachType.TCXIngress]);
      v.setUint32(24, 1, le); // prog_cnt: queryPrograms asks for the count first, then the ids
      const ids = c.pointers.get(16);
      const links = c.pointers.get(40);
      if (ids) new DataView(ids.buffer, ids.byteOffset).setUint32(0, 42, le);
      if (links) new DataView(links.buffer, links.byteOffset).setUint32(0, 3, le);
      v.setBigUint64(56, 9n, le); // revision
      return 0;
    });
    using prog = load('cls');
    const err = caught(() => attachTcx(prog, { interface: 'eth0', direction: 'ingress', expectedRevision: 3n }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toContain('tcx ingress of eth0 is at revision 9, not the expected revision 3');
    expect((err as Error).message).toContain('attached now, in order: program 42 through link 3');
    expect(queryMprog(7, AttachType.TCXIngress)).toEqual({ revision: 9n, programIds: [42], linkIds: [3] });
  });

  it('explains EEXIST (the program is there already) and an anchor that is not attached (ENOENT)', () => {
    linkCreateAnswers();
    fake.alwaysBpf(Cmd.ProgQuery, -Errno.EINVAL);
    using prog = load('cls');
    fake.onBpf(Cmd.LinkCreate, -Errno.EEXIST);
    expect((caught(() => attachTcx(prog, { interface: 'eth0', direction: 'ingress' })) as Error).message).toMatch(
      /program cls is already attached at tcx ingress of eth0 \(a hook holds each program once\): load the program again/,
    );
    fake.onBpf(Cmd.LinkCreate, -Errno.ENOENT);
    expect((caught(() => attachTcx(prog, { interface: 'eth0', direction: 'ingress', after: { programId: 8 } })) as Error).message).toMatch(
      /after program id 8: no such program or link is attached at tcx ingress of eth0/,
    );
  });

  it('before 6.6: NotSupportedError naming 6.6 and attachTc, and nothing attached', () => {
    overrideKernelVersion('6.1.0');
    fake.alwaysBpf(Cmd.LinkCreate, -Errno.EINVAL);
    using prog = load('cls');
    const err = caught(() => attachTcx(prog, { interface: 'eth0', direction: 'ingress' }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.6');
    expect((err as Error).message).toMatch(/tcx is not supported by this kernel \(requires Linux 6\.6 or later\); attach the program with attachTc instead/);
    expect(attaches()).toHaveLength(0);
  });

  it('the probe reads ENODEV as supported and EPERM as unknown', () => {
    fake.onBpf(Cmd.LinkCreate, -Errno.ENODEV);
    expect(tcxFeature.check()).toEqual({ supported: true });
    tcxFeature.reset();
    fake.onBpf(Cmd.LinkCreate, -Errno.EPERM);
    expect(tcxFeature.check().supported).toBe('unknown');
  });

  it('refuses mistakes before any syscall', () => {
    using prog = load('cls');
    using sock = load('sock', ProgramType.SocketFilter);
    const closed = Link.adopt({ fd: fake.allocFd(), mode: 'bpf-link', what: 'gone' });
    closed.close();
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /needs options: \{ interface/],
      [{ direction: 'ingress' }, /needs options: \{ interface/],
      [{ interface: 'eth0' }, /give direction/],
      [{ interface: 'eth0', direction: 'in' }, /direction must be 'ingress' or 'egress', got "in"/],
      [{ interface: 'eth0', direction: 'ingress', mode: 'legacy' }, /mode must be 'bpf-link' or 'attachment'/],
      [{ interface: 'eth0', direction: 'ingress', before: 'all', after: 'all' }, /give before or after, not both/],
      [{ interface: 'eth0', direction: 'ingress', before: sock }, /before names program sock, a SOCKET_FILTER program; anchors at this hook are SCHED_CLS programs/],
      [{ interface: 'eth0', direction: 'ingress', before: closed }, /is closed/],
      [{ interface: 'eth0', direction: 'ingress', after: { programId: 0 } }, /after.programId must be a kernel object id/],
      [{ interface: 'eth0', direction: 'ingress', after: { linkId: 2 ** 32 } }, /after.linkId must be a kernel object id/],
      [{ interface: 'eth0', direction: 'ingress', after: { programId: 1, linkId: 2 } }, /not both/],
      [{ interface: 'eth0', direction: 'ingress', after: 'first' }, /must be a Program, a Link, \{ programId \}, \{ linkId \} or 'all', got "first"/],
      [{ interface: 'eth0', direction: 'ingress', expectedRevision: -1 }, /expectedRevision must be a non-negative integer/],
      [{ interface: 'eth0', direction: 'ingress', expectedRevision: 1.5 }, /expectedRevision/],
    ];
    for (const [options, message] of cases) {
      const err = caught(() => attachTcx(prog, options as TcxOptions));
      expect(err, JSON.stringify(options)).toBeInstanceOf(ArgumentError);
      expect((err as Error).message).toMatch(message);
    }
    expect((caught(() => attachTcx(sock, { interface: 'eth0', direction: 'ingress' })) as Error).message).toMatch(/attachTcx needs a SCHED_CLS program .*; sock is SOCKET_FILTER/);
    expect(fake.callsOf(Cmd.LinkCreate)).toHaveLength(0);
    // A missing interface is an AttachTargetError, found before the kernel is asked.
    expect(caught(() => attachTcx(prog, { interface: 'eth9', direction: 'ingress' }))).toBeInstanceOf(AttachTargetError);
    expect(fake.callsOf(Cmd.LinkCreate)).toHaveLength(0);
  });
});

describe('attachNetkit on the fake kernel', () => {
  it('attaches to the primary side by default and to the peer side with peer or a netkit/peer section', () => {
    linkCreateAnswers();
    using prog = load('nk');
    using peerProg = load('nk_peer', ProgramType.SchedCls, AttachType.NetkitPeer);
    using a = attachNetkit(prog, { interface: 'eth0' });
    using b = attachNetkit(prog, { interface: 'eth0', peer: true, before: 'all', expectedRevision: 2n });
    using c = attachNetkit(peerProg, { interface: 'eth0' });
    const [ca, cb, cc] = attaches();
    expect([u32(ca!, 4), u32(ca!, 8)]).toEqual([7, AttachType.NetkitPrimary]);
    expect([u32(cb!, 8), u32(cb!, 12), u64(cb!, 24)]).toEqual([AttachType.NetkitPeer, BPF_F_BEFORE, 2n]);
    expect(u32(cc!, 8)).toBe(AttachType.NetkitPeer);
    expect([a.what, b.what]).toEqual(['netkit primary of eth0 (ifindex 7)', 'netkit peer of eth0 (ifindex 7)']);
  });

  it('turns ENXIO and EACCES into AttachTargetErrors that say what to attach to', () => {
    linkCreateAnswers();
    using prog = load('nk');
    fake.onBpf(Cmd.LinkCreate, -Errno.ENXIO);
    const notNetkit = caught(() => attachNetkit(prog, { interface: 'eth0' }));
    expect(notNetkit).toBeInstanceOf(AttachTargetError);
    expect((notNetkit as AttachTargetError).errno).toBe(Errno.ENXIO);
    expect((notNetkit as Error).message).toMatch(/eth0 is not a netkit device: attachNetkit takes the primary device of a netkit pair/);
    fake.onBpf(Cmd.LinkCreate, -Errno.EACCES);
    expect((caught(() => attachNetkit(prog, { interface: 'eth0' })) as Error).message).toMatch(/eth0 is the peer end of a netkit pair: programs are attached through the primary device/);
  });

  it('before 6.7: NotSupportedError naming 6.7; mistakes refused before any syscall', () => {
    overrideKernelVersion('6.6.0');
    fake.alwaysBpf(Cmd.LinkCreate, -Errno.EINVAL);
    using prog = load('nk');
    const err = caught(() => attachNetkit(prog, { interface: 'eth0' }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.7');
    using xdp = load('x', ProgramType.XDP);
    const calls = fake.calls.length;
    expect(caught(() => attachNetkit(prog, { interface: 'eth0', peer: 1 as unknown as boolean }))).toBeInstanceOf(ArgumentError);
    expect(caught(() => attachNetkit(prog, {} as { interface: string }))).toBeInstanceOf(ArgumentError);
    expect((caught(() => attachNetkit(xdp, { interface: 'eth0' })) as Error).message).toMatch(/needs a SCHED_CLS program .*; x is XDP/);
    expect(fake.calls.length).toBe(calls);
  });
});
