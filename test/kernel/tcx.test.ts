// tcx with real traffic (testdata/tcx.bpf.c): two test namespaces joined by a veth pair,
// 10.210.1.1 (va, namespace A) and 10.210.1.2 (vb, namespace B). UDP datagrams sent from a
// Node process inside A are counted by programs on A's egress and B's ingress, dropped on A's
// egress, and marked by several programs on one hook to show the order the anchors gave them.
// Programs are attached from this process inside the namespaces with inNetns(); links are
// closed from outside them. Each test closes what it attached; the namespaces die with the
// test process whatever happens.
//
// tcx needs Linux 6.6: on the test:vm kernels 5.10 and 6.1 only the feature checks run (a "not
// supported" naming 6.6 and attachTc); 6.12 and the host run everything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, AttachTargetError, NotSupportedError, SyscallError } from '../../src/errors.js';
import { interfaceIndex } from '../../src/internal/netdev.js';
import { inNetns } from '../../src/internal/netns.js';
import { LinkType, listLinks, type Link } from '../../src/link/link.js';
import { queryMprog, type MprogState } from '../../src/link/mprog.js';
import { attachTcx, tcxFeature, type TcxOptions } from '../../src/link/tcx.js';
import { Program } from '../../src/prog.js';
import { Errno } from '../../src/sys/errno.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { expectVersionedFeature } from './helpers/kernel-features.js';
import { netnsUnavailable, sendUdp, TestNetns, vethPair } from './helpers/netns.js';
import { closeAfterEach, settle, u64 } from './helpers/per-test.js';

/** A link's target as listLinks() reports it: the interface index and the hook. */
const listedOn = (id: number, kind: 'tcx'): { ifindex?: number; attachType?: number } => {
  const on = listLinks().find((l) => l.id === id)?.[kind];
  return { ifindex: on?.ifindex, attachType: on?.attachType };
};

