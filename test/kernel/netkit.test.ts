// netkit with real traffic (testdata/netkit.bpf.c): a netkit pair made with rtnetlink
// (helpers/netkit.ts), primary nk0 in test namespace A (10.211.1.1) and peer nk1 in B
// (10.211.1.2), L3 mode. Programs are attached through the primary device from inside A:
// primary-side programs count what A sends to B, peer-side programs count and drop what B
// sends to A; a tcx program on nk0's ingress (testdata/tcx.bpf.c) counts what reaches A.
// L3 mode still frames packets with a (zero-address) Ethernet header: every program here
// finds the IP header at ETH_HLEN, the default net_offset of both objects.
//
// netkit needs Linux 6.7 built with CONFIG_NETKIT: the test:vm kernels 5.10 and 6.1 run only
// the feature checks (6.7 named); 6.12 (CONFIG_NETKIT=y) runs everything. Kernels without the
// driver (the host's 6.18 config leaves it out) check that the option is named instead.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, AttachTargetError, NotSupportedError, SyscallError } from '../../src/errors.js';
import { interfaceIndex } from '../../src/internal/netdev.js';
import { inNetns } from '../../src/internal/netns.js';
import { LinkType, listLinks, type Link } from '../../src/link/link.js';
import { queryMprog, type MprogState } from '../../src/link/mprog.js';
import { attachNetkit, netkitFeature, type NetkitOptions } from '../../src/link/netkit.js';
import { attachTcx } from '../../src/link/tcx.js';
import { Program } from '../../src/prog.js';
import { Errno } from '../../src/sys/errno.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { AttachType, ProgramType } from '../../src/types.js';
import { configHas, expectVersionedFeature } from './helpers/kernel-features.js';
import { netkitPair, netkitUnavailable } from './helpers/netkit.js';
import { sendUdp, TestNetns } from './helpers/netns.js';

/** A link's target as listLinks() reports it: the interface index and the hook. */
const listedOn = (id: number, kind: 'netkit'): { ifindex?: number; attachType?: number } => {
  const on = listLinks().find((l) => l.id === id)?.[kind];
  return { ifindex: on?.ifindex, attachType: on?.attachType };
};

