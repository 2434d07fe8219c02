// tc cls_bpf with real traffic: tc_count (testdata/xdp_count.bpf.c) as a direct-action filter
// on the clsact qdisc of vb in namespace b (ingress) or va in namespace a (egress), UDP sent from
// a to b. Checks the exact counts, TC_ACT_SHOT dropping, what tcFilters and `tc filter show`
// report, the clsact qdisc created and removed by us (or kept when it was there before),
// priority/handle conflicts explained, and Link.update. The namespaces die with the test.
import { beforeEach, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, AttachTargetError, SyscallError } from '../../src/errors.js';
import { inNetns } from '../../src/internal/netns.js';
import type { Link } from '../../src/link/link.js';
import { attachTc, tcFilters, type TcDirection, type TcOptions } from '../../src/link/tc.js';
import type { BpfMap } from '../../src/map.js';
import type { Program } from '../../src/prog.js';
import { Errno } from '../../src/sys/errno.js';
import { netnsUnavailable, TestNetns, vethPair } from './helpers/netns.js';
import { caught, closeAfterEach } from './helpers/per-test.js';
import { udpTraffic } from './helpers/udp-receiver.js';

const COUNT_OBJ = new URL('../../testdata/xdp_count.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const skip = !root ? 'needs root for bpf() and network namespaces' : netnsUnavailable();
if (skip !== undefined) console.warn(`skipping tc tests: ${skip}`);

const PORT = 7788;
const A = '10.211.1.1';
const B = '10.211.1.2';
const FRAME = 74; // Ethernet + IPv4 + UDP + 32 bytes

let a: TestNetns;
let b: TestNetns;
const track = closeAfterEach();

beforeEach(() => {
  if (skip !== undefined) return;
  a = track(TestNetns.create());
  b = track(TestNetns.create());
  vethPair(a, 'va', A, b, 'vb', B);
});

async function countObject(constants: Record<string, number> = {}): Promise<Collection> {
  const spec = await loadCollectionSpec(COUNT_OBJ);
  spec.rewriteConstants({ watch_port: PORT, ...constants });
  return track(await loadCollection(spec, { programs: ['tc_count', 'xdp_pass'] }));
}

function attachIn(ns: TestNetns, prog: Program, options: TcOptions): Link {
  return track(inNetns(ns.path, () => attachTc(prog, options)));
}

/** `tc -j qdisc show dev DEV` kinds in `ns`. */
function qdiscKinds(ns: TestNetns, dev: string): string[] {
  return (JSON.parse(ns.exec('tc', '-j', 'qdisc', 'show', 'dev', dev)) as Array<{ kind: string }>).map((q) => q.kind);
}

/** `tc -j filter show dev DEV DIR` bpf filters: [pref, handle, prog id, name, direct-action]. */
function tcShow(ns: TestNetns, dev: string, direction: TcDirection): Array<[number, number, number, string, boolean]> {
  const all = JSON.parse(ns.exec('tc', '-j', 'filter', 'show', 'dev', dev, direction) || '[]') as Array<{ pref: number; kind: string; options?: { handle: string; bpf_name: string; 'direct-action'?: boolean; prog?: { id: number } } }>;
  return all.filter((f) => f.options !== undefined).map((f) => [f.pref, Number(f.options!.handle), f.options!.prog!.id, f.options!.bpf_name, f.options!['direct-action'] === true]);
}

function watched(map: BpfMap): { packets: bigint; bytes: bigint } {
  const v = map.lookup(new Uint8Array(4)) as Uint8Array;
  const d = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return { packets: d.getBigUint64(0, true), bytes: d.getBigUint64(8, true) };
}

const traffic = (n: number): Promise<{ sent: number; received: number }> => udpTraffic(a, b, B, PORT, n);

describe.skipIf(skip !== undefined)('attachTc (clsact + cls_bpf) with traffic between namespaces', () => {
  for (const [direction, ns, dev] of [
    ['ingress', () => b, 'vb'],
    ['egress', () => a, 'va'],
  ] as const) {
    it(`${direction}: counts every datagram exactly; creates clsact, and close() removes the filter and the qdisc`, async () => {
      const coll = await countObject();
      const prog = coll.programs.tc_count!;
      expect(qdiscKinds(ns(), dev)).not.toContain('clsact');
      const link = attachIn(ns(), prog, { interface: dev, direction });
      expect(link.mode).toBe('attachment');
      expect(qdiscKinds(ns(), dev)).toContain('clsact');
      const id = prog.info().id;
      const filters = inNetns(ns().path, () => tcFilters(dev, direction));
      expect(filters).toHaveLength(1);
      expect(filters[0]).toMatchObject({ direction, priority: 49152, programId: id, programName: 'tc_count', name: 'tc_count', directAction: true, protocol: 3 });
      expect(filters[0]!.tag).toMatch(/^[0-9a-f]{16}$/);
      expect(tcShow(ns(), dev, direction)).toEqual([[49152, filters[0]!.handle, id, 'tc_count', true]]);
      expect(link.what).toContain(`priority 49152, handle 0x${filters[0]!.handle.toString(16)}`);

      const { sent, received } = await traffic(5);
      expect(sent).toBe(5);
      expect(received).toBe(5);
      expect(watched(coll.maps.watched!)).toEqual({ packets: 5n, bytes: BigInt(5 * FRAME) });

      link.close();
      expect(inNetns(ns().path, () => tcFilters(dev, direction))).toEqual([]);
      expect(tcShow(ns(), dev, direction)).toEqual([]);
      expect(qdiscKinds(ns(), dev)).not.toContain('clsact');
      expect((await traffic(2)).received).toBe(2);
      expect(watched(coll.maps.watched!).packets).toBe(5n);
    });
  }

  it('TC_ACT_SHOT drops: the program counts each datagram, the receiver gets none', async () => {
    const coll = await countObject({ drop_watched: 1 });
    const link = attachIn(b, coll.programs.tc_count!, { interface: 'vb', direction: 'ingress' });
    const { sent, received } = await traffic(4);
    expect(sent).toBe(4);
    expect(received).toBe(0);
    expect(watched(coll.maps.watched!).packets).toBe(4n);
    link.close();
    expect((await traffic(2)).received).toBe(2);
  });

  it('a clsact qdisc that existed before is kept, and so are filters that are not ours', async () => {
    b.exec('tc', 'qdisc', 'add', 'dev', 'vb', 'clsact');
    const coll = await countObject();
    const link = attachIn(b, coll.programs.tc_count!, { interface: 'vb', direction: 'ingress', priority: 7, handle: 3 });
    expect(inNetns(b.path, () => tcFilters('vb', 'ingress')).map((f) => [f.priority, f.handle])).toEqual([[7, 3]]);
    link.close();
    expect(qdiscKinds(b, 'vb')).toContain('clsact');
    expect(tcShow(b, 'vb', 'ingress')).toEqual([]);

    // Our qdisc stays while someone else's filter is on it.
    b.exec('tc', 'qdisc', 'del', 'dev', 'vb', 'clsact');
    const ours = attachIn(b, coll.programs.tc_count!, { interface: 'vb', direction: 'ingress' });
    b.exec('tc', 'filter', 'add', 'dev', 'vb', 'egress', 'pref', '5', 'bpf', 'da', 'obj', COUNT_OBJ, 'sec', 'tc');
    ours.close();
    expect(qdiscKinds(b, 'vb')).toContain('clsact');
    expect(tcShow(b, 'vb', 'egress')).toHaveLength(1);
  });

  it('two filters of ours share the qdisc, which goes with the last one', async () => {
    const coll = await countObject();
    const first = attachIn(b, coll.programs.tc_count!, { interface: 'vb', direction: 'ingress' });
    const second = attachIn(b, coll.programs.tc_count!, { interface: 'vb', direction: 'egress' });
    first.close();
    expect(qdiscKinds(b, 'vb')).toContain('clsact');
    expect(inNetns(b.path, () => tcFilters('vb', 'egress'))).toHaveLength(1);
    second.close();
    expect(qdiscKinds(b, 'vb')).not.toContain('clsact');
  });

  it('a taken priority and handle: EEXIST naming the filter there now', async () => {
    const coll = await countObject();
    const id = coll.programs.tc_count!.info().id;
    attachIn(b, coll.programs.tc_count!, { interface: 'vb', direction: 'ingress', priority: 10, handle: 1 });
    const err = caught(() => attachIn(b, coll.programs.tc_count!, { interface: 'vb', direction: 'ingress', priority: 10, handle: 1 }));
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).errno).toBe(Errno.EEXIST);
    expect(err.message).toContain(`vb has bpf filter tc_count (program id ${id}) at priority 10 handle 0x1 on ingress now`);
    expect(err.message).toContain('choose another priority or handle');
    // Another handle at the same priority is fine.
    attachIn(b, coll.programs.tc_count!, { interface: 'vb', direction: 'ingress', priority: 10, handle: 2 });
    expect(inNetns(b.path, () => tcFilters('vb', 'ingress')).map((f) => f.handle).sort()).toEqual([1, 2]);
  });

  it('Link.update replaces the program of the same filter; close() removes only a filter still running ours', async () => {
    const coll = await countObject({ drop_watched: 1 });
    const spec = await loadCollectionSpec(COUNT_OBJ);
    spec.rewriteConstants({ watch_port: PORT });
    const passing = track(await loadCollection(spec, { programs: ['tc_count'] }));
    const link = attachIn(b, coll.programs.tc_count!, { interface: 'vb', direction: 'ingress' });
    expect((await traffic(2)).received).toBe(0);
    link.update(passing.programs.tc_count!, { oldProgram: coll.programs.tc_count! });
    const [f] = inNetns(b.path, () => tcFilters('vb', 'ingress'));
    expect(f!.programId).toBe(passing.programs.tc_count!.info().id);
    expect((await traffic(2)).received).toBe(2);
    expect(watched(passing.maps.watched!).packets).toBe(2n);
    expect((caught(() => link.update(coll.programs.tc_count!, { oldProgram: coll.programs.tc_count! })) as SyscallError).errno).toBe(Errno.EEXIST);
    expect(caught(() => link.update(coll.programs.xdp_pass!))).toBeInstanceOf(ArgumentError);

    // Someone replaces our filter's program behind our back: close() leaves theirs alone.
    b.exec('tc', 'filter', 'replace', 'dev', 'vb', 'ingress', 'pref', String(f!.priority), 'handle', `0x${f!.handle.toString(16)}`, 'bpf', 'da', 'obj', COUNT_OBJ, 'sec', 'tc');
    link.close();
    expect(tcShow(b, 'vb', 'ingress')).toHaveLength(1);
    expect(qdiscKinds(b, 'vb')).toContain('clsact');
  });

  it('typed errors: wrong program type, bad options, missing interface, an ingress qdisc in clsact\'s place', async () => {
    const coll = await countObject();
    const tc = coll.programs.tc_count!;
    const xdp = caught(() => attachTc(coll.programs.xdp_pass!, { interface: 'lo', direction: 'ingress' }));
    expect(xdp).toBeInstanceOf(ArgumentError);
    expect(xdp.message).toMatch(/needs a SCHED_CLS program .*; xdp_pass is XDP/);
    expect(caught(() => attachTc(tc, { interface: 'lo', direction: 'sideways' as TcDirection }))).toBeInstanceOf(ArgumentError);
    expect(caught(() => attachTc(tc, { interface: 'lo', direction: 'ingress', priority: 0x10000 }))).toBeInstanceOf(ArgumentError);
    expect(caught(() => attachTc(tc, { interface: 'lo', direction: 'ingress', handle: 0 }))).toBeInstanceOf(ArgumentError);
    expect(caught(() => tcFilters('lo', 'up' as TcDirection))).toBeInstanceOf(ArgumentError);
    const missing = caught(() => inNetns(b.path, () => attachTc(tc, { interface: 'nope0', direction: 'ingress' })));
    expect(missing).toBeInstanceOf(AttachTargetError);
    expect(caught(() => inNetns(b.path, () => tcFilters('nope0', 'ingress')))).toBeInstanceOf(AttachTargetError);

    b.exec('tc', 'qdisc', 'add', 'dev', 'vb', 'ingress');
    const ingress = caught(() => attachIn(b, tc, { interface: 'vb', direction: 'ingress' }));
    expect(ingress).toBeInstanceOf(AttachTargetError);
    expect(ingress.message).toMatch(/vb has an ingress qdisc where cls_bpf filters need clsact/);
    expect(qdiscKinds(b, 'vb')).toContain('ingress');
  });
});