const object = new URL('../../testdata/tcx.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const noRoot = root ? undefined : 'needs root for bpf() and network namespaces';
const hasTcx = kernelVersion().atLeast('6.6');
const skip = noRoot ?? netnsUnavailable() ?? (hasTcx ? undefined : `tcx needs Linux 6.6; this kernel is ${kernelVersion()} (the feature checks run)`);
if (skip !== undefined) console.warn(`skipping tcx traffic tests: ${skip}`);

const A_ADDR = '10.210.1.1';
const B_ADDR = '10.210.1.2';
const COUNT_PORT = 7101;
const DROP_PORT = 7102;
const ORDER_PORT = 7103;

let spec: CollectionSpec;
let a: TestNetns;
let b: TestNetns;

const track = closeAfterEach();

beforeAll(async () => {
  if (skip !== undefined) return;
  spec = await loadCollectionSpec(object);
  a = TestNetns.create();
  b = TestNetns.create();
  vethPair(a, 'va', A_ADDR, b, 'vb', B_ADDR);
});

afterAll(() => {
  a?.close();
  b?.close();
});

async function load(constants: { count_port?: number; drop_port?: number; order_port?: number } = {}): Promise<Collection> {
  return track(await loadCollection(spec.copy(), { constants: { count_port: 0, drop_port: 0, order_port: 0, ...constants } }));
}

/** attachTcx inside namespace `ns`, tracked. */
function attachIn(ns: TestNetns, prog: Program, options: TcxOptions): Link {
  return track(inNetns(ns.path, () => attachTcx(prog, options)));
}

function hookState(ns: TestNetns, iface: string, attachType: AttachType): MprogState {
  const s = inNetns(ns.path, () => queryMprog(interfaceIndex(iface), attachType));
  if (s === undefined) throw new Error(`BPF_PROG_QUERY of ${attachType} failed`);
  return s;
}

/** A program's kernel id. */
const idOf = (p: Program): number => p.info().id;

describe('tcxFeature', () => {
  it.skipIf(noRoot)('is supported from Linux 6.6 on, and names 6.6 before', () => {
    expectVersionedFeature(tcxFeature.check(), '6.6', 'CONFIG_NET_XGRESS');
  });

  it.skipIf(noRoot !== undefined || hasTcx)('before 6.6 attachTcx throws NotSupportedError naming 6.6 and attachTc', () => {
    using prog = Program.load({ name: 'tcx_old', type: ProgramType.SchedCls, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, -1), asm.exit()] });
    const err = (() => {
      try {
        attachTcx(prog, { interface: 'lo', direction: 'ingress' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.6');
    expect((err as Error).message).toMatch(/requires Linux 6\.6/);
    expect((err as Error).message).toMatch(/attachTc/);
  });
});

describe.skipIf(skip)('attachTcx with traffic between two namespaces', () => {
  it('counts exactly the datagrams B receives on ingress, and stops when the link closes', async () => {
    const coll = await load({ count_port: COUNT_PORT });
    // The section (tcx/ingress) gives the direction.
    const link = attachIn(b, coll.programs.count_ingress!, { interface: 'vb' });
    expect(link.mode).toBe('bpf-link');
    expect(link.what).toMatch(/^tcx ingress of vb \(ifindex \d+\)$/);
    expect(sendUdp(a, B_ADDR, COUNT_PORT, 25)).toBe(25);
    expect(settle(() => u64(coll, 'ingress_packets'), 25n)).toBe(25n);
    // Other ports are not counted.
    sendUdp(a, B_ADDR, COUNT_PORT + 50, 5);
    expect(settle(() => u64(coll, 'ingress_packets'), 26n)).toBe(25n);

    const info = link.info();
    expect(info.type).toBe(LinkType.TCX);
    expect(info.programId).toBe(idOf(coll.programs.count_ingress!));
    const vb = inNetns(b.path, () => interfaceIndex('vb'));
    expect(listedOn(info.id, 'tcx')).toEqual({ ifindex: vb, attachType: AttachType.TCXIngress });
    expect(info.tcx).toMatchObject({ ifindex: vb, attachType: AttachType.TCXIngress });
    expect(hookState(b, 'vb', AttachType.TCXIngress)).toMatchObject({ programIds: [info.programId], linkIds: [info.id] });

    link.close();
    expect(hookState(b, 'vb', AttachType.TCXIngress).programIds).toEqual([]);
    sendUdp(a, B_ADDR, COUNT_PORT, 10);
    expect(settle(() => u64(coll, 'ingress_packets'), 26n)).toBe(25n);
  });

  it('counts on A egress, and a drop on A egress keeps the datagrams from B', async () => {
    const counters = await load({ count_port: COUNT_PORT, drop_port: DROP_PORT });
    // B counts what arrives for the drop port: a second collection whose count port is it.
    const arrivals = await load({ count_port: DROP_PORT });
    attachIn(a, counters.programs.count_egress!, { interface: 'va', direction: 'egress' });
    attachIn(b, arrivals.programs.count_ingress!, { interface: 'vb', direction: 'ingress' });

    expect(sendUdp(a, B_ADDR, COUNT_PORT, 12)).toBe(12);
    expect(settle(() => u64(counters, 'egress_packets'), 12n)).toBe(12n);
    // Without the drop program the datagrams to the drop port arrive.
    sendUdp(a, B_ADDR, DROP_PORT, 4);
    expect(settle(() => u64(arrivals, 'ingress_packets'), 4n)).toBe(4n);

    attachIn(a, counters.programs.drop_egress!, { interface: 'va', direction: 'egress' });
    sendUdp(a, B_ADDR, DROP_PORT, 9);
    expect(settle(() => u64(counters, 'dropped_packets'), 9n)).toBe(9n);
    expect(settle(() => u64(arrivals, 'ingress_packets'), 5n)).toBe(4n);
    // The counter before it in the list still saw the counted port only.
    expect(u64(counters, 'egress_packets')).toBe(12n);
  });

  it('runs the programs of a hook in the order the anchors give', async () => {
    const coll = await load({ order_port: ORDER_PORT });
    const [p1, p2, p3] = [coll.programs.order_1!, coll.programs.order_2!, coll.programs.order_3!];
    const once = (): bigint => {
      coll.variables.order_trace!.set(0n);
      sendUdp(a, B_ADDR, ORDER_PORT, 1);
      // Three programs mark: three hex digits once the datagram went through.
      return settle(() => u64(coll, 'order_trace'), 0x100n);
    };

    const l1 = attachIn(b, p1, { interface: 'vb' });
    const l2 = attachIn(b, p2, { interface: 'vb', before: p1 }); // a Program anchor
    const l3 = attachIn(b, p3, { interface: 'vb', after: l2 }); // a Link anchor
    expect(once()).toBe(0x231n);
    expect(hookState(b, 'vb', AttachType.TCXIngress).programIds).toEqual([idOf(p2), idOf(p3), idOf(p1)]);

    l3.close();
    attachIn(b, p3, { interface: 'vb', before: 'all' });
    expect(once()).toBe(0x321n);

    l1.close();
    attachIn(b, p1, { interface: 'vb', before: { programId: idOf(p2) } });
    expect(once()).toBe(0x312n);

    l2.close();
    attachIn(b, p2, { interface: 'vb', after: { linkId: hookState(b, 'vb', AttachType.TCXIngress).linkIds[0]! } });
    expect(once()).toBe(0x321n);
  });

  it('attaches only at the expected revision; a stale one is refused with ESTALE, explained', async () => {
    const coll = await load({ count_port: COUNT_PORT });
    attachIn(b, coll.programs.order_1!, { interface: 'vb' });
    const { revision } = hookState(b, 'vb', AttachType.TCXIngress);
    expect(revision).toBeGreaterThan(0n);

    let err: unknown;
    try {
      attachIn(b, coll.programs.count_ingress!, { interface: 'vb', expectedRevision: revision - 1n });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errno).toBe(Errno.ESTALE);
    expect((err as Error).message).toContain(`is at revision ${revision}, not the expected revision ${revision - 1n}`);
    expect((err as Error).message).toMatch(/order_1/);

    const link = attachIn(b, coll.programs.count_ingress!, { interface: 'vb', expectedRevision: revision });
    expect(hookState(b, 'vb', AttachType.TCXIngress).revision).toBe(revision + 1n);
    link.close();
    expect(hookState(b, 'vb', AttachType.TCXIngress).revision).toBe(revision + 2n);
  });

  it('explains a program attached twice (EEXIST) and an anchor that is not attached there (ENOENT)', async () => {
    const coll = await load();
    attachIn(b, coll.programs.order_1!, { interface: 'vb' });
    const twice = (() => {
      try {
        attachIn(b, coll.programs.order_1!, { interface: 'vb' });
      } catch (e) {
        return e as SyscallError;
      }
      return undefined;
    })();
    expect(twice).toBeInstanceOf(SyscallError);
    expect(twice!.errno).toBe(Errno.EEXIST);
    expect(twice!.message).toMatch(/already attached at tcx ingress of vb .*load the program again/);
    expect(twice!.message).toMatch(/attached now, in order: program \d+ \(order_1\) through link \d+/);

    const anchorless = (() => {
      try {
        attachIn(b, coll.programs.order_2!, { interface: 'vb', before: coll.programs.order_3! });
      } catch (e) {
        return e as SyscallError;
      }
      return undefined;
    })();
    expect(anchorless).toBeInstanceOf(SyscallError);
    expect(anchorless!.errno).toBe(Errno.ENOENT);
    expect(anchorless!.message).toMatch(/before program order_3: no such program or link is attached at tcx ingress of vb/);
  });

  it("attaches without a link (BPF_PROG_ATTACH, mode 'attachment'), usable as an anchor, and detaches from outside the namespace", async () => {
    const coll = await load({ count_port: COUNT_PORT, order_port: ORDER_PORT });
    const held = attachIn(b, coll.programs.count_ingress!, { interface: 'vb', mode: 'attachment' });
    expect(held.mode).toBe('attachment');
    expect(held.fd).toBe(-1);
    expect(() => held.info()).toThrow(NotSupportedError);
    expect(hookState(b, 'vb', AttachType.TCXIngress)).toMatchObject({ programIds: [idOf(coll.programs.count_ingress!)], linkIds: [0] });

    expect(sendUdp(a, B_ADDR, COUNT_PORT, 7)).toBe(7);
    expect(settle(() => u64(coll, 'ingress_packets'), 7n)).toBe(7n);

    // An attachment link is an anchor by its program's id.
    attachIn(b, coll.programs.order_1!, { interface: 'vb', before: held });
    expect(hookState(b, 'vb', AttachType.TCXIngress).programIds).toEqual([idOf(coll.programs.order_1!), idOf(coll.programs.count_ingress!)]);

    // Closed from this namespace: the detach runs in B, where the attach ran.
    held.close();
    expect(hookState(b, 'vb', AttachType.TCXIngress).programIds).toEqual([idOf(coll.programs.order_1!)]);
    sendUdp(a, B_ADDR, COUNT_PORT, 3);
    expect(settle(() => u64(coll, 'ingress_packets'), 8n)).toBe(7n);
  });

  it('an attachment outlives its Program object and still detaches', async () => {
    const prog = Program.load({ name: 'tcx_held', type: ProgramType.SchedCls, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, -1), asm.exit()] });
    const id = idOf(prog);
    const held = attachIn(a, prog, { interface: 'va', direction: 'egress', mode: 'attachment' });
    prog.close();
    expect(hookState(a, 'va', AttachType.TCXEgress).programIds).toEqual([id]);
    held.close();
    expect(hookState(a, 'va', AttachType.TCXEgress).programIds).toEqual([]);
  });

  it('refuses bad arguments before any syscall, and names interfaces that do not exist', async () => {
    const coll = await load();
    const p = coll.programs.order_1!;
    using sock = Program.load({ name: 'not_cls', type: ProgramType.SocketFilter, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
    expect(() => attachTcx(sock, { interface: 'lo', direction: 'ingress' })).toThrow(/needs a SCHED_CLS program .*; not_cls is SOCKET_FILTER/);
    expect(() => attachTcx(p, { interface: 'lo', direction: 'sideways' as 'ingress' })).toThrow(ArgumentError);
    expect(() => attachTcx(p, { interface: 'lo', direction: 'ingress', before: 'all', after: 'all' })).toThrow(/not both/);
    expect(() => attachTcx(p, { interface: 'lo', direction: 'ingress', before: sock })).toThrow(/anchors at this hook are SCHED_CLS programs/);
    expect(() => attachTcx(p, { interface: 'lo', direction: 'ingress', after: { programId: -3 } })).toThrow(/kernel object id/);
    expect(() => attachTcx(p, { interface: 'lo', direction: 'ingress', expectedRevision: -1 })).toThrow(/expectedRevision/);
    const missing = (() => {
      try {
        inNetns(b.path, () => attachTcx(p, { interface: 'nosuch0', direction: 'ingress' }));
      } catch (e) {
        return e as AttachTargetError;
      }
      return undefined;
    })();
    expect(missing).toBeInstanceOf(AttachTargetError);
    expect(missing!.message).toMatch(/nosuch0 does not exist .* has .*vb/);
  });
});