const object = new URL('../../testdata/netkit.bpfel.o', import.meta.url).pathname;
const tcxObject = new URL('../../testdata/tcx.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const noRoot = root ? undefined : 'needs root for bpf() and network namespaces';
const skip = noRoot ?? netkitUnavailable();
if (skip !== undefined) console.warn(`skipping netkit traffic tests: ${skip}`);

const A_ADDR = '10.211.1.1';
const B_ADDR = '10.211.1.2';
const COUNT_PORT = 7301;
const DROP_PORT = 7302;
const ORDER_PORT = 7303;

let spec: CollectionSpec;
let tcxSpec: CollectionSpec;
let a: TestNetns;
let b: TestNetns;

const open: Array<{ close(): void }> = [];
function track<T extends { close(): void }>(x: T): T {
  open.push(x);
  return x;
}

afterEach(() => {
  const errors: unknown[] = [];
  for (const x of open.splice(0).reverse()) {
    try {
      x.close();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
});

beforeAll(async () => {
  if (skip !== undefined) return;
  spec = await loadCollectionSpec(object);
  tcxSpec = await loadCollectionSpec(tcxObject);
  a = TestNetns.create();
  b = TestNetns.create();
  netkitPair(a, 'nk0', A_ADDR, b, 'nk1', B_ADDR);
});

afterAll(() => {
  a?.close();
  b?.close();
});

async function load(constants: { count_port?: number; drop_port?: number; order_port?: number } = {}): Promise<Collection> {
  return track(await loadCollection(spec.copy(), { constants: { count_port: 0, drop_port: 0, order_port: 0, ...constants } }));
}

const u64 = (coll: Collection, name: string): bigint => coll.variables[name]!.get() as bigint;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function settle(read: () => bigint, want: bigint): bigint {
  const deadline = Date.now() + 1000;
  let v = read();
  while (v < want && Date.now() < deadline) {
    Atomics.wait(sleeper, 0, 0, 10);
    v = read();
  }
  return v;
}

/** attachNetkit on nk0 inside A, tracked. */
function attachA(prog: Program, options: Omit<NetkitOptions, 'interface'> = {}): Link {
  return track(inNetns(a.path, () => attachNetkit(prog, { interface: 'nk0', ...options })));
}

function sideState(attachType: AttachType): MprogState {
  const s = inNetns(a.path, () => queryMprog(interfaceIndex('nk0'), attachType));
  if (s === undefined) throw new Error(`BPF_PROG_QUERY of ${attachType} failed`);
  return s;
}

const idOf = (p: Program): number => p.info().id;

function thrown(fn: () => unknown): Error | undefined {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

describe('netkitFeature', () => {
  it.skipIf(noRoot)('is supported from Linux 6.7 on where CONFIG_NETKIT is set, and names 6.7 before', () => {
    expectVersionedFeature(netkitFeature.check(), '6.7', 'CONFIG_NETKIT');
  });

  it.skipIf(noRoot !== undefined || netkitFeature.supported())('without netkit, attachNetkit throws NotSupportedError naming the version or CONFIG_NETKIT', () => {
    using prog = Program.load({ name: 'nk_none', type: ProgramType.SchedCls, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, -1), asm.exit()] });
    const err = thrown(() => attachNetkit(prog, { interface: 'lo' }));
    expect(err).toBeInstanceOf(NotSupportedError);
    if (!kernelVersion().atLeast('6.7')) {
      expect((err as NotSupportedError).minimumVersion).toBe('6.7');
      expect(err!.message).toMatch(/requires Linux 6\.7/);
    } else if (configHas('CONFIG_NETKIT') === false) {
      expect((err as NotSupportedError).minimumVersion).toBeUndefined();
      expect(err!.message).toMatch(/CONFIG_NETKIT/);
    }
  });
});

describe.skipIf(skip)('attachNetkit with traffic through a netkit pair', () => {
  it('counts exactly on the primary side (A → B) and on the peer side (B → A); links report their side', async () => {
    const coll = await load({ count_port: COUNT_PORT });
    // The sections (netkit/primary, netkit/peer) choose the side.
    const primary = attachA(coll.programs.count_primary!);
    const peer = attachA(coll.programs.count_peer!);
    expect(primary.what).toMatch(/^netkit primary of nk0 \(ifindex \d+\)$/);
    expect(peer.what).toMatch(/^netkit peer of nk0 /);

    expect(sendUdp(a, B_ADDR, COUNT_PORT, 14)).toBe(14);
    expect(settle(() => u64(coll, 'primary_packets'), 14n)).toBe(14n);
    expect(u64(coll, 'peer_packets')).toBe(0n);
    expect(sendUdp(b, A_ADDR, COUNT_PORT, 9)).toBe(9);
    expect(settle(() => u64(coll, 'peer_packets'), 9n)).toBe(9n);
    expect(u64(coll, 'primary_packets')).toBe(14n);

    const nk0 = inNetns(a.path, () => interfaceIndex('nk0'));
    const pi = primary.info();
    expect(pi.type).toBe(LinkType.Netkit);
    expect(listedOn(pi.id, 'netkit')).toEqual({ ifindex: nk0, attachType: AttachType.NetkitPrimary });
    // A peer-side link is on the peer device (netkit_dev_fetch() hands it the peer), in B.
    const nk1 = inNetns(b.path, () => interfaceIndex('nk1'));
    expect(peer.info().netkit).toMatchObject({ ifindex: nk1, attachType: AttachType.NetkitPeer });
    const qi = peer.info();
    expect(listedOn(qi.id, 'netkit').attachType).toBe(AttachType.NetkitPeer);
    expect(sideState(AttachType.NetkitPeer)).toMatchObject({ programIds: [idOf(coll.programs.count_peer!)], linkIds: [qi.id] });

    primary.close();
    peer.close();
    expect(sideState(AttachType.NetkitPrimary).programIds).toEqual([]);
    sendUdp(a, B_ADDR, COUNT_PORT, 3);
    sendUdp(b, A_ADDR, COUNT_PORT, 3);
    expect(settle(() => u64(coll, 'primary_packets') + u64(coll, 'peer_packets'), 24n)).toBe(23n);
  });

  it('a peer-side NETKIT_DROP keeps datagrams from reaching the primary', async () => {
    const coll = await load({ drop_port: DROP_PORT });
    // What reaches A: a tcx program on nk0's ingress, counting the drop port (after the
    // Ethernet header netkit frames even L3-mode packets with: net_offset stays ETH_HLEN).
    const arrivals = track(await loadCollection(tcxSpec.copy(), { constants: { count_port: DROP_PORT, drop_port: 0, order_port: 0 } }));
    track(inNetns(a.path, () => attachTcx(arrivals.programs.count_ingress!, { interface: 'nk0', direction: 'ingress' })));

    sendUdp(b, A_ADDR, DROP_PORT, 5);
    expect(settle(() => u64(arrivals, 'ingress_packets'), 5n)).toBe(5n);
    attachA(coll.programs.drop_peer!);
    sendUdp(b, A_ADDR, DROP_PORT, 11);
    expect(settle(() => u64(coll, 'dropped_packets'), 11n)).toBe(11n);
    expect(settle(() => u64(arrivals, 'ingress_packets'), 6n)).toBe(5n);
  });

  it('orders the programs of a side by their anchors', async () => {
    const coll = await load({ order_port: ORDER_PORT });
    const once = (): bigint => {
      coll.variables.order_trace!.set(0n);
      sendUdp(a, B_ADDR, ORDER_PORT, 1);
      return settle(() => u64(coll, 'order_trace'), 0x10n);
    };
    const l1 = attachA(coll.programs.order_1!);
    attachA(coll.programs.order_2!, { before: l1 });
    expect(once()).toBe(0x21n);
    l1.close();
    attachA(coll.programs.order_1!, { before: 'all' });
    expect(once()).toBe(0x12n);
    expect(sideState(AttachType.NetkitPrimary).programIds).toEqual([idOf(coll.programs.order_1!), idOf(coll.programs.order_2!)]);
  });

  it("attaches without a link (mode 'attachment') and detaches on close", async () => {
    const coll = await load({ count_port: COUNT_PORT });
    const held = attachA(coll.programs.count_primary!, { mode: 'attachment' });
    expect(held.mode).toBe('attachment');
    expect(sideState(AttachType.NetkitPrimary)).toMatchObject({ programIds: [idOf(coll.programs.count_primary!)], linkIds: [0] });
    sendUdp(a, B_ADDR, COUNT_PORT, 6);
    expect(settle(() => u64(coll, 'primary_packets'), 6n)).toBe(6n);
    held.close();
    expect(sideState(AttachType.NetkitPrimary).programIds).toEqual([]);
  });

  it('explains a stale revision, and refuses devices that are not a netkit primary', async () => {
    const coll = await load();
    attachA(coll.programs.order_1!);
    const { revision } = sideState(AttachType.NetkitPrimary);
    const stale = thrown(() => attachA(coll.programs.order_2!, { expectedRevision: revision + 5n }));
    expect(stale).toBeInstanceOf(SyscallError);
    expect((stale as SyscallError).errno).toBe(Errno.ESTALE);
    expect(stale!.message).toContain(`is at revision ${revision}`);

    const lo = thrown(() => inNetns(a.path, () => attachNetkit(coll.programs.order_2!, { interface: 'lo' })));
    expect(lo).toBeInstanceOf(AttachTargetError);
    expect(lo!.message).toMatch(/lo is not a netkit device/);
    const peerEnd = thrown(() => inNetns(b.path, () => attachNetkit(coll.programs.order_2!, { interface: 'nk1' })));
    expect(peerEnd).toBeInstanceOf(AttachTargetError);
    expect(peerEnd!.message).toMatch(/nk1 is the peer end of a netkit pair/);
    expect(() => attachNetkit(coll.programs.order_2!, { interface: 'nk0', peer: 'yes' as unknown as boolean })).toThrow(ArgumentError);
  });
});
