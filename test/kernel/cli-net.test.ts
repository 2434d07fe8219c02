// The CLI's listings of network and cgroup attachments against real ones: `net` in a test
// namespace (XDP on lo, tcx with and without a link on 6.6+), `cgroup tree` / `cgroup show`
// of a test cgroup (BPF_PROG_ATTACH and a cgroup link, inherited programs with --effective),
// `link list` naming the cgroup's directory and the interface. Where bpftool is installed,
// the same attachments are compared with `bpftool -j net show`, `cgroup show` and `link show`.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, statSync, constants as fsConstants } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { BPF_F_ALLOW_MULTI, XDP_FLAGS_SKB_MODE } from '../../src/internal/flags.js';
import { interfaceIndex } from '../../src/internal/netdev.js';
import { inNetns } from '../../src/internal/netns.js';
import { Link } from '../../src/link/link.js';
import { attachRaw } from '../../src/link/raw.js';
import { attachTc } from '../../src/link/tc.js';
import { attachXDP } from '../../src/link/xdp.js';
import { Program } from '../../src/prog.js';
import { bpfCall } from '../../src/sys/bpf.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { LinkCreate } from '../../src/sys/layouts.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { cli, cliJson } from '../helpers/cli.js';
import { findTool, missingToolReason } from '../helpers/tools.js';
import { cgroupUnavailable, TestCgroup } from './helpers/cgroup.js';
import { netnsUnavailable, TestNetns } from './helpers/netns.js';

const root = process.getuid?.() === 0;
const netSkip = root ? netnsUnavailable() : 'needs root for bpf()';
const cgroupSkip = root ? cgroupUnavailable() : 'needs root for bpf()';
const hasTcx = kernelVersion().atLeast('6.6');
const bpftool = findTool('bpftool');
const withBpftool = bpftool === undefined ? ` (skipped: ${missingToolReason('bpftool')})` : '';
if (netSkip !== undefined) console.warn(`skipping CLI net tests: ${netSkip}`);
if (cgroupSkip !== undefined) console.warn(`skipping CLI cgroup tests: ${cgroupSkip}`);

function trivial(type: ProgramType, name: string, ret: number, attachType?: AttachType): Program {
  return Program.load({ name, type, attachType, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, ret), asm.exit()] });
}

/** A bpf_link made directly with BPF_LINK_CREATE (as attachCgroup and attachTcx make them). */
function rawLink(prog: Program, targetFd: number, attachType: AttachType, what: string): Link {
  const fd = bpfCall(LinkCreate, { prog_fd: prog.fd, target_fd: targetFd, attach_type: attachType, flags: 0 });
  return Link.adopt({ fd, mode: 'bpf-link', what });
}

/** `bpftool -j ARGS` inside `ns` (or here). */
function tool(args: string[], ns?: TestNetns): any {
  const out = ns === undefined ? execFileSync(bpftool!, ['-j', ...args], { encoding: 'utf8' }) : ns.exec(bpftool!, '-j', ...args);
  return JSON.parse(out);
}

