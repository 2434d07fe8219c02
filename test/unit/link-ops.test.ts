// Link.update, Link.detach and Link.info() of the network and cgroup link types against the
// fake kernel: the attrs BPF_LINK_UPDATE and BPF_LINK_DETACH carry, each errno explained from
// what the link reports, attachments without a bpf_link, and bpf_link_info decoded per type.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, NotSupportedError, SyscallError } from '../../src/errors.js';
import { BPF_F_REPLACE } from '../../src/internal/flags.js';
import { Link, LinkType } from '../../src/link/link.js';
import { Program } from '../../src/prog.js';
import { hostLittleEndian } from '../../src/sys/attr.js';
import type { FakeBpfCall } from '../../src/sys/backend-fake.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd, LinkDetach, LinkInfo, LinkUpdate, ObjGetInfoByFd } from '../../src/sys/layouts.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { caught, installFakeKernel, type PerfFake, uninstallFakeKernel } from './helpers/perf-fake.js';

let fake: PerfFake;
beforeEach(() => {
  fake = installFakeKernel();
});
afterEach(() => uninstallFakeKernel());

const load = (name: string, type = ProgramType.CgroupSKB): Program =>
  Program.load({ name, type, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 1), asm.exit()] });

const u32 = (bytes: Uint8Array, at: number): number => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, hostLittleEndian);
const f = LinkInfo.fields;

/**
 * Answers BPF_OBJ_GET_INFO_BY_FD as a link of `type` with id 9 running program 41; `fill`
 * writes the type's members (and any buffer the caller passed, by offset in the info struct).
 */
function linkInfoAnswer(type: LinkType, fill: (view: DataView, buffers: (offset: number) => Uint8Array | null | undefined) => number = () => 0): void {
  fake.alwaysBpf(Cmd.ObjGetInfoByFd, (call: FakeBpfCall) => {
    const info = call.pointers.get(8)!;
    const view = new DataView(info.buffer, info.byteOffset, info.byteLength);
    view.setUint32(f.type.offset, type, hostLittleEndian);
    view.setUint32(f.id.offset, 9, hostLittleEndian);
    view.setUint32(f.prog_id.offset, 41, hostLittleEndian);
    return fill(view, (offset) => call.pointers.get(ObjGetInfoByFd.size + offset));
  });
}

function fakeLink(): Link {
  return Link.adopt({ fd: fake.allocFd(), mode: 'bpf-link', what: 'test link' });
}

