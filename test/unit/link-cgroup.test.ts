// Cgroup attachment without a kernel: finding the v2 hierarchy in mountinfo text, reading
// /proc/PID/cgroup, choosing the hook from the program and the options, and the bpf() calls
// each path makes (BPF_LINK_CREATE; BPF_PROG_ATTACH and the BPF_PROG_DETACH of close()) with
// the fake backend. The attach tests open the real cgroup v2 root (reading only; no
// privileges needed) and skip where none is mounted.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, NotSupportedError, SyscallError } from '../../src/errors.js';
import { findCgroup2Mount, mountsFromMountinfo, parseProcCgroup } from '../../src/internal/cgroup.js';
import { BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE } from '../../src/internal/flags.js';
import { attachCgroup, cgroupAttachTypes, cgroupLinkFeature } from '../../src/link/cgroup.js';
import { Program } from '../../src/prog.js';
import { hostLittleEndian } from '../../src/sys/attr.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd, LinkCreate, ProgAttach, ProgDetach } from '../../src/sys/layouts.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';
import { progQueryAnswer } from './helpers/prog-query.js';

const HYBRID = `22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const PURE_V2 = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';

describe('the cgroup v2 mount', () => {
  it('is the cgroup2 line of mountinfo: /sys/fs/cgroup/unified in the hybrid layout, /sys/fs/cgroup on pure v2', () => {
    expect(findCgroup2Mount(HYBRID)).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(findCgroup2Mount(PURE_V2)).toEqual({ mountPoint: '/sys/fs/cgroup', root: '/' });
    expect(findCgroup2Mount('31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n')).toBeUndefined();
  });

  it('decodes escaped mount points and prefers a mount of the whole hierarchy over a subtree', () => {
    const text = '50 1 0:40 /kubepods/pod1 /run/my\\040cgroup rw - cgroup2 cgroup2 rw\n60 1 0:40 / /mnt/cg2 rw - cgroup2 cgroup2 rw\n';
    expect(mountsFromMountinfo(text, 'cgroup2')).toEqual([
      { root: '/kubepods/pod1', mountPoint: '/run/my cgroup' },
      { root: '/', mountPoint: '/mnt/cg2' },
    ]);
    expect(findCgroup2Mount(text)?.mountPoint).toBe('/mnt/cg2');
    expect(findCgroup2Mount(text.split('\n')[0]!)?.mountPoint).toBe('/run/my cgroup');
  });

  it('a process cgroup is the 0:: line of /proc/PID/cgroup', () => {
    expect(parseProcCgroup('9:name=systemd:/\n4:memory:/a/b\n0::/user.slice/session-1.scope\n')).toBe('/user.slice/session-1.scope');
    expect(parseProcCgroup('0::/\n')).toBe('/');
    expect(parseProcCgroup('4:memory:/a\n')).toBeUndefined();
  });
});

describe('cgroup hooks', () => {
  it('every cgroup attach type of the UAPI belongs to one program type', () => {
    const all = [
      ProgramType.CgroupSKB,
      ProgramType.CgroupSock,
      ProgramType.CgroupSockAddr,
      ProgramType.SockOps,
      ProgramType.CgroupDevice,
      ProgramType.CgroupSysctl,
      ProgramType.CgroupSockopt,
      ProgramType.LSM,
    ].flatMap((t) => cgroupAttachTypes(t));
    expect(new Set(all).size).toBe(all.length);
    const cgroupNamed = Object.keys(AttachType).filter((k) => /^Cgroup/.test(k)).map((k) => AttachType[k as keyof typeof AttachType]);
    for (const t of [...cgroupNamed, AttachType.LSMCgroup]) expect(all).toContain(t);
    expect(cgroupAttachTypes(ProgramType.CgroupSKB)).toEqual([AttachType.CgroupInetIngress, AttachType.CgroupInetEgress]);
    expect(cgroupAttachTypes(ProgramType.CgroupSockAddr)).toHaveLength(17);
    expect(cgroupAttachTypes(ProgramType.XDP)).toEqual([]);
  });
});

const root = findCgroup2Mount()?.mountPoint;
const noCgroup2 = root === undefined ? 'no cgroup v2 hierarchy mounted here' : undefined;

let fake: PerfFake;
beforeEach(() => {
  fake = installFakeKernel();
  cgroupLinkFeature.reset();
  // Program ids for info(): the fd number stands in for the id.
  fake.alwaysBpf(Cmd.ObjGetInfoByFd, (c) => {
    const info = c.pointers.get(8)!;
    const fd = new DataView(c.attr.buffer, c.attr.byteOffset).getUint32(0, hostLittleEndian);
    new DataView(info.buffer, info.byteOffset).setUint32(4, fd, hostLittleEndian);
    return 0;
  });
});
afterEach(() => {
  uninstallFakeKernel();
  cgroupLinkFeature.reset();
});

const load = (name: string, type: ProgramType, attachType?: AttachType, sectionName?: string): Program =>
  Program.load({ name, type, attachType, sectionName, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 1), asm.exit()] });

const u32 = (bytes: Uint8Array, offset: number): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(offset, hostLittleEndian);

/** bpf() commands other than program loads and info, in order. */
const attachCalls = (): number[] => fake.calls.map((c) => c.cmd).filter((c) => c !== Cmd.ProgLoad && c !== Cmd.ObjGetInfoByFd);

describe('choosing the hook (ArgumentError before any syscall)', () => {
  it('refuses a program type that does not attach to cgroups, naming those that do', () => {
    using prog = load('xdp_prog', ProgramType.XDP, AttachType.XDP);
    const err = caught(() => attachCgroup(prog, { cgroup: '/nonexistent' }));
    expect(err).toBeInstanceOf(ArgumentError);
    expect((err as Error).message).toMatch(/xdp_prog is a XDP program, which does not attach to cgroups; cgroup programs are CGROUP_SKB, CGROUP_SOCK, .*CGROUP_SOCKOPT, LSM/);
    expect(attachCalls()).toEqual([]);
  });

  it('refuses an attach type of another program type, naming the hooks of the program', () => {
    using prog = load('count', ProgramType.CgroupSKB, AttachType.CgroupInetEgress, 'cgroup_skb/egress');
    expect((caught(() => attachCgroup(prog, { cgroup: '/x', attachType: AttachType.CgroupInet4Connect })) as Error).message).toBe(
      'attachCgroup: BPF_CGROUP_INET4_CONNECT runs CGROUP_SOCK_ADDR programs; count is a CGROUP_SKB program, which attaches at CgroupInetIngress (cgroup_skb/ingress), CgroupInetEgress (cgroup_skb/egress)',
    );
    expect((caught(() => attachCgroup(prog, { cgroup: '/x', attachType: AttachType.XDP })) as Error).message).toMatch(/attach type XDP is not a cgroup hook/);
    expect(attachCalls()).toEqual([]);
  });

  it('refuses a hook other than the one a sock_addr program was loaded for', () => {
    using prog = load('deny', ProgramType.CgroupSockAddr, AttachType.CgroupInet4Connect, 'cgroup/connect4');
    expect((caught(() => attachCgroup(prog, { cgroup: '/x', attachType: AttachType.CgroupInet6Connect })) as Error).message).toBe(
      'attachCgroup: deny was loaded for BPF_CGROUP_INET4_CONNECT (cgroup/connect4) and the kernel attaches it only there, not at BPF_CGROUP_INET6_CONNECT: load it with attachType CgroupInet6Connect (section cgroup/connect6)',
    );
  });

  it('asks for the direction of a CGROUP_SKB program whose section does not name one', () => {
    using prog = load('skb', ProgramType.CgroupSKB, AttachType.None, 'cgroup/skb');
    expect((caught(() => attachCgroup(prog, { cgroup: '/x' })) as Error).message).toBe(
      'attachCgroup: give attachType for skb (its section "cgroup/skb" does not name one): a CGROUP_SKB program attaches at CgroupInetIngress (cgroup_skb/ingress), CgroupInetEgress (cgroup_skb/egress)',
    );
  });

  it('refuses an LSM program loaded for BPF_LSM_MAC', () => {
    using prog = load('lsm_prog', ProgramType.LSM, AttachType.LSMMAC, 'lsm/socket_bind');
    expect((caught(() => attachCgroup(prog, { cgroup: '/x' })) as Error).message).toMatch(/loaded for BPF_LSM_MAC .* attach it with attachTracing, or load it from a lsm_cgroup\/<hook> section/);
  });

  it('refuses unknown flags and OVERRIDE with MULTI', () => {
    using prog = load('sock', ProgramType.CgroupSock, AttachType.CgroupInetSockCreate);
    expect(() => attachCgroup(prog, { cgroup: '/x', flags: 4 })).toThrow(/flags must be 0, BPF_F_ALLOW_OVERRIDE \(1\) or BPF_F_ALLOW_MULTI \(2\), got 4/);
    expect(() => attachCgroup(prog, { cgroup: '/x', flags: BPF_F_ALLOW_MULTI | BPF_F_ALLOW_OVERRIDE })).toThrow(/exclude each other/);
    expect(attachCalls()).toEqual([]);
  });

  it('refuses a relative path that leaves the hierarchy and an empty one', () => {
    using prog = load('sock', ProgramType.CgroupSock);
    expect(() => attachCgroup(prog, { cgroup: '' })).toThrow(ArgumentError);
    if (root !== undefined) expect(() => attachCgroup(prog, { cgroup: '../etc' })).toThrow(/leaves the cgroup v2 hierarchy/);
  });
});

describe.skipIf(noCgroup2 !== undefined)('the bpf() calls of each path', () => {
  it('with cgroup links: BPF_LINK_CREATE with the section\'s hook and no flags', () => {
    using prog = load('egress', ProgramType.CgroupSKB, AttachType.CgroupInetEgress, 'cgroup_skb/egress');
    fake.onBpf(Cmd.LinkCreate, -Errno.EBADF); // the feature probe
    fake.onBpf(Cmd.LinkCreate, () => fake.allocFd());
    using link = attachCgroup(prog, { cgroup: root! });
    expect(link.mode).toBe('bpf-link');
    expect(link.what).toBe(`cgroup_skb/egress on cgroup ${root}`);
    const create = fake.callsOf(Cmd.LinkCreate)[1]!;
    expect(u32(create.attr, LinkCreate.fields.prog_fd.offset)).toBe(prog.fd);
    expect(u32(create.attr, LinkCreate.fields.attach_type.offset)).toBe(AttachType.CgroupInetEgress);
    expect(u32(create.attr, LinkCreate.fields.flags.offset)).toBe(0);
    // A CGROUP_SOCK program loaded without a hook is a sock_create program.
    using sock = load('sock', ProgramType.CgroupSock);
    fake.onBpf(Cmd.LinkCreate, () => fake.allocFd());
    attachCgroup(sock, { cgroup: root! }).close();
    expect(u32(fake.callsOf(Cmd.LinkCreate)[2]!.attr, LinkCreate.fields.attach_type.offset)).toBe(AttachType.CgroupInetSockCreate);
  });

  it('without cgroup links (before 5.7): BPF_PROG_ATTACH with ALLOW_MULTI; close() detaches that program', () => {
    overrideKernelVersion('5.4.0');
    using prog = load('connect', ProgramType.CgroupSockAddr, AttachType.CgroupInet4Connect, 'cgroup/connect4');
    fake.onBpf(Cmd.LinkCreate, -Errno.EINVAL); // the probe: no such command
    fake.onBpf(Cmd.ProgAttach, 0);
    const link = attachCgroup(prog, { cgroup: root! });
    expect(link.mode).toBe('attachment');
    expect(link.what).toBe(`cgroup/connect4 on cgroup ${root} (BPF_PROG_ATTACH, BPF_F_ALLOW_MULTI)`);
    const attach = fake.callsOf(Cmd.ProgAttach)[0]!;
    expect(u32(attach.attr, ProgAttach.fields.attach_type.offset)).toBe(AttachType.CgroupInet4Connect);
    expect(u32(attach.attr, ProgAttach.fields.attach_flags.offset)).toBe(BPF_F_ALLOW_MULTI);
    expect(u32(attach.attr, ProgAttach.fields.attach_bpf_fd.offset)).toBe(prog.fd);

    fake.onBpf(Cmd.ProgDetach, 0);
    const closedBefore = fake.closed.length;
    link.close();
    const detach = fake.callsOf(Cmd.ProgDetach)[0]!;
    const ourProgFd = u32(detach.attr, ProgDetach.fields.attach_bpf_fd.offset);
    expect(ourProgFd).not.toBe(prog.fd); // its own reference, so the program may close first
    expect(u32(detach.attr, ProgDetach.fields.target_fd.offset)).toBe(u32(attach.attr, ProgAttach.fields.target_fd.offset));
    expect(u32(detach.attr, ProgDetach.fields.attach_type.offset)).toBe(AttachType.CgroupInet4Connect);
    expect(fake.closed.slice(closedBefore)).toContain(ourProgFd);
    expect(fake.callsOf(Cmd.ProgQuery)).toHaveLength(0);
  });

  it('NONE: close() detaches only while the hook still holds our program', () => {
    using prog = load('dev', ProgramType.CgroupDevice, AttachType.CgroupDevice, 'cgroup/dev');
    fake.alwaysBpf(Cmd.ProgAttach, 0);
    fake.alwaysBpf(Cmd.ProgDetach, 0);
    let attached: number[] = [];
    fake.alwaysBpf(Cmd.ProgQuery, (c) => progQueryAnswer(attached)(c));
    const first = attachCgroup(prog, { cgroup: root!, flags: 0 });
    expect(first.what).toContain('(BPF_PROG_ATTACH, no flags (NONE))');
    // The fake's program id is the program's fd (see ObjGetInfoByFd above).
    const ourId = prog.fd;
    // Replaced by another program: nothing of ours to detach.
    attached = [ourId + 1000];
    first.close();
    expect(fake.callsOf(Cmd.ProgDetach)).toHaveLength(0);
    // Still ours: detached.
    const second = attachCgroup(prog, { cgroup: root!, flags: BPF_F_ALLOW_OVERRIDE });
    attached = [ourId];
    second.close();
    expect(fake.callsOf(Cmd.ProgDetach)).toHaveLength(1);
  });

  it('update of a MULTI attachment: BPF_PROG_ATTACH with BPF_F_REPLACE naming the old program; close() detaches the new one', () => {
    using a = load('a', ProgramType.CgroupSockAddr, AttachType.CgroupInet4Connect, 'cgroup/connect4');
    using b = load('b', ProgramType.CgroupSockAddr, AttachType.CgroupInet4Connect, 'cgroup/connect4');
    using other = load('other', ProgramType.CgroupSockAddr, AttachType.CgroupInet6Connect, 'cgroup/connect6');
    fake.alwaysBpf(Cmd.ProgAttach, 0);
    fake.alwaysBpf(Cmd.ProgDetach, 0);
    const link = attachCgroup(a, { cgroup: root!, legacy: true });
    const first = fake.callsOf(Cmd.ProgAttach)[0]!;
    link.update(b);
    const replace = fake.callsOf(Cmd.ProgAttach)[1]!;
    expect(u32(replace.attr, ProgAttach.fields.attach_flags.offset)).toBe(BPF_F_ALLOW_MULTI | 4 /* BPF_F_REPLACE */);
    // BPF_F_REPLACE names our own copy of a (what a close would have detached), closed after the swap.
    const oldCopy = u32(replace.attr, ProgAttach.fields.replace_bpf_fd.offset);
    expect(u32(first.attr, ProgAttach.fields.attach_bpf_fd.offset)).toBe(a.fd);
    expect(oldCopy).not.toBe(a.fd);
    expect(u32(replace.attr, ProgAttach.fields.attach_bpf_fd.offset)).toBe(b.fd);
    expect(fake.closed).toContain(oldCopy);
    // A program for another hook is refused before any syscall.
    expect(() => link.update(other)).toThrow(/loaded for BPF_CGROUP_INET6_CONNECT/);
    expect(fake.callsOf(Cmd.ProgAttach)).toHaveLength(2);
    link.close();
    // The detach names our copy of b, closed with the link.
    const newFd = u32(fake.callsOf(Cmd.ProgDetach)[0]!.attr, ProgDetach.fields.attach_bpf_fd.offset);
    expect([b.fd, oldCopy]).not.toContain(newFd);
    expect(fake.closed).toContain(newFd);
  });

  it('legacy and flags take BPF_PROG_ATTACH where links exist', () => {
    using prog = load('egress', ProgramType.CgroupSKB, AttachType.CgroupInetEgress, 'cgroup_skb/egress');
    fake.alwaysBpf(Cmd.ProgAttach, 0);
    fake.alwaysBpf(Cmd.ProgDetach, 0);
    attachCgroup(prog, { cgroup: root!, legacy: true }).close();
    attachCgroup(prog, { cgroup: root!, flags: BPF_F_ALLOW_OVERRIDE }).close();
    expect(fake.callsOf(Cmd.LinkCreate)).toHaveLength(0);
    expect(fake.callsOf(Cmd.ProgAttach).map((c) => u32(c.attr, ProgAttach.fields.attach_flags.offset))).toEqual([BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE]);
  });

  it('a hook newer than the kernel: NotSupportedError with its first version', () => {
    overrideKernelVersion('5.4.0');
    using prog = load('peer', ProgramType.CgroupSockAddr, AttachType.CgroupInet4Getpeername, 'cgroup/getpeername4');
    fake.onBpf(Cmd.LinkCreate, -Errno.EINVAL);
    fake.onBpf(Cmd.ProgAttach, -Errno.EINVAL);
    const err = caught(() => attachCgroup(prog, { cgroup: root! }));
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('5.8');
    expect((err as Error).message).toMatch(/BPF_CGROUP_INET4_GETPEERNAME/);
  });

  it('EPERM with a NONE program attached: says what is there and why it conflicts', () => {
    using prog = load('egress', ProgramType.CgroupSKB, AttachType.CgroupInetEgress, 'cgroup_skb/egress');
    fake.onBpf(Cmd.ProgAttach, -Errno.EPERM);
    fake.alwaysBpf(Cmd.ProgQuery, progQueryAnswer([42]));
    const closedBefore = fake.closed.length;
    const err = caught(() => attachCgroup(prog, { cgroup: root!, legacy: true }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toContain(
      `cgroup ${root} has program id 42 at BPF_CGROUP_INET_EGRESS, attached with no flags (NONE); BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI cannot join them`,
    );
    // The fds kept for the attachment were closed again.
    const attach = fake.callsOf(Cmd.ProgAttach)[0]!;
    // The fds kept for the attachment (the cgroup's and the program's copies) were closed again.
    expect(fake.closed).toContain(u32(attach.attr, ProgAttach.fields.target_fd.offset));
    expect(fake.closed).not.toContain(prog.fd);
    expect(fake.closed.length - closedBefore).toBe(2);
  });
});
