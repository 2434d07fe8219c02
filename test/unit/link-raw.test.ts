// attachRaw and detachRaw against the fake kernel: the BPF_PROG_ATTACH and BPF_PROG_DETACH
// attrs they send, the fds an attachment keeps (copies of its own, closed on close), update,
// and the checks made before any syscall. Targets here need no privileges: a network
// namespace file and map fds.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError } from '../../src/errors.js';
import { BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE, BPF_F_BEFORE } from '../../src/internal/flags.js';
import { attachRaw, detachRaw } from '../../src/link/raw.js';
import { Program } from '../../src/prog.js';
import { hostLittleEndian } from '../../src/sys/attr.js';
import { Errno } from '../../src/sys/errno.js';
import { Cmd, ProgAttach, ProgDetach } from '../../src/sys/layouts.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';

let fake: PerfFake;
beforeEach(() => {
  fake = installFakeKernel();
});
afterEach(() => uninstallFakeKernel());

const load = (name: string, type: ProgramType): Program =>
  Program.load({ name, type, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const u32 = (b: Uint8Array, at: number): number => view(b).getUint32(at, hostLittleEndian);
const A = ProgAttach.fields;
const D = ProgDetach.fields;

describe('attachRaw', () => {
  it('sends BPF_PROG_ATTACH with copies of its own of the target and program fds, and detaches exactly that program on close', () => {
    using prog = load('verdict', ProgramType.SKSKB);
    const mapFd = fake.allocFd();
    fake.alwaysBpf(Cmd.ProgAttach, 0);
    fake.alwaysBpf(Cmd.ProgDetach, 0);
    const link = attachRaw({ program: prog, target: { fd: mapFd }, attachType: AttachType.SKSKBStreamVerdict });
    expect(link.mode).toBe('attachment');
    expect(link.fd).toBe(-1);
    expect(link.what).toBe(`sk_skb_stream_verdict program verdict on map fd ${mapFd}`);
    const [attach] = fake.callsOf(Cmd.ProgAttach);
    const targetCopy = u32(attach!.attr, A.target_fd.offset);
    expect(targetCopy).not.toBe(mapFd);
    expect([u32(attach!.attr, A.attach_bpf_fd.offset), u32(attach!.attr, A.attach_type.offset), u32(attach!.attr, A.attach_flags.offset)]).toEqual([
      prog.fd,
      AttachType.SKSKBStreamVerdict,
      0,
    ]);
    // Without anchors or replace the attr stops at attach_flags: kernels before 5.6 read no more.
    expect(attach!.attr.byteLength).toBe(A.attach_flags.offset + 4);
    link.close();
    const [detach] = fake.callsOf(Cmd.ProgDetach);
    const progCopy = u32(detach!.attr, D.attach_bpf_fd.offset);
    expect([u32(detach!.attr, D.target_fd.offset), u32(detach!.attr, D.attach_type.offset)]).toEqual([targetCopy, AttachType.SKSKBStreamVerdict]);
    expect(progCopy).not.toBe(prog.fd);
    expect(fake.closed).toEqual(expect.arrayContaining([targetCopy, progCopy]));
    expect(fake.closed).not.toContain(mapFd);
    expect(fake.closed).not.toContain(prog.fd);
  });

  it('a failed attach closes the copies it made', () => {
    using prog = load('verdict', ProgramType.SKMsg);
    fake.onBpf(Cmd.ProgAttach, -Errno.EBUSY);
    const closedBefore = fake.closed.length;
    const err = caught(() => attachRaw({ program: prog, target: 77, attachType: AttachType.SKMsgVerdict })) as Error;
    expect(err.message).toMatch(/attach verdict to sk_msg_verdict of map fd 77: BPF_PROG_ATTACH: EBUSY \(.*held by a BPF link/);
    expect(fake.closed.length - closedBefore).toBe(2);
  });

  it('a network namespace is opened by path (and closed again with the attachment)', () => {
    using prog = load('dissect', ProgramType.FlowDissector);
    fake.alwaysBpf(Cmd.ProgAttach, 0);
    fake.alwaysBpf(Cmd.ProgDetach, 0);
    const link = attachRaw({ program: prog, target: '/proc/self/ns/net', attachType: AttachType.FlowDissector });
    expect(link.what).toBe('flow_dissector program dissect on network namespace /proc/self/ns/net');
    // netns_bpf_prog_attach() acts on the caller's namespace and wants target_fd 0.
    const [attach] = fake.callsOf(Cmd.ProgAttach);
    expect(u32(attach!.attr, A.target_fd.offset)).toBe(0);
    link.close();
    const [detach] = fake.callsOf(Cmd.ProgDetach);
    expect(u32(detach!.attr, D.target_fd.offset)).toBe(0);
  });

  it('update re-attaches where the hook holds one program, and close then detaches the new one', () => {
    using v1 = load('v1', ProgramType.SKSKB);
    using v2 = load('v2', ProgramType.SKSKB);
    fake.alwaysBpf(Cmd.ProgAttach, 0);
    fake.alwaysBpf(Cmd.ProgDetach, 0);
    const link = attachRaw({ program: v1, target: 5, attachType: AttachType.SKSKBVerdict });
    link.update(v2);
    const [, again] = fake.callsOf(Cmd.ProgAttach);
    expect([u32(again!.attr, A.attach_bpf_fd.offset), u32(again!.attr, A.attach_flags.offset)]).toEqual([v2.fd, 0]);
    link.close();
    const [detach] = fake.callsOf(Cmd.ProgDetach);
    // The copy closed at update is v1's; the detach names the copy of v2, still open.
    const detached = u32(detach!.attr, D.attach_bpf_fd.offset);
    expect(fake.closed.filter((fd) => fd === detached)).toHaveLength(1);
  });

  it('checks the program, the hook, flags and anchors before any syscall', () => {
    using skb = load('skb', ProgramType.CgroupSKB);
    using sk = load('sk', ProgramType.SKSKB);
    using xdp = load('x', ProgramType.XDP);
    const bad = (o: Parameters<typeof attachRaw>[0]): string => {
      const err = caught(() => attachRaw(o));
      expect(err).toBeInstanceOf(ArgumentError);
      return (err as Error).message;
    };
    expect(bad({ program: skb, target: 3, attachType: AttachType.SKSKBVerdict })).toMatch(/sk_skb_verdict runs SK_SKB programs; program skb is CGROUP_SKB/);
    expect(bad({ program: xdp, target: 'lo', attachType: AttachType.XDP })).toMatch(/xdp is not attached through BPF_PROG_ATTACH: attach XDP programs with attachXDP/);
    expect(bad({ program: sk, target: 3, attachType: AttachType.SKSKBVerdict, flags: BPF_F_BEFORE })).toMatch(/give anchors as before\/after/);
    expect(bad({ program: skb, target: 3, attachType: AttachType.CgroupInetEgress, flags: BPF_F_ALLOW_MULTI | BPF_F_ALLOW_OVERRIDE })).toMatch(/exclude each other/);
    expect(bad({ program: skb, target: 3, attachType: AttachType.CgroupInetEgress, replace: skb })).toMatch(/replace needs BPF_F_ALLOW_MULTI/);
    expect(bad({ program: sk, target: 3, attachType: AttachType.SKSKBVerdict, replace: sk })).toMatch(/replace is for cgroup, tcx and netkit hooks/);
    expect(bad({ program: sk, target: 3, attachType: AttachType.SKSKBVerdict, before: 'all' })).toMatch(/place programs at tcx, netkit and \(6.16\) cgroup hooks/);
    expect(bad({ program: sk, target: 3, attachType: AttachType.SKSKBVerdict, flags: 1.5 })).toMatch(/32-bit unsigned integer/);
    expect(fake.callsOf(Cmd.ProgAttach)).toHaveLength(0);
  });
});

describe('detachRaw', () => {
  it('opens a program by id, detaches it and closes the fd', () => {
    const progFd = fake.allocFd();
    fake.onBpf(Cmd.ProgGetFdById, progFd);
    fake.onBpf(Cmd.ProgDetach, 0);
    detachRaw({ target: 9, attachType: AttachType.SKMsgVerdict, program: 41 });
    const [d] = fake.callsOf(Cmd.ProgDetach);
    expect([u32(d!.attr, D.target_fd.offset), u32(d!.attr, D.attach_bpf_fd.offset), u32(d!.attr, D.attach_type.offset)]).toEqual([9, progFd, AttachType.SKMsgVerdict]);
    expect(fake.closed).toContain(progFd);
    expect(caught(() => detachRaw({ target: 9, attachType: AttachType.SKMsgVerdict }))).toBeInstanceOf(ArgumentError);
  });
});
