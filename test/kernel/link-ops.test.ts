// What can be done to an attachment after it is made, with real traffic: attachRaw
// (BPF_PROG_ATTACH) of cgroup_skb counters to a child cgroup and of tcx counters to lo in a
// test namespace; queryPrograms shows them; Link.update swaps the program (the new one counts
// the next packets, the old one stops); Link.detach stops the counting while the link stays
// open; pin / fromPin of a cgroup link; detachRaw of an attachment left behind.
//
// Counting programs add 1 to their own slot of an array map per packet. UDP datagrams are
// sent by Node processes inside the test cgroup (to a port of the test process that no one
// reads, on loopback) or inside the test namespace (to a receiver of its own).
import { closeSync, mkdirSync, openSync, rmSync, statSync, constants as fsConstants } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ArgumentError, NotSupportedError, SyscallError } from '../../src/errors.js';
import { BPF_F_ALLOW_MULTI } from '../../src/internal/flags.js';
import { inNetns } from '../../src/internal/netns.js';
import { Link, LinkType } from '../../src/link/link.js';
import { queryPrograms } from '../../src/link/query.js';
import { attachRawTracepoint } from '../../src/link/raw-tracepoint.js';
import { attachRaw, detachRaw } from '../../src/link/raw.js';
import { BpfMap } from '../../src/map.js';
import { Program } from '../../src/prog.js';
import { bpfCall } from '../../src/sys/bpf.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { LinkCreate } from '../../src/sys/layouts.js';
import { AttachType, MapType, ProgramType } from '../../src/types.js';
import { cgroupUnavailable, TestCgroup } from './helpers/cgroup.js';
import { netnsUnavailable, TestNetns } from './helpers/netns.js';

const R = asm.Register;
const root = process.getuid?.() === 0;
const cgroupSkip = root ? cgroupUnavailable() : 'needs root for bpf()';
const netnsSkip = root ? netnsUnavailable() : 'needs root for bpf()';
const tcxSkip = netnsSkip ?? (kernelVersion().atLeast('6.6') ? undefined : `tcx needs Linux 6.6; this is ${kernelVersion().toString()}`);
if (cgroupSkip !== undefined) console.warn(`skipping cgroup link operation tests: ${cgroupSkip}`);
if (tcxSkip !== undefined) console.warn(`skipping tcx link operation tests: ${tcxSkip}`);
const pinDir = `/sys/fs/bpf/ebpf-ts-link-ops-${process.pid}`;

/** Four u64 counters. */
function counters(): BpfMap {
  return BpfMap.create({ name: 'link_ops_count', type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 4 });
}

function count(map: BpfMap, slot: number): bigint {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, slot, true);
  const v = map.lookup(key) as Uint8Array;
  return Buffer.from(v).readBigUInt64LE(0);
}

/** A program of `type` that adds 1 to `slot` of `map` and returns `ret` (1: cgroup_skb allow; 0: TCX_PASS). */
function counter(type: ProgramType, map: BpfMap, slot: number, ret: number, name: string, attachType?: AttachType): Program {
  return Program.load({
    name,
    type,
    attachType,
    license: 'GPL',
    instructions: asm.assemble([
      asm.storeImm(asm.Size.W, R.R10, -4, slot),
      asm.mov64Reg(R.R2, R.R10),
      asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
      asm.loadMapPtr(R.R1, map.fd),
      asm.call(asm.Helper.MapLookupElem),
      asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'out'),
      asm.mov64Imm(R.R1, 1),
      asm.atomic(asm.AtomicOp.Add, asm.Size.DW, R.R0, 0, R.R1),
      asm.mov64Imm(R.R0, ret).withSymbol('out'),
      asm.exit(),
    ]),
  });
}

const egressCounter = (map: BpfMap, slot: number, name: string): Program => counter(ProgramType.CgroupSKB, map, slot, 1, name, AttachType.CgroupInetEgress);

/** Sends `n` UDP datagrams to 127.0.0.1:9 (discard; nothing listens, the egress hook sees each) from inside `cg`. */
function sendFrom(cg: TestCgroup, n: number): void {
  const out = cg.node(`
    import dgram from 'node:dgram';
    const s = dgram.createSocket('udp4');
    let sent = 0;
    for (let i = 0; i < ${n}; i++) await new Promise((res) => s.send(Buffer.alloc(16), 9, '127.0.0.1', (err) => { if (!err) sent++; res(); }));
    s.close();
    console.log(sent);
  `);
  expect(Number(out)).toBe(n);
}