describe.skipIf(netSkip !== undefined)('ebpf-ts net', () => {
  /**
   * lo of a fresh namespace with a generic XDP program and a cls_bpf filter at ingress, and on
   * 6.6+ a tcx program without a link (ingress) and one with (egress).
   */
  function setUp(): { ns: TestNetns; xdp: Program; tc: Program; tcxIn: Program; tcxOut: Program; links: Link[]; [Symbol.dispose](): void } {
    const ns = TestNetns.create();
    const xdp = trivial(ProgramType.XDP, 'net_xdp', 2);
    const tc = trivial(ProgramType.SchedCls, 'net_tc', 0);
    const tcxIn = trivial(ProgramType.SchedCls, 'net_tcx_in', 0);
    const tcxOut = trivial(ProgramType.SchedCls, 'net_tcx_out', 0, AttachType.TCXEgress);
    const links: Link[] = [];
    inNetns(ns.path, () => {
      links.push(attachXDP(xdp, { interface: 'lo', flags: XDP_FLAGS_SKB_MODE }));
      links.push(attachTc(tc, { interface: 'lo', direction: 'ingress', priority: 7, handle: 3 }));
      if (hasTcx) {
        links.push(attachRaw({ program: tcxIn, target: 'lo', attachType: AttachType.TCXIngress }));
        links.push(rawLink(tcxOut, 1, AttachType.TCXEgress, 'tcx egress of lo'));
      }
    });
    return {
      ns,
      xdp,
      tc,
      tcxIn,
      tcxOut,
      links,
      [Symbol.dispose]() {
        for (const l of links) l.close();
        for (const p of [xdp, tc, tcxIn, tcxOut]) p.close();
        ns.close();
      },
    };
  }

  it('lists XDP, tcx with and without a link on lo of another namespace (--netns), and that interface alone', async () => {
    using s = setUp();
    const records = await cliJson<any[]>(['net', '--netns', s.ns.path]);
    const lo = records.filter((r) => r.interface === 'lo');
    expect(lo).toContainEqual({ interface: 'lo', ifindex: 1, hook: 'xdp', where: 'generic', progId: s.xdp.info().id, progName: 'net_xdp', linkId: s.links[0]!.mode === 'bpf-link' ? s.links[0]!.info().id : null });
    expect(lo).toContainEqual({ interface: 'lo', ifindex: 1, hook: 'tc', where: 'ingress prio 7 handle 0x3 direct-action', progId: s.tc.info().id, progName: 'net_tc', linkId: null });
    if (hasTcx) {
      expect(lo).toContainEqual({ interface: 'lo', ifindex: 1, hook: 'tcx', where: 'ingress', progId: s.tcxIn.info().id, progName: 'net_tcx_in', linkId: null });
      expect(lo).toContainEqual({ interface: 'lo', ifindex: 1, hook: 'tcx', where: 'egress', progId: s.tcxOut.info().id, progName: 'net_tcx_out', linkId: s.links[3]!.info().id });
    }
    expect(lo).toHaveLength(hasTcx ? 4 : 2);
    expect(Object.keys(lo[0]!)).toEqual(['interface', 'ifindex', 'hook', 'where', 'progId', 'progName', 'linkId']);

    // The table, for that interface only (by name or index).
    const text = await cli(['net', 'lo', '--netns', s.ns.path]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^lo\\(1\\)\\s+xdp\\s+generic\\s+${s.xdp.info().id}\\s+net_xdp\\s`, 'm'));
    if (hasTcx) expect(text.stdout).toMatch(new RegExp(`^lo\\(1\\)\\s+tcx\\s+ingress\\s+${s.tcxIn.info().id}\\s+net_tcx_in\\s+-$`, 'm'));
    expect((await cliJson<any[]>(['net', '1', '--netns', s.ns.path])).length).toBe(hasTcx ? 4 : 2);

    // Not in this process's namespace: lo here has none of them.
    const here = await cliJson<any[]>(['net', 'lo']);
    expect(here.map((r) => r.progId)).not.toContain(s.xdp.info().id);

    const missing = await cli(['net', 'nosuchdev0', '--netns', s.ns.path]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/network interface nosuchdev0 does not exist .*this network namespace has lo/);
  });

  it.skipIf(bpftool === undefined)(`agrees with bpftool net show on XDP and tc${withBpftool}`, async () => {
    using s = setUp();
    const ours = await cliJson<any[]>(['net', '--netns', s.ns.path]);
    const [theirs] = tool(['net', 'show'], s.ns);
    const xdp = ours.filter((r) => r.hook === 'xdp');
    expect(xdp.map((r) => ({ devname: r.interface, ifindex: r.ifindex, mode: r.where, id: r.progId }))).toEqual(theirs.xdp);
    // bpftool 7.1 lists cls_bpf filters under tc (tcx only from 7.3): compare those.
    const tc = ours.filter((r) => r.hook === 'tc');
    const theirTc = theirs.tc.filter((t: any) => t.kind === 'clsact/ingress' || t.kind === 'clsact/egress');
    expect(tc.map((r) => ({ devname: r.interface, ifindex: r.ifindex, kind: `clsact/${r.where.split(' ')[0]}`, id: r.progId }))).toEqual(
      theirTc.map((t: any) => ({ devname: t.devname, ifindex: t.ifindex, kind: t.kind, id: t.id })),
    );
  });
});

describe.skipIf(cgroupSkip !== undefined)('ebpf-ts cgroup tree / cgroup show / link list', () => {
  /** A test cgroup with a BPF_PROG_ATTACH program and a cgroup link at egress, and a child with an ingress program. */
  function setUp(): { cg: TestCgroup; child: TestCgroup; attached: Program; linked: Program; inChild: Program; link: Link; [Symbol.dispose](): void } {
    const cg = TestCgroup.create();
    const child = cg.child('leaf');
    const attached = trivial(ProgramType.CgroupSKB, 'cg_attached', 1, AttachType.CgroupInetEgress);
    const linked = trivial(ProgramType.CgroupSKB, 'cg_linked', 1, AttachType.CgroupInetEgress);
    const inChild = trivial(ProgramType.CgroupSKB, 'cg_child_in', 1, AttachType.CgroupInetIngress);
    const raw = attachRaw({ program: attached, target: cg.path, attachType: AttachType.CgroupInetEgress, flags: BPF_F_ALLOW_MULTI });
    const childRaw = attachRaw({ program: inChild, target: child.path, attachType: AttachType.CgroupInetIngress });
    const dir = openSync(cg.path, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    let link: Link;
    try {
      link = rawLink(linked, dir, AttachType.CgroupInetEgress, 'cgroup link');
    } finally {
      closeSync(dir);
    }
    return {
      cg,
      child,
      attached,
      linked,
      inChild,
      link,
      [Symbol.dispose]() {
        link.close();
        raw.close();
        childRaw.close();
        for (const p of [attached, linked, inChild]) p.close();
        cg.close();
      },
    };
  }

  it('cgroup tree lists both cgroups with hooks, flags, names and the link; --effective adds what the child inherits', async () => {
    using s = setUp();
    const rows = await cliJson<any[]>(['cgroup', 'tree', s.cg.path]);
    expect(rows).toEqual([
      { cgroup: s.cg.path, id: s.attached.info().id, attachType: 'cgroup_inet_egress', attachFlags: 'multi', name: 'cg_attached', linkId: null },
      { cgroup: s.cg.path, id: s.linked.info().id, attachType: 'cgroup_inet_egress', attachFlags: 'multi', name: 'cg_linked', linkId: s.link.info().id },
      { cgroup: s.child.path, id: s.inChild.info().id, attachType: 'cgroup_inet_ingress', attachFlags: 'none', name: 'cg_child_in', linkId: null },
    ]);
    const effective = await cliJson<any[]>(['cgroup', 'show', s.child.path, '--effective']);
    expect(effective.map((r) => [r.attachType, r.id]).sort()).toEqual(
      [
        ['cgroup_inet_egress', s.attached.info().id],
        ['cgroup_inet_egress', s.linked.info().id],
        ['cgroup_inet_ingress', s.inChild.info().id],
      ].sort(),
    );
    const text = await cli(['cgroup', 'show', s.cg.path]);
    expect(text.stdout).toMatch(new RegExp(`^${s.cg.path}\\s+${s.linked.info().id}\\s+cgroup_inet_egress\\s+multi\\s+cg_linked\\s+${s.link.info().id}$`, 'm'));
    // A path relative to the v2 root names the same cgroup.
    const rel = s.cg.path.split('/').pop()!;
    expect((await cliJson<any[]>(['cgroup', 'show', rel])).length).toBe(2);
    const missing = await cli(['cgroup', 'show', `${s.cg.path}/nope`]);
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr).toMatch(/no cgroup .*nope/);
  });

  it('link list names the cgroup link by its directory, hook and program', async () => {
    using s = setUp();
    const id = s.link.info().id;
    const [rec] = await cliJson<any[]>(['link', 'list', String(id)]);
    expect(rec).toMatchObject({
      id,
      type: 'CGROUP',
      progId: s.linked.info().id,
      progName: 'cg_linked',
      progType: 'CGROUP_SKB',
      attached: `cgroup ${s.cg.path} cgroup_inet_egress`,
      details: { cgroup: { cgroupId: String(statSync(s.cg.path, { bigint: true }).ino), attachType: AttachType.CgroupInetEgress } },
    });
    expect(rec.pids).toContainEqual(expect.objectContaining({ pid: process.pid }));
  });

  it.skipIf(bpftool === undefined)(`agrees with bpftool cgroup show and link show${withBpftool}`, async () => {
    using s = setUp();
    const ours = await cliJson<any[]>(['cgroup', 'show', s.cg.path]);
    const theirs = tool(['cgroup', 'show', s.cg.path]);
    expect(ours.map((r) => ({ id: r.id, attach_type: r.attachType, attach_flags: r.attachFlags === 'none' ? '' : r.attachFlags, name: r.name }))).toEqual(
      theirs.map((t: any) => ({ id: t.id, attach_type: t.attach_type, attach_flags: t.attach_flags, name: t.name })),
    );
    const id = s.link.info().id;
    const [rec] = await cliJson<any[]>(['link', 'list', String(id)]);
    const link = tool(['link', 'show', 'id', String(id)]);
    expect({ id: rec.id, type: rec.type.toLowerCase(), prog_id: rec.progId, cgroup_id: Number(rec.details.cgroup.cgroupId) }).toEqual({
      id: link.id,
      type: link.type,
      prog_id: link.prog_id,
      cgroup_id: link.cgroup_id,
    });
  });
});

describe.skipIf(netSkip !== undefined || !hasTcx)('link list of a tcx link', () => {
  it('names the interface (in this namespace) and the direction', async () => {
    using ns = TestNetns.create();
    ns.ip('link', 'add', 'clitcx0', 'type', 'veth', 'peer', 'name', 'clitcx1');
    using prog = trivial(ProgramType.SchedCls, 'net_tcx_link', 0, AttachType.TCXIngress);
    // The link lives in the test namespace; interface names are resolved in the namespace of
    // the thread: info() runs there, the CLI is told with --netns.
    const link = inNetns(ns.path, () => rawLink(prog, interfaceIndex('clitcx0'), AttachType.TCXIngress, 'tcx link'));
    try {
      const id = link.info().id;
      const ifindex = inNetns(ns.path, () => interfaceIndex('clitcx0'));
      expect(inNetns(ns.path, () => link.info().tcx)).toEqual({ ifindex, interface: 'clitcx0', attachType: AttachType.TCXIngress });
      const [rec] = await cliJson<any[]>(['link', 'list', String(id), '--netns', ns.path]);
      expect(rec.attached).toBe(`tcx clitcx0 (ifindex ${ifindex}) ingress`);
      expect(rec.details).toEqual({ tcx: { ifindex, interface: 'clitcx0', attachType: AttachType.TCXIngress } });
      // From this namespace the index is not an interface running the program.
      const [outside] = await cliJson<any[]>(['link', 'list', String(id)]);
      expect(outside.attached).toBe(`tcx ifindex ${ifindex} (another network namespace) ingress`);
    } finally {
      link.close();
    }
  });
});