describe('Link.update', () => {
  it('sends BPF_LINK_UPDATE with the new program, and BPF_F_REPLACE with the old one when given', () => {
    using v1 = load('v1');
    using v2 = load('v2');
    using link = fakeLink();
    fake.alwaysBpf(Cmd.LinkUpdate, 0);
    link.update(v2);
    link.update(v1, { oldProgram: v2 });
    const [plain, checked] = fake.callsOf(Cmd.LinkUpdate).map((c) => c.attr);
    const l = LinkUpdate.fields;
    expect([u32(plain!, l.link_fd.offset), u32(plain!, l.new_prog_fd.offset), u32(plain!, l.flags.offset)]).toEqual([link.fd, v2.fd, 0]);
    // The attr ends at flags without an old program: old_prog_fd must be 0 for the kernel.
    expect(plain!.byteLength).toBe(l.flags.offset + 4);
    expect([u32(checked!, l.new_prog_fd.offset), u32(checked!, l.flags.offset), u32(checked!, l.old_prog_fd.offset)]).toEqual([v1.fd, BPF_F_REPLACE, v2.fd]);
  });

  it('EPERM with oldProgram: the link runs another program now', () => {
    using v1 = load('v1');
    using v2 = load('v2');
    using link = fakeLink();
    linkInfoAnswer(LinkType.Cgroup);
    fake.onBpf(Cmd.LinkUpdate, -Errno.EPERM);
    const err = caught(() => link.update(v2, { oldProgram: v1 })) as SyscallError;
    expect(err).toBeInstanceOf(SyscallError);
    expect(err.message).toMatch(/update link test link to program v2: BPF_LINK_UPDATE: EPERM \(the link no longer runs v1.*; the link runs program id 41: another update came first\)/);
  });

  it('EINVAL for a link type without update_prog says it cannot be updated', () => {
    using v2 = load('v2', ProgramType.Tracing);
    using link = fakeLink();
    linkInfoAnswer(LinkType.Tracing);
    fake.onBpf(Cmd.LinkUpdate, -Errno.EINVAL);
    expect((caught(() => link.update(v2)) as Error).message).toMatch(/links of this type \(Tracing\) cannot be updated: attach v2 and close this link/);
    linkInfoAnswer(LinkType.PerfEvent);
    fake.onBpf(Cmd.LinkUpdate, -Errno.EINVAL);
    expect((caught(() => link.update(v2)) as Error).message).toMatch(/links of this type \(PerfEvent\) cannot be updated/);
  });

  it('EINVAL for an updatable link names the program type rule; ENOLINK a defunct link; EOPNOTSUPP netfilter', () => {
    using v2 = load('v2', ProgramType.CgroupSock);
    using link = fakeLink();
    linkInfoAnswer(LinkType.Cgroup);
    fake.onBpf(Cmd.LinkUpdate, -Errno.EINVAL);
    expect((caught(() => link.update(v2)) as Error).message).toMatch(/v2 .*must have the program type and expected attach type .* of the link's program; the link runs program id 41/);
    fake.onBpf(Cmd.LinkUpdate, -67);
    expect((caught(() => link.update(v2)) as Error).message).toMatch(/the link is defunct/);
    linkInfoAnswer(LinkType.Netfilter);
    fake.onBpf(Cmd.LinkUpdate, -Errno.EOPNOTSUPP);
    expect((caught(() => link.update(v2)) as Error).message).toMatch(/Netfilter links cannot be updated: attach v2 with a new link/);
  });

  it('a perf event attachment (no bpf_link) cannot be updated', () => {
    using v2 = load('v2', ProgramType.Kprobe);
    using link = Link.adopt({ fd: fake.allocFd(), mode: 'perf-ioctl', what: 'kprobe x' });
    expect(caught(() => link.update(v2))).toBeInstanceOf(NotSupportedError);
    expect(fake.callsOf(Cmd.LinkUpdate)).toHaveLength(0);
  });

  it("an attachment is updated through its own update function, or refuses without one", () => {
    using v1 = load('v1');
    using v2 = load('v2');
    const seen: [string, string | undefined][] = [];
    using updatable = Link.adopt({ fd: -1, mode: 'attachment', what: 'a', update: (p, old) => void seen.push([p.name, old?.name]) });
    updatable.update(v2, { oldProgram: v1 });
    expect(seen).toEqual([['v2', 'v1']]);
    using fixed = Link.adopt({ fd: -1, mode: 'attachment', what: 'b' });
    expect((caught(() => fixed.update(v2)) as Error).message).toMatch(/update of b is not supported.*attach the new program, then close this link/);
    updatable.detach();
    expect(caught(() => updatable.update(v1))).toBeInstanceOf(ArgumentError);
  });
});

describe('Link.detach', () => {
  it('sends BPF_LINK_DETACH with the link fd and keeps the fd open', () => {
    using link = fakeLink();
    fake.onBpf(Cmd.LinkDetach, 0);
    link.detach();
    const [call] = fake.callsOf(Cmd.LinkDetach);
    expect(u32(call!.attr, LinkDetach.fields.link_fd.offset)).toBe(link.fd);
    expect(link.closed).toBe(false);
    expect(fake.closed).not.toContain(link.fd);
  });

  it('EOPNOTSUPP names the link type and what to do', () => {
    using link = fakeLink();
    linkInfoAnswer(LinkType.RawTracepoint, (view, buffer) => {
      view.setUint32(f.raw_tracepoint_tp_name_len.offset, 4, hostLittleEndian);
      buffer(f.raw_tracepoint_tp_name.offset)?.set(new TextEncoder().encode('abc\0'));
      return 0;
    });
    fake.onBpf(Cmd.LinkDetach, -Errno.EOPNOTSUPP);
    expect((caught(() => link.detach()) as Error).message).toMatch(/a RawTracepoint link cannot be detached while open .*: close\(\) it and remove its pins/);
  });

  it('before 5.9 the kernel has no BPF_LINK_DETACH: NotSupportedError naming 5.9', () => {
    overrideKernelVersion('5.8.0');
    using link = fakeLink();
    fake.onBpf(Cmd.LinkDetach, -Errno.EINVAL);
    const err = caught(() => link.detach()) as NotSupportedError;
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.minimumVersion).toBe('5.9');
  });

  it('an attachment runs its cleanup at detach, once; close() then only releases', () => {
    let runs = 0;
    const link = Link.adopt({ fd: -1, mode: 'attachment', what: 'x', cleanup: () => void runs++ });
    link.detach();
    link.detach();
    link.close();
    expect(runs).toBe(1);
  });
});