/** Sends `n` datagrams to a receiver of its own on 127.0.0.1 inside `ns` and waits for all of them. */
function loopbackTraffic(ns: TestNetns, n: number): void {
  const out = ns.node(`
    import dgram from 'node:dgram';
    const r = dgram.createSocket('udp4');
    await new Promise((res) => r.bind(0, '127.0.0.1', res));
    let got = 0;
    const all = new Promise((res) => r.on('message', () => { if (++got === ${n}) res(); }));
    const s = dgram.createSocket('udp4');
    for (let i = 0; i < ${n}; i++) await new Promise((res) => s.send(Buffer.alloc(16), r.address().port, '127.0.0.1', res));
    await Promise.race([all, new Promise((res) => setTimeout(res, 5000))]);
    s.close(); r.close();
    console.log(got);
  `);
  expect(Number(out)).toBe(n);
}

const ids = (target: string | number, type: AttachType): number[] => queryPrograms(target, type).programs.map((p) => p.id);

describe.skipIf(cgroupSkip !== undefined)('cgroup attachments: attachRaw, queryPrograms, update, detach', () => {
  it('a BPF_F_ALLOW_MULTI attachment counts, is listed, is updated to a program that counts instead, and detaches', () => {
    using cg = TestCgroup.create();
    using map = counters();
    using v1 = egressCounter(map, 0, 'ops_v1');
    using v2 = egressCounter(map, 1, 'ops_v2');
    using link = attachRaw({ program: v1, target: cg.path, attachType: AttachType.CgroupInetEgress, flags: BPF_F_ALLOW_MULTI });
    expect(link.mode).toBe('attachment');
    expect(link.what).toBe(`cgroup_inet_egress program ops_v1 on cgroup ${cg.path}`);

    const q = queryPrograms(cg.path, AttachType.CgroupInetEgress);
    expect(q.attachFlags).toBe(BPF_F_ALLOW_MULTI);
    expect(q.programs.map((p) => p.id)).toEqual([v1.info().id]);
    // Per-program attach flags since 6.0; no link holds it.
    if (kernelVersion().atLeast('6.0')) expect(q.programs[0]).toEqual({ id: v1.info().id, attachFlags: BPF_F_ALLOW_MULTI });
    else expect(q.programs[0]).toEqual({ id: v1.info().id });

    sendFrom(cg, 5);
    expect([count(map, 0), count(map, 1)]).toEqual([5n, 0n]);

    link.update(v2, { oldProgram: v1 });
    expect(ids(cg.path, AttachType.CgroupInetEgress)).toEqual([v2.info().id]);
    sendFrom(cg, 3);
    expect([count(map, 0), count(map, 1)]).toEqual([5n, 3n]);
    // The attachment runs v2 now: an update that expects v1 is refused before any syscall.
    expect(() => link.update(v1, { oldProgram: v1 })).toThrow(ArgumentError);

    link.detach();
    expect(ids(cg.path, AttachType.CgroupInetEgress)).toEqual([]);
    sendFrom(cg, 2);
    expect([count(map, 0), count(map, 1)]).toEqual([5n, 3n]);
    link.close();
  });

  it('without flags one program holds the hook: update re-attaches, and close detaches only its own program', () => {
    using cg = TestCgroup.create();
    using map = counters();
    using v1 = egressCounter(map, 0, 'ops_v1');
    using v2 = egressCounter(map, 1, 'ops_v2');
    using v3 = egressCounter(map, 2, 'ops_v3');
    using link = attachRaw({ program: v1, target: cg.path, attachType: AttachType.CgroupInetEgress });
    expect(queryPrograms(cg.path, AttachType.CgroupInetEgress).attachFlags).toBe(0);
    link.update(v2);
    expect(ids(cg.path, AttachType.CgroupInetEgress)).toEqual([v2.info().id]);
    sendFrom(cg, 4);
    expect([count(map, 0), count(map, 1)]).toEqual([0n, 4n]);
    // Another attach replaces the one program; the link's close must leave v3 alone.
    using other = attachRaw({ program: v3, target: cg.path, attachType: AttachType.CgroupInetEgress });
    link.close();
    expect(ids(cg.path, AttachType.CgroupInetEgress)).toEqual([v3.info().id]);
    other.close();
    expect(ids(cg.path, AttachType.CgroupInetEgress)).toEqual([]);
  });

  it('attaching a program twice is explained with what is attached now; detachRaw removes an attachment by id', () => {
    using cg = TestCgroup.create();
    using map = counters();
    using v1 = egressCounter(map, 0, 'ops_v1');
    using link = attachRaw({ program: v1, target: cg.path, attachType: AttachType.CgroupInetEgress, flags: BPF_F_ALLOW_MULTI });
    let err: unknown;
    try {
      attachRaw({ program: v1, target: cg.path, attachType: AttachType.CgroupInetEgress, flags: BPF_F_ALLOW_MULTI });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as Error).message).toMatch(new RegExp(`EINVAL \\(program ops_v1 is attached there already .*attached now \\(flags BPF_F_ALLOW_MULTI\\): program ${v1.info().id} \\(ops_v1\\)`));
    // Other flags than the hook's: EPERM, explained.
    using v2 = egressCounter(map, 1, 'ops_v2');
    expect(() => attachRaw({ program: v2, target: cg.path, attachType: AttachType.CgroupInetEgress })).toThrow(/EPERM \(cgroup_inet_egress of cgroup .* has programs attached with other flags than 0/);
    // As another process would: by id, without the Link.
    detachRaw({ target: cg.path, attachType: AttachType.CgroupInetEgress, program: v1.info().id });
    expect(ids(cg.path, AttachType.CgroupInetEgress)).toEqual([]);
    expect(() => detachRaw({ target: cg.path, attachType: AttachType.CgroupInetEgress, program: v1 })).toThrow(/ENOENT \(program ops_v1 is not attached there without a link .*nothing is attached there now/);
    link.close(); // already gone: not an error
  });

  it('a wrong program type or a missing cgroup fails before any attach', () => {
    using map = counters();
    using sock = counter(ProgramType.CgroupSock, map, 0, 1, 'ops_sock', AttachType.CgroupInetSockCreate);
    using cg = TestCgroup.create();
    expect(() => attachRaw({ program: sock, target: cg.path, attachType: AttachType.CgroupInetEgress })).toThrow(/cgroup_inet_egress runs CGROUP_SKB programs; program ops_sock is CGROUP_SOCK/);
    using v1 = egressCounter(map, 0, 'ops_v1');
    expect(() => attachRaw({ program: v1, target: `${cg.path}/nope`, attachType: AttachType.CgroupInetEgress })).toThrow(/no cgroup/);
  });

  describe('cgroup links (BPF_LINK_CREATE)', () => {
    beforeAll(() => mkdirSync(pinDir, { recursive: true }));
    afterAll(() => rmSync(pinDir, { recursive: true, force: true }));

    /** A cgroup link made directly, as attachCgroup makes them. */
    function cgroupLink(prog: Program, cg: TestCgroup): Link {
      const cgFd = openSync(cg.path, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
      try {
        const linkFd = bpfCall(LinkCreate, { prog_fd: prog.fd, target_fd: cgFd, attach_type: AttachType.CgroupInetEgress, flags: 0 });
        return Link.adopt({ fd: linkFd, mode: 'bpf-link', what: `cgroup link of ${prog.name}` });
      } finally {
        closeSync(cgFd);
      }
    }

    it('update swaps the program atomically, info reports the cgroup, detach stops it while the fd stays, a pin outlives the fd', () => {
      using cg = TestCgroup.create();
      using map = counters();
      using v1 = egressCounter(map, 0, 'ops_v1');
      using v2 = egressCounter(map, 1, 'ops_v2');
      const link = cgroupLink(v1, cg);
      try {
        const info = link.info();
        expect(info.type).toBe(LinkType.Cgroup);
        expect(info.cgroup).toEqual({ cgroupId: statSync(cg.path, { bigint: true }).ino, attachType: AttachType.CgroupInetEgress });
        expect(info.programId).toBe(v1.info().id);

        // A link is listed by BPF_PROG_QUERY too, with its id from 6.6.
        const q = queryPrograms(cg.path, AttachType.CgroupInetEgress);
        expect(q.programs.map((p) => p.id)).toEqual([v1.info().id]);

        sendFrom(cg, 2);
        link.update(v2, { oldProgram: v1 });
        expect(link.info().programId).toBe(v2.info().id);
        sendFrom(cg, 3);
        expect([count(map, 0), count(map, 1)]).toEqual([2n, 3n]);
        // v1 is no longer the link's program: BPF_F_REPLACE refuses, explained.
        expect(() => link.update(v1, { oldProgram: v1 })).toThrow(new RegExp(`EPERM \\(the link no longer runs ops_v1 .*the link runs program id ${v2.info().id}`));

        // Pinned, the link survives closing every fd; fromPin opens it again.
        const pin = `${pinDir}/cgroup_link`;
        link.pin(pin);
        link.close();
        const again = Link.fromPin(pin);
        try {
          expect(again.info()).toMatchObject({ type: LinkType.Cgroup, id: info.id, programId: v2.info().id });
          sendFrom(cg, 1);
          expect(count(map, 1)).toBe(4n);
          // LINK_DETACH (5.9): the pinned link stays, the program stops.
          again.detach();
          expect(again.info().cgroup).toEqual({ cgroupId: 0n, attachType: AttachType.CgroupInetEgress });
          expect(ids(cg.path, AttachType.CgroupInetEgress)).toEqual([]);
          sendFrom(cg, 2);
          expect(count(map, 1)).toBe(4n);
          expect(() => again.update(v1)).toThrow(/the link is defunct/);
        } finally {
          again.unpin(pin);
          again.close();
        }
      } finally {
        link.close();
      }
    });

  });
});

describe.skipIf(!root)('links that cannot be updated or detached', () => {
  it('a raw tracepoint link says so for update and for detach', () => {
    const load = (name: string): Program => Program.load({ name, type: ProgramType.RawTracepoint, license: 'GPL', instructions: [asm.mov64Imm(R.R0, 0), asm.exit()] });
    using a = load('ops_rawtp_a');
    using b = load('ops_rawtp_b');
    using link = attachRawTracepoint(a, 'sys_enter');
    expect(() => link.update(b)).toThrow(/EINVAL \(links of this type \(RawTracepoint\) cannot be updated: attach ops_rawtp_b and close this link\)/);
    if (kernelVersion().atLeast('5.9')) {
      expect(() => link.detach()).toThrow(/EOPNOTSUPP \(a RawTracepoint link cannot be detached while open/);
    } else {
      expect(() => link.detach()).toThrow(NotSupportedError);
    }
    expect(link.info().programId).toBe(a.info().id);
  });
});

describe.skipIf(tcxSkip !== undefined)('tcx attachments (BPF_PROG_ATTACH by ifindex) on lo of a test namespace', () => {
  // TCX_NEXT: the next program runs too.
  const TCX_NEXT = -1;

  it('anchors order programs, the query has ids and the revision, update swaps, detach and close detach in the namespace', () => {
    using ns = TestNetns.create();
    using map = counters();
    using a = counter(ProgramType.SchedCls, map, 0, TCX_NEXT, 'ops_tcx_a');
    using b = counter(ProgramType.SchedCls, map, 1, TCX_NEXT, 'ops_tcx_b');
    using c = counter(ProgramType.SchedCls, map, 2, TCX_NEXT, 'ops_tcx_c');
    const inNs = <T>(fn: () => T): T => inNetns(ns.path, fn);
    const query = (): ReturnType<typeof queryPrograms> => inNs(() => queryPrograms('lo', AttachType.TCXIngress));

    const linkA = inNs(() => attachRaw({ program: a, target: 'lo', attachType: AttachType.TCXIngress }));
    try {
      const first = query();
      expect(first.programs).toEqual([{ id: a.info().id, attachFlags: 0 }]);
      expect(first.revision).toBeGreaterThan(0n);
      // A revision that is no longer current: ESTALE, explained with the current one.
      expect(() => inNs(() => attachRaw({ program: b, target: 'lo', attachType: AttachType.TCXIngress, expectedRevision: first.revision! + 5n }))).toThrow(/ESTALE/);
      const linkB = inNs(() => attachRaw({ program: b, target: 'lo', attachType: AttachType.TCXIngress, before: a, expectedRevision: first.revision }));
      try {
        const second = query();
        expect(second.programs.map((p) => p.id)).toEqual([b.info().id, a.info().id]);
        expect(second.revision).toBeGreaterThan(first.revision!);
        loopbackTraffic(ns, 4);
        expect([count(map, 0), count(map, 1), count(map, 2)]).toEqual([4n, 4n, 0n]);

        linkB.update(c, { oldProgram: b });
        expect(query().programs.map((p) => p.id)).toEqual([c.info().id, a.info().id]);
        loopbackTraffic(ns, 2);
        expect([count(map, 0), count(map, 1), count(map, 2)]).toEqual([6n, 4n, 2n]);

        // Outside the namespace: the attachment detaches from lo of its own namespace.
        linkA.detach();
        expect(query().programs.map((p) => p.id)).toEqual([c.info().id]);
        loopbackTraffic(ns, 1);
        expect([count(map, 0), count(map, 2)]).toEqual([6n, 3n]);
      } finally {
        linkB.close();
      }
      expect(query().programs).toEqual([]);
    } finally {
      linkA.close();
    }
  });
});
