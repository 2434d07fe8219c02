// struct_ops with a real TCP congestion control (testdata/struct_ops.bpf.c: a Reno-like
// tcp_congestion_ops counting its calls): registered, selected as the default congestion
// control of a test network namespace only (net.ipv4.tcp_congestion_control is per
// namespace; the CC sets TCP_CONG_NON_RESTRICTED so a non-initial namespace may pick it), used
// by a loopback TCP connection there, and unregistered: its name leaves
// /proc/sys/net/ipv4/tcp_available_congestion_control.
//
// .struct_ops maps (registered by the map update) need Linux 5.6; .struct_ops.link maps and
// struct_ops links 6.4, so test:vm's 5.10 and 6.1 run the .struct_ops half and check the 6.4
// refusal. A .struct_ops map holds itself while registered, so one a crashed run left behind
// would stay registered: it is unregistered before the tests.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, BpfError, NotSupportedError } from '../../src/errors.js';
import { LinkType, type Link } from '../../src/link/link.js';
import { attachStructOps, attachStructOpsMaps, structOpsLinkFeature } from '../../src/link/struct-ops.js';
import { BpfMap, listMaps } from '../../src/map.js';
import { StructOpsError } from '../../src/struct-ops-layout.js';
import { unregisterStructOps } from '../../src/struct-ops.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { MapType } from '../../src/types.js';
import { expectVersionedFeature } from './helpers/kernel-features.js';
import { netnsUnavailable, TestNetns } from './helpers/netns.js';

