// netfilter links with real traffic (testdata/netfilter.bpf.c): a test namespace whose Node
// process sends UDP datagrams to itself over 127.0.0.1 and counts what it receives, while
// programs attached at the namespace's NF_INET_LOCAL_IN hook count, drop or mark them.
// Netfilter hooks belong to a network namespace, so the attach runs inside it (inNetns);
// the namespace, and every hook in it, dies with the test process whatever happens.
//
// netfilter links need Linux 6.4 (defrag 6.6): the test:vm kernels 5.10 and 6.1 run only the
// feature checks, which must name 6.4.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, NotSupportedError } from '../../src/errors.js';
import { inNetns } from '../../src/internal/netns.js';
import { LinkType, listLinks, type Link } from '../../src/link/link.js';
import { attachNetfilter, netfilterDefragFeature, netfilterFeature, type NetfilterOptions } from '../../src/link/netfilter.js';
import type { Program } from '../../src/prog.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { expectVersionedFeature } from './helpers/kernel-features.js';
import { netnsUnavailable, TestNetns } from './helpers/netns.js';
import { closeAfterEach, u64 } from './helpers/per-test.js';

const object = new URL('../../testdata/netfilter.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const noRoot = root ? undefined : 'needs root for bpf() and network namespaces';
const has = (v: string): boolean => kernelVersion().atLeast(v);
const linkSkip = noRoot ?? (netfilterFeature.supported() ? undefined : `netfilter links are not available: ${JSON.stringify(netfilterFeature.check())}`);
const skip = linkSkip ?? netnsUnavailable();
if (skip !== undefined) console.warn(`skipping netfilter traffic tests: ${skip}`);

const COUNT_PORT = 7201;
const DROP_PORT = 7202;
const ORDER_PORT = 7203;

let spec: CollectionSpec;
let ns: TestNetns;

const track = closeAfterEach();

beforeAll(async () => {
  if (skip !== undefined) return;
  spec = await loadCollectionSpec(object);
  ns = TestNetns.create();
});

afterAll(() => ns?.close());

async function load(constants: { count_port?: number; drop_port?: number; order_port?: number } = {}): Promise<Collection> {
  return track(await loadCollection(spec.copy(), { constants: { count_port: 0, drop_port: 0, order_port: 0, ...constants } }));
}

function attachIn(prog: Program, options: NetfilterOptions): Link {
  return track(inNetns(ns.path, () => attachNetfilter(prog, options)));
}

/** Sends `count` datagrams to 127.0.0.1:`port` inside the namespace from a socket bound there; what it sent and received. */
function loopbackUdp(port: number, count: number): { sent: number; received: number } {
  const out = ns.node(`
    import dgram from 'node:dgram';
    const s = dgram.createSocket('udp4');
    let received = 0;
    s.on('message', () => received++);
    await new Promise((res) => s.bind(${port}, '127.0.0.1', res));
    const buf = Buffer.alloc(32, 7);
    let sent = 0;
    for (let i = 0; i < ${count}; i++) await new Promise((res) => s.send(buf, ${port}, '127.0.0.1', (err) => { if (!err) sent++; res(); }));
    // Loopback delivers within the send; the wait lets the event loop read the socket.
    await new Promise((res) => setTimeout(res, 200));
    s.close();
    console.log(JSON.stringify({ sent, received }));
  `);
  return JSON.parse(out) as { sent: number; received: number };
}

describe('netfilter feature probes', () => {
  it.skipIf(noRoot)('netfilter links: supported from Linux 6.4, 6.4 named before', () => {
    expectVersionedFeature(netfilterFeature.check(), '6.4', 'CONFIG_NETFILTER_BPF_LINK');
  });

  it.skipIf(noRoot)('IP defragmentation: supported from Linux 6.6, 6.6 named before', () => {
    expectVersionedFeature(netfilterDefragFeature.check(), '6.6', 'CONFIG_NETFILTER_BPF_LINK');
  });

  it.skipIf(noRoot !== undefined || has('6.4'))('before 6.4, require() throws NotSupportedError naming 6.4', () => {
    expect(() => netfilterFeature.require()).toThrow(NotSupportedError);
    try {
      netfilterFeature.require();
    } catch (err) {
      expect((err as NotSupportedError).minimumVersion).toBe('6.4');
    }
  });
});

describe.skipIf(skip)('attachNetfilter with loopback traffic in a namespace', () => {
  it('counts exactly the datagrams at NF_INET_LOCAL_IN, and the link reports its hook', async () => {
    const coll = await load({ count_port: COUNT_PORT });
    const link = attachIn(coll.programs.nf_count!, { family: 'ipv4', hook: 'local_in', priority: 10 });
    expect(link.what).toBe('netfilter IPv4 NF_INET_LOCAL_IN priority 10');
    expect(loopbackUdp(COUNT_PORT, 20)).toEqual({ sent: 20, received: 20 });
    expect(u64(coll, 'counted_packets')).toBe(20n);
    // Only the namespace's own hook sees them: other ports are not counted.
    loopbackUdp(COUNT_PORT + 50, 4);
    expect(u64(coll, 'counted_packets')).toBe(20n);

    const info = link.info();
    expect(info.type).toBe(LinkType.Netfilter);
    expect(listLinks().find((l) => l.id === info.id)?.netfilter).toMatchObject({ family: 2, hook: 1, priority: 10 });
    expect(info.netfilter).toEqual({ family: 2, hook: 1, priority: 10, flags: 0 });

    link.close();
    expect(loopbackUdp(COUNT_PORT, 5)).toEqual({ sent: 5, received: 5 });
    expect(u64(coll, 'counted_packets')).toBe(20n);
  });

  it('drops with NF_DROP: nothing reaches the socket until the link closes', async () => {
    const coll = await load({ drop_port: DROP_PORT });
    const link = attachIn(coll.programs.nf_count!, { family: 'NFPROTO_IPV4', hook: 'NF_INET_LOCAL_IN', priority: 10 });
    expect(loopbackUdp(DROP_PORT, 15)).toEqual({ sent: 15, received: 0 });
    expect(u64(coll, 'dropped_packets')).toBe(15n);
    link.close();
    expect(loopbackUdp(DROP_PORT, 6)).toEqual({ sent: 6, received: 6 });
    expect(u64(coll, 'dropped_packets')).toBe(15n);
  });

  it('runs the programs of a hook by priority, lower first', async () => {
    const coll = await load({ order_port: ORDER_PORT });
    attachIn(coll.programs.nf_order_1!, { family: 2, hook: 1, priority: 20 });
    attachIn(coll.programs.nf_order_2!, { family: 'ipv4', hook: 'local_in', priority: -20 });
    loopbackUdp(ORDER_PORT, 1);
    expect(u64(coll, 'order_trace')).toBe(0x21n);
  });

  it('attaches to IPv6 and other hooks, as the link info shows', async () => {
    const coll = await load();
    const link = attachIn(coll.programs.nf_count!, { family: 'ipv6', hook: 'pre_routing', priority: -150 });
    const info = link.info();
    expect(listLinks().find((l) => l.id === info.id)?.netfilter).toMatchObject({ family: 10, hook: 0, priority: -150 });
  });

  it.skipIf(!has('6.6'))('with defrag (6.6+) the program still sees every datagram', async () => {
    const coll = await load({ count_port: COUNT_PORT });
    const link = attachIn(coll.programs.nf_count!, { family: 'ipv4', hook: 'local_in', priority: -100, defrag: true });
    expect(link.what).toMatch(/defrag$/);
    // Linux 6.18 reports the flag in the link info; earlier kernels with defrag report 0.
    expect(link.info().netfilter).toMatchObject({ family: 2, hook: 1, priority: -100 });
    expect([0, 1]).toContain(link.info().netfilter!.flags);
    expect(loopbackUdp(COUNT_PORT, 8)).toEqual({ sent: 8, received: 8 });
    expect(u64(coll, 'counted_packets')).toBe(8n);
  });

  it('refuses bad arguments before any syscall', async () => {
    const coll = await load();
    const p = coll.programs.nf_count!;
    const base: NetfilterOptions = { family: 'ipv4', hook: 'local_in', priority: 1 };
    expect(() => attachNetfilter(p, { ...base, family: 'arp' as 'ipv4' })).toThrow(/family must be 'ipv4' .* or 'ipv6'/);
    expect(() => attachNetfilter(p, { ...base, family: 7 })).toThrow(ArgumentError);
    expect(() => attachNetfilter(p, { ...base, hook: 'input' as 'local_in' })).toThrow(/hook must be one of pre_routing, local_in, forward, local_out, post_routing/);
    expect(() => attachNetfilter(p, { ...base, hook: 5 })).toThrow(ArgumentError);
    expect(() => attachNetfilter(p, { ...base, priority: -0x80000000 })).toThrow(/priority must be an integer between/);
    expect(() => attachNetfilter(p, { ...base, priority: 0x7fffffff })).toThrow(/priority must be an integer between/);
    expect(() => attachNetfilter(p, { ...base, priority: 1.5 })).toThrow(ArgumentError);
    expect(() => attachNetfilter(p, { ...base, priority: -400, defrag: true })).toThrow(/above -400/);
  });
});