describe('Link.info of the network and cgroup link types', () => {
  const infoOf = (): ReturnType<Link['info']> => {
    using link = fakeLink();
    return link.info();
  };

  it('cgroup: id and attach type', () => {
    linkInfoAnswer(LinkType.Cgroup, (v) => {
      v.setBigUint64(f.cgroup_cgroup_id.offset, 1234n, hostLittleEndian);
      v.setUint32(f.cgroup_attach_type.offset, AttachType.CgroupInetEgress, hostLittleEndian);
      return 0;
    });
    expect(infoOf()).toEqual({ type: LinkType.Cgroup, id: 9, programId: 41, cgroup: { cgroupId: 1234n, attachType: AttachType.CgroupInetEgress } });
  });

  it('netns, netfilter, sockmap and struct_ops members', () => {
    linkInfoAnswer(LinkType.NetNs, (v) => {
      v.setUint32(f.netns_netns_ino.offset, 4026531840, hostLittleEndian);
      v.setUint32(f.netns_attach_type.offset, AttachType.SKLookup, hostLittleEndian);
      return 0;
    });
    expect(infoOf().netns).toEqual({ netnsIno: 4026531840, attachType: AttachType.SKLookup });
    linkInfoAnswer(LinkType.Netfilter, (v) => {
      v.setUint32(f.netfilter_pf.offset, 2, hostLittleEndian);
      v.setUint32(f.netfilter_hooknum.offset, 1, hostLittleEndian);
      v.setInt32(f.netfilter_priority.offset, -128, hostLittleEndian);
      v.setUint32(f.netfilter_flags.offset, 1, hostLittleEndian);
      return 0;
    });
    expect(infoOf().netfilter).toEqual({ family: 2, hook: 1, priority: -128, flags: 1 });
    linkInfoAnswer(LinkType.Sockmap, (v) => {
      v.setUint32(f.sockmap_map_id.offset, 77, hostLittleEndian);
      v.setUint32(f.sockmap_attach_type.offset, AttachType.SKMsgVerdict, hostLittleEndian);
      return 0;
    });
    expect(infoOf().sockmap).toEqual({ mapId: 77, attachType: AttachType.SKMsgVerdict });
    linkInfoAnswer(LinkType.StructOps, (v) => {
      v.setUint32(f.struct_ops_map_id.offset, 5, hostLittleEndian);
      return 0;
    });
    expect(infoOf().structOps).toEqual({ mapId: 5 });
  });

  it('xdp, tcx and netkit: the ifindex (names need sockets, which the fake kernel has not) and direction', () => {
    linkInfoAnswer(LinkType.XDP, (v) => {
      v.setUint32(f.xdp_ifindex.offset, 3, hostLittleEndian);
      return 0;
    });
    expect(infoOf().xdp).toEqual({ ifindex: 3 });
    linkInfoAnswer(LinkType.TCX, (v) => {
      v.setUint32(f.tcx_ifindex.offset, 4, hostLittleEndian);
      v.setUint32(f.tcx_attach_type.offset, AttachType.TCXEgress, hostLittleEndian);
      return 0;
    });
    expect(infoOf().tcx).toEqual({ ifindex: 4, attachType: AttachType.TCXEgress });
    linkInfoAnswer(LinkType.Netkit, (v) => {
      v.setUint32(f.netkit_ifindex.offset, 0, hostLittleEndian);
      v.setUint32(f.netkit_attach_type.offset, AttachType.NetkitPeer, hostLittleEndian);
      return 0;
    });
    // A detached link reports ifindex 0: no name is looked up for it.
    expect(infoOf().netkit).toEqual({ ifindex: 0, attachType: AttachType.NetkitPeer });
  });

  it('iter: the target name through its buffer, a map id, a task or cgroup walk', () => {
    const iterAnswer = (name: string, fill: (v: DataView) => void): void =>
      linkInfoAnswer(LinkType.Iter, (v, buffer) => {
        // The first call asks for the link type only; the second carries the name buffer.
        const buf = buffer(f.iter_target_name.offset);
        if (buf instanceof Uint8Array) {
          expect(v.getUint32(f.iter_target_name_len.offset, hostLittleEndian)).toBe(buf.length);
          buf.set(new TextEncoder().encode(`${name}\0`));
        }
        fill(v);
        return 0;
      });
    iterAnswer('bpf_map_elem', (v) => v.setUint32(f.iter_map_id.offset, 12, hostLittleEndian));
    expect(infoOf().iter).toEqual({ targetName: 'bpf_map_elem', mapId: 12 });
    iterAnswer('task', (v) => {
      v.setUint32(f.iter_task_tid.offset, 0, hostLittleEndian);
      v.setUint32(f.iter_task_pid.offset, 321, hostLittleEndian);
    });
    expect(infoOf().iter).toEqual({ targetName: 'task', tid: 0, pid: 321 });
    iterAnswer('cgroup', (v) => {
      v.setBigUint64(f.iter_cgroup_cgroup_id.offset, 99n, hostLittleEndian);
      v.setUint32(f.iter_cgroup_order.offset, 2, hostLittleEndian);
    });
    expect(infoOf().iter).toEqual({ targetName: 'cgroup', cgroupId: 99n, order: 2 });
    iterAnswer('tcp', () => {});
    expect(infoOf().iter).toEqual({ targetName: 'tcp' });
  });

  it('a struct_ops link of a kernel that reports no map (before 6.4) has no structOps member', () => {
    linkInfoAnswer(LinkType.StructOps);
    expect(infoOf()).toEqual({ type: LinkType.StructOps, id: 9, programId: 41 });
  });
});