const object = new URL('../../testdata/struct_ops.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const has = (v: string): boolean => kernelVersion().atLeast(v);
const available = (): string[] => readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim().split(/\s+/);

/** Unregisters .struct_ops maps of this test that an earlier, crashed run left registered. */
function sweepLeftovers(): void {
  for (const info of listMaps()) {
    if (info.type !== MapType.StructOps || info.name !== 'ebpfts_cc_map') continue;
    try {
      using map = BpfMap.fromId(info.id);
      unregisterStructOps(map);
    } catch {
      // gone meanwhile
    }
  }
}

/** The spec with only these struct_ops maps (the others' programs then do not load either). */
function only(spec: CollectionSpec, ...keep: string[]): CollectionSpec {
  const copy = spec.copy();
  for (const m of Object.values(copy.maps)) if (m.type === MapType.StructOps && !keep.includes(m.name)) delete copy.maps[m.name];
  return copy;
}

// Why this kernel cannot run the tests, decided by loading the .struct_ops half once.
async function refusal(): Promise<string | undefined> {
  if (!root) return 'needs root for bpf() and network namespaces';
  const ns = netnsUnavailable();
  if (ns !== undefined) return ns;
  sweepLeftovers();
  try {
    const coll = await loadCollection(only(await loadCollectionSpec(object), 'ebpfts_cc_map'));
    coll.close();
    return undefined;
  } catch (err) {
    return `this kernel refuses struct_ops: ${(err as Error).message.split('\n')[0]}`;
  }
}
const skip = await refusal();
if (skip !== undefined) console.warn(`skipping struct_ops tests: ${skip}`);
const linkSkip = skip ?? (structOpsLinkFeature.supported() ? undefined : `struct_ops links need Linux 6.4: ${JSON.stringify(structOpsLinkFeature.check())}`);

let spec: CollectionSpec;
let ns: TestNetns;
const open: Array<{ close(): void }> = [];
function track<T extends { close(): void }>(x: T): T {
  open.push(x);
  return x;
}

beforeAll(async () => {
  if (skip !== undefined) return;
  spec = await loadCollectionSpec(object);
  ns = TestNetns.create();
});

afterEach(() => {
  if (skip !== undefined) return;
  // No namespace default may keep pointing at a congestion control that goes away.
  selectCC('reno');
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

afterAll(() => ns?.close());

/** Makes `name` the namespace's default congestion control, and reads it back. */
function selectCC(name: string): string {
  ns.exec('sh', '-c', `echo ${name} > /proc/sys/net/ipv4/tcp_congestion_control`);
  return ns.exec('cat', '/proc/sys/net/ipv4/tcp_congestion_control').trim();
}

const PORT = 7301;

/** One loopback TCP connection inside the namespace carrying `bytes`; what the server received. */
function transfer(bytes: number): number {
  const out = ns.node(`
    import net from 'node:net';
    let received = 0;
    const done = new Promise((resolve) => {
      const server = net.createServer((s) => {
        s.on('data', (d) => { received += d.length; });
        s.on('end', () => { s.end(); server.close(resolve); });
      });
      server.listen(${PORT}, '127.0.0.1', () => {
        const c = net.connect(${PORT}, '127.0.0.1', () => c.end(Buffer.alloc(${bytes}, 7)));
      });
    });
    await done;
    console.log(JSON.stringify({ received }));
  `);
  return (JSON.parse(out) as { received: number }).received;
}

const u64 = (coll: Collection, name: string): bigint => coll.variables[name]!.get() as bigint;
const MB4 = 4 << 20;

describe('struct_ops link feature probe', () => {
  it.skipIf(!root)('struct_ops links: supported from Linux 6.4, 6.4 named before', () => {
    expectVersionedFeature(structOpsLinkFeature.check(), '6.4');
  });
});

describe.skipIf(skip)('.struct_ops: a tcp_congestion_ops registered by the map update (5.6)', () => {
  it('registers on load, carries a loopback connection in a test namespace, unregisters on close', async () => {
    const coll = track(await loadCollection(only(spec, 'ebpfts_cc_map')));
    expect(Object.keys(coll.programs).sort()).toEqual(['ebpfts_cong_avoid', 'ebpfts_init', 'ebpfts_ssthresh', 'ebpfts_undo_cwnd']);
    expect(coll.maps.ebpfts_cc_map!.type).toBe(MapType.StructOps);
    expect(available()).toContain('ebpfts_cc_map');

    expect(selectCC('ebpfts_cc_map')).toBe('ebpfts_cc_map');
    expect(transfer(MB4)).toBe(MB4);
    // init runs once per connected socket: the client's and the server's.
    expect(u64(coll, 'init_calls')).toBeGreaterThanOrEqual(2n);
    expect(u64(coll, 'cong_avoid_calls')).toBeGreaterThan(0n);
    expect(u64(coll, 'init_v2_calls')).toBe(0n);

    selectCC('reno');
    coll.close();
    expect(available()).not.toContain('ebpfts_cc_map');
  });

  it('attachStructOps() takes over the registration: closing the link unregisters', async () => {
    const coll = track(await loadCollection(only(spec, 'ebpfts_cc_map')));
    const link = track(attachStructOps(coll.maps.ebpfts_cc_map!));
    expect(link.mode).toBe('attachment');
    expect(link.what).toBe('struct_ops ebpfts_cc_map');
    expect(() => link.update(coll.maps.ebpfts_cc_map!)).toThrow(NotSupportedError);
    expect(available()).toContain('ebpfts_cc_map');
    link.close();
    expect(available()).not.toContain('ebpfts_cc_map');
    // Registered once only: a second registration is refused with what to do.
    expect(() => attachStructOps(coll.maps.ebpfts_cc_map!)).toThrow(/was unregistered, and a struct_ops map registers only once/);
  });

  it('a second load of the same name is refused, naming the map and the clash', async () => {
    track(await loadCollection(only(spec, 'ebpfts_cc_map')));
    const err = await loadCollection(only(spec, 'ebpfts_cc_map')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StructOpsError);
    expect((err as StructOpsError).map).toBe('ebpfts_cc_map');
    expect((err as Error).message).toMatch(/struct_ops map ebpfts_cc_map: registering it \(the map update\) failed with .*EEXIST.*with the same name is registered already/);
    // The failed load left nothing registered twice, and the first one still is.
    expect(available().filter((n) => n === 'ebpfts_cc_map')).toHaveLength(1);
  });

  it('attachStructOps refuses maps that are not struct_ops maps', async () => {
    const coll = track(await loadCollection(only(spec, 'ebpfts_cc_map')));
    expect(() => attachStructOps(coll.maps['.bss']!)).toThrow(ArgumentError);
  });

  it.skipIf(has('6.4'))('before 6.4 a .struct_ops.link map is refused with NotSupportedError naming 6.4', async () => {
    const err = await loadCollection(only(spec, 'ebpfts_cc')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as NotSupportedError).minimumVersion).toBe('6.4');
    expect((err as Error).message).toMatch(/ebpfts_cc/);
    expect(available()).not.toContain('ebpfts_cc');
  });
});

describe.skipIf(linkSkip)('.struct_ops.link: registered by a struct_ops link (6.4)', () => {
  it('loading does not register; the link does, carries traffic, swaps maps with update(), unregisters on close', async () => {
    const coll = track(await loadCollection(only(spec, 'ebpfts_cc', 'ebpfts_cc_v2')));
    expect(coll.maps.ebpfts_cc!.flags & (1 << 13)).not.toBe(0);
    expect(available()).not.toContain('ebpfts_cc');

    const link = track(attachStructOps(coll.maps.ebpfts_cc!));
    expect(link.mode).toBe('bpf-link');
    expect(available()).toContain('ebpfts_cc');
    const info = link.info();
    expect(info.type).toBe(LinkType.StructOps);
    expect(info.structOps).toEqual({ mapId: coll.maps.ebpfts_cc!.info().id });

    expect(selectCC('ebpfts_cc')).toBe('ebpfts_cc');
    expect(transfer(MB4)).toBe(MB4);
    expect(u64(coll, 'init_calls')).toBeGreaterThanOrEqual(2n);
    expect(u64(coll, 'cong_avoid_calls')).toBeGreaterThan(0n);
    expect(u64(coll, 'init_v2_calls')).toBe(0n);

    // The same name, another init: new connections run ebpfts_init_v2. The namespace's default
    // points at the old implementation until it is selected again by name.
    link.update(coll.maps.ebpfts_cc_v2!, { oldMap: coll.maps.ebpfts_cc! });
    expect(link.info().structOps).toEqual({ mapId: coll.maps.ebpfts_cc_v2!.info().id });
    expect(available().filter((n) => n === 'ebpfts_cc')).toHaveLength(1);
    const before = u64(coll, 'init_calls');
    expect(selectCC('ebpfts_cc')).toBe('ebpfts_cc');
    expect(transfer(MB4)).toBe(MB4);
    expect(u64(coll, 'init_v2_calls')).toBeGreaterThanOrEqual(2n);
    expect(u64(coll, 'init_calls')).toBe(before);

    // BPF_F_REPLACE with a map the link no longer holds.
    expect(() => link.update(coll.maps.ebpfts_cc!, { oldMap: coll.maps.ebpfts_cc! })).toThrow(/no longer holds map ebpfts_cc/);

    selectCC('reno');
    link.close();
    expect(available()).not.toContain('ebpfts_cc');
  });

  it('attachStructOpsMaps registers every struct_ops map of a collection, and its links unregister them', async () => {
    const coll = track(await loadCollection(only(spec, 'ebpfts_cc_map', 'ebpfts_cc')));
    const links = attachStructOpsMaps(coll.maps);
    for (const l of Object.values(links)) track(l);
    expect(Object.keys(links).sort()).toEqual(['ebpfts_cc', 'ebpfts_cc_map']);
    expect(available()).toEqual(expect.arrayContaining(['ebpfts_cc', 'ebpfts_cc_map']));
    for (const l of Object.values(links)) l.close();
    expect(available()).not.toContain('ebpfts_cc');
    expect(available()).not.toContain('ebpfts_cc_map');
  });

  it('attachAll() registers the struct_ops maps too, without listing their programs as not attached', async () => {
    const coll = track(await loadCollection(only(spec, 'ebpfts_cc_map', 'ebpfts_cc')));
    const made = coll.attachAll();
    expect(Object.keys(made).sort()).toEqual(['ebpfts_cc', 'ebpfts_cc_map']);
    expect(coll.notAttached).toEqual({});
    expect(available()).toEqual(expect.arrayContaining(['ebpfts_cc', 'ebpfts_cc_map']));
    coll.close();
    expect(available()).not.toContain('ebpfts_cc');
    expect(available()).not.toContain('ebpfts_cc_map');
  });

  it('a second link for a registered name is refused', async () => {
    const coll = track(await loadCollection(only(spec, 'ebpfts_cc', 'ebpfts_cc_v2')));
    track(attachStructOps(coll.maps.ebpfts_cc!));
    expect(() => attachStructOps(coll.maps.ebpfts_cc_v2!)).toThrow(BpfError);
    expect(available().filter((n) => n === 'ebpfts_cc')).toHaveLength(1);
  });
});
