// XDP with real traffic: two network namespaces joined by a veth pair (sender `a`/va,
// receiver `b`/vb), xdp_count (testdata/xdp_count.bpf.c) attached to vb from inside b, UDP
// datagrams sent from a with Node's dgram and received (or not) by Node in b. Each test checks
// the exact packet and byte counts the program kept, what `xdpPrograms` and `ip link` report
// while attached and after close(), and that XDP_DROP drops. Both attach paths run: the BPF
// link where the kernel has it (5.9+) and netlink (`legacy: true`, and the only one before).
// The namespaces die with the test (and with the process), taking any attachment with them.
import { beforeEach, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { loadCollectionSpec } from '../../src/collection-spec.js';
import { ArgumentError, AttachTargetError, SyscallError } from '../../src/errors.js';
import { inNetns } from '../../src/internal/netns.js';
import { NetlinkError } from '../../src/internal/netlink.js';
import type { Link } from '../../src/link/link.js';
import { attachXDP, xdpLinkFeature, xdpPrograms, type XDPAttachment, type XDPOptions } from '../../src/link/xdp.js';
import type { BpfMap } from '../../src/map.js';
import { Errno } from '../../src/sys/errno.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { netnsUnavailable, TestNetns, vethPair } from './helpers/netns.js';
import { caught, closeAfterEach } from './helpers/per-test.js';
import { udpTraffic } from './helpers/udp-receiver.js';

const COUNT_OBJ = new URL('../../testdata/xdp_count.bpfel.o', import.meta.url).pathname;
const REDIRECT_OBJ = new URL('../../testdata/xdp_redirect.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const skip = !root ? 'needs root for bpf() and network namespaces' : netnsUnavailable();
if (skip !== undefined) console.warn(`skipping XDP tests: ${skip}`);
const linkSkip = skip ?? (xdpLinkFeature.supported() ? undefined : 'this kernel has no XDP links (5.9+): the netlink tests cover it');

const PORT = 7777;
const A = '10.210.1.1';
const B = '10.210.1.2';
// Ethernet 14 + IPv4 20 + UDP 8 + 32 bytes of payload (sendUdp's default).
const FRAME = 74;
const IPPROTO_UDP = 17;

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
  return track(await loadCollection(spec));
}

function attachInB(prog: Parameters<typeof attachXDP>[0], options: XDPOptions): Link {
  return track(inNetns(b.path, () => attachXDP(prog, options)));
}

const programsOnVb = (): XDPAttachment[] => inNetns(b.path, () => xdpPrograms('vb'));
const vbIndex = (): number => (JSON.parse(b.ip('-j', 'link', 'show', 'vb')) as Array<{ ifindex: number }>)[0]!.ifindex;

/** `ip -d -j link show vb` in b: the XDP program ids iproute2 sees, by mode. */
function ipLinkXdp(): Record<string, number> {
  const [dev] = JSON.parse(b.ip('-d', '-j', 'link', 'show', 'vb')) as Array<{ xdp?: { mode: number; prog?: { id: number }; attached?: Array<{ mode: number; prog: { id: number } }> } }>;
  const out: Record<string, number> = {};
  const names: Record<number, string> = { 1: 'driver', 2: 'generic', 3: 'offload' };
  if (dev?.xdp === undefined) return out;
  for (const x of dev.xdp.attached ?? [{ mode: dev.xdp.mode, prog: dev.xdp.prog! }]) if (x.prog !== undefined) out[names[x.mode] ?? String(x.mode)] = x.prog.id;
  return out;
}

function counter(map: BpfMap, key: number): { packets: bigint; bytes: bigint } {
  const k = new Uint8Array(4);
  new DataView(k.buffer).setUint32(0, key, true);
  const v = map.lookup(k) as Uint8Array | undefined;
  if (v === undefined) return { packets: 0n, bytes: 0n };
  const d = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return { packets: d.getBigUint64(0, true), bytes: d.getBigUint64(8, true) };
}

/** Sends `n` datagrams from a to b:PORT and returns how many b's socket received. */
const traffic = (n: number, size = 32): Promise<{ sent: number; received: number }> => udpTraffic(a, b, B, PORT, n, size);

describe.skipIf(skip !== undefined)('attachXDP with traffic between namespaces', () => {
  const paths: Array<{ name: string; options: Partial<XDPOptions>; mode: 'bpf-link' | 'attachment'; skip?: string }> = [
    { name: 'BPF link, driver mode (the default on veth)', options: {}, mode: 'bpf-link', skip: linkSkip },
    { name: 'BPF link, generic mode', options: { mode: 'generic' }, mode: 'bpf-link', skip: linkSkip },
    { name: 'netlink, driver mode', options: { legacy: true, mode: 'driver' }, mode: 'attachment' },
    { name: 'netlink, generic mode', options: { legacy: true, mode: 'generic' }, mode: 'attachment' },
  ];
  for (const p of paths) {
    it.skipIf(p.skip !== undefined)(`${p.name}: counts every datagram exactly, shows in queries, and close() removes it`, async () => {
      const coll = await countObject();
      const prog = coll.programs.xdp_count!;
      const link = attachInB(prog, { interface: 'vb', ...p.options });
      expect(link.mode).toBe(p.mode);
      const mode = p.options.mode ?? 'driver';
      const id = prog.info().id;
      expect(programsOnVb()).toEqual([{ mode, programId: id, programName: 'xdp_count' }]);
      expect(ipLinkXdp()).toEqual({ [mode]: id });

      const { sent, received } = await traffic(5);
      expect(sent).toBe(5);
      expect(received).toBe(5);
      expect(counter(coll.maps.watched!, 0)).toEqual({ packets: 5n, bytes: BigInt(5 * FRAME) });
      expect(counter(coll.maps.counts!, IPPROTO_UDP)).toEqual({ packets: 5n, bytes: BigInt(5 * FRAME) });
      // The ARP exchange before the first datagram went through it too.
      expect(counter(coll.maps.counts!, 0x10806).packets).toBeGreaterThanOrEqual(1n);

      link.close();
      expect(programsOnVb()).toEqual([]);
      expect(ipLinkXdp()).toEqual({});
      const after = await traffic(3);
      expect(after.received).toBe(3);
      expect(counter(coll.maps.watched!, 0).packets).toBe(5n);
    });
  }

  it('XDP_DROP really drops: the program counts every datagram, the receiver gets none (both paths)', async () => {
    const coll = await countObject({ drop_watched: 1 });
    for (const legacy of linkSkip === undefined ? [false, true] : [true]) {
      const link = attachInB(coll.programs.xdp_count!, { interface: 'vb', mode: 'generic', legacy });
      const before = counter(coll.maps.watched!, 0).packets;
      const { sent, received } = await traffic(4);
      expect(sent).toBe(4);
      expect(received).toBe(0);
      expect(counter(coll.maps.watched!, 0).packets - before).toBe(4n);
      link.close();
    }
    expect((await traffic(2)).received).toBe(2);
  });

  it('an interface given by index is the same interface', async () => {
    const coll = await countObject();
    attachInB(coll.programs.xdp_count!, { interface: vbIndex(), mode: 'generic', legacy: true });
    expect(inNetns(b.path, () => xdpPrograms(vbIndex()))).toEqual(programsOnVb());
    expect(programsOnVb()).toHaveLength(1);
    expect((await traffic(2)).received).toBe(2);
    expect(counter(coll.maps.watched!, 0).packets).toBe(2n);
  });

  it('a second program in the same mode is refused (XDP_FLAGS_UPDATE_IF_NOEXIST / link), naming what runs', async () => {
    const coll = await countObject();
    const first = coll.programs.xdp_count!;
    const id = first.info().id;
    attachInB(first, { interface: 'vb', mode: 'generic', legacy: true });
    const legacy = caught(() => attachInB(coll.programs.xdp_pass!, { interface: 'vb', mode: 'generic', legacy: true }));
    expect(legacy).toBeInstanceOf(NetlinkError);
    expect((legacy as SyscallError).errno).toBe(Errno.EBUSY);
    expect(legacy.message).toContain(`generic mode program id ${id} (xdp_count) is attached now`);
    expect(legacy.message).toMatch(/kernel: "XDP program already attached"/);
    // The same with the flag spelled out, libbpf style.
    const flagged = caught(() => attachInB(coll.programs.xdp_pass!, { interface: 'vb', flags: 1 | 2, legacy: true }));
    expect((flagged as SyscallError).errno).toBe(Errno.EBUSY);
    if (linkSkip === undefined) {
      const byLink = caught(() => attachInB(coll.programs.xdp_pass!, { interface: 'vb', mode: 'generic' }));
      expect(byLink).toBeInstanceOf(SyscallError);
      expect((byLink as SyscallError).errno).toBe(Errno.EBUSY);
      expect(byLink.message).toContain(`generic mode program id ${id} (xdp_count) is attached now`);
      expect(byLink.message).toContain('a BPF link never replaces one');
    }
    // Nothing changed.
    expect(programsOnVb()).toEqual([{ mode: 'generic', programId: id, programName: 'xdp_count' }]);
  });

  it('driver and generic at once: EEXIST with the kernel\'s own explanation', async () => {
    const coll = await countObject();
    attachInB(coll.programs.xdp_count!, { interface: 'vb', mode: 'generic', legacy: true });
    const err = caught(() => attachInB(coll.programs.xdp_pass!, { interface: 'vb', mode: 'driver', legacy: true }));
    expect((err as SyscallError).errno).toBe(Errno.EEXIST);
    expect((err as NetlinkError).kernelMessage).toMatch(/native and generic XDP can't be active at the same time/i);
    expect(err.message).toContain('(xdp_count) is attached now');
  });

  it('replace swaps the program atomically; the replaced link\'s close() leaves the new one alone', async () => {
    const coll = await countObject({ drop_watched: 1 });
    const counting = coll.programs.xdp_count!;
    const passing = coll.programs.xdp_pass!;
    const first = attachInB(counting, { interface: 'vb', mode: 'generic' });
    let current = first;
    if (first.mode === 'bpf-link') {
      // A program held by a BPF link is not replaced through netlink.
      expect((caught(() => attachInB(passing, { interface: 'vb', mode: 'generic', replace: counting })) as SyscallError).errno).toBe(Errno.EBUSY);
      first.close();
      current = attachInB(counting, { interface: 'vb', mode: 'generic', legacy: true });
    }
    expect((await traffic(2)).received).toBe(0);
    // The wrong expected program: EEXIST, nothing changes.
    const wrong = caught(() => attachInB(passing, { interface: 'vb', mode: 'generic', replace: passing }));
    expect((wrong as SyscallError).errno).toBe(Errno.EEXIST);
    expect((wrong as NetlinkError).kernelMessage).toMatch(/does not match expected/);
    const second = attachInB(passing, { interface: 'vb', mode: 'generic', replace: counting });
    expect(programsOnVb()).toEqual([{ mode: 'generic', programId: passing.info().id, programName: 'xdp_pass' }]);
    expect((await traffic(2)).received).toBe(2);
    current.close();
    expect(programsOnVb().map((x) => x.programName)).toEqual(['xdp_pass']);
    second.close();
    expect(programsOnVb()).toEqual([]);
    // replace: true takes whatever runs.
    attachInB(counting, { interface: 'vb', mode: 'generic', legacy: true });
    const any = attachInB(passing, { interface: 'vb', mode: 'generic', replace: true });
    expect(programsOnVb().map((x) => x.programName)).toEqual(['xdp_pass']);
    any.close();
    expect(programsOnVb()).toEqual([]);
  });

  it('Link.update swaps the program in place (BPF_LINK_UPDATE / XDP_FLAGS_REPLACE); detach() removes it while the link stays open', async () => {
    const coll = await countObject({ drop_watched: 1 });
    const counting = coll.programs.xdp_count!;
    const passing = coll.programs.xdp_pass!;
    for (const legacy of linkSkip === undefined ? [false, true] : [true]) {
      const link = attachInB(counting, { interface: 'vb', mode: 'generic', legacy });
      expect((await traffic(2)).received).toBe(0);
      link.update(passing, { oldProgram: counting });
      expect(programsOnVb().map((x) => x.programName)).toEqual(['xdp_pass']);
      expect((await traffic(2)).received).toBe(2);
      // The old program is no longer what runs.
      expect(caught(() => link.update(counting, { oldProgram: counting }))).toBeInstanceOf(SyscallError);
      expect(caught(() => link.update(coll.programs.tc_count!))).toBeInstanceOf(legacy ? ArgumentError : SyscallError);
      link.update(counting);
      expect(programsOnVb().map((x) => x.programName)).toEqual(['xdp_count']);
      link.detach();
      expect(programsOnVb()).toEqual([]);
      link.close();
    }
    // close() after update removes the program the link runs now.
    const link = attachInB(counting, { interface: 'vb', mode: 'generic', legacy: true });
    link.update(passing);
    link.close();
    expect(programsOnVb()).toEqual([]);
  });

  it('a netlink attachment survives its program object being closed and is still removed exactly', async () => {
    const coll = await countObject();
    const link = attachInB(coll.programs.xdp_count!, { interface: 'vb', mode: 'generic', legacy: true });
    coll.programs.xdp_count!.close();
    expect(programsOnVb().map((x) => x.programName)).toEqual(['xdp_count']);
    expect((await traffic(2)).received).toBe(2);
    expect(counter(coll.maps.watched!, 0).packets).toBe(2n);
    link.close();
    expect(programsOnVb()).toEqual([]);
  });

  it('typed errors before any syscall: wrong program type, devmap program, bad options; a missing interface is an AttachTargetError', async () => {
    const coll = await countObject();
    const tc = caught(() => attachXDP(coll.programs.tc_count!, { interface: 'lo' }));
    expect(tc).toBeInstanceOf(ArgumentError);
    expect(tc.message).toMatch(/needs an XDP program; tc_count is SCHED_CLS/);
    const xdp = coll.programs.xdp_count!;
    expect(caught(() => attachXDP(xdp, { interface: 'lo', mode: 'turbo' as 'generic' }))).toBeInstanceOf(ArgumentError);
    expect(caught(() => attachXDP(xdp, { interface: 'lo', flags: 2 | 4 }))).toBeInstanceOf(ArgumentError);
    expect(caught(() => attachXDP(xdp, { interface: 'lo', flags: 1 << 7 }))).toBeInstanceOf(ArgumentError);
    expect(caught(() => attachXDP(xdp, { interface: 'lo', replace: true, flags: 1 }))).toBeInstanceOf(ArgumentError);
    expect(caught(() => attachXDP(xdp, { interface: 'lo', replace: true, legacy: false }))).toBeInstanceOf(ArgumentError);
    const missing = caught(() => inNetns(b.path, () => attachXDP(xdp, { interface: 'nope0' })));
    expect(missing).toBeInstanceOf(AttachTargetError);
    expect(missing.message).toMatch(/nope0 does not exist .* has lo, vb/);
    expect(caught(() => inNetns(b.path, () => attachXDP(xdp, { interface: 999 })))).toBeInstanceOf(AttachTargetError);
    expect(caught(() => inNetns(b.path, () => xdpPrograms('nope0')))).toBeInstanceOf(AttachTargetError);

    const spec = await loadCollectionSpec(REDIRECT_OBJ);
    using redirect = await loadCollection(spec, { programs: ['devmap_count'] });
    const dm = caught(() => attachXDP(redirect.programs.devmap_count!, { interface: 'lo' }));
    expect(dm).toBeInstanceOf(ArgumentError);
    expect(dm.message).toMatch(/xdp\/devmap program: it runs from a devmap/);
  });
});

/** struct bpf_devmap_val / bpf_cpumap_val: a u32 (ifindex or qsize) and the program's fd. */
function mapValue(first: number, fd: number): Uint8Array {
  const v = new Uint8Array(8);
  const d = new DataView(v.buffer);
  d.setUint32(0, first, true);
  d.setInt32(4, fd, true);
  return v;
}

const key0 = new Uint8Array(4);

function hit(map: BpfMap, i: number): bigint {
  const k = new Uint8Array(4);
  new DataView(k.buffer).setUint32(0, i, true);
  const v = map.lookup(k) as Uint8Array;
  return new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true);
}

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

describe.skipIf(skip !== undefined)('devmap, cpumap and frags programs (testdata/xdp_redirect.bpf.c)', () => {
  it('an xdp/devmap program in a devmap entry runs on every packet redirected into it', async () => {
    const spec = await loadCollectionSpec(REDIRECT_OBJ);
    spec.rewriteConstants({ watch_port: PORT });
    const coll = await loadCollection(spec, { programs: ['xdp_to_devmap', 'devmap_count'] });
    track(coll);
    // The devmap resolves the ifindex in the namespace of the thread that updates the entry.
    inNetns(b.path, () => coll.maps.tx_port!.update(key0, mapValue(vbIndex(), coll.programs.devmap_count!.fd)));
    // veth takes redirected frames only while its peer runs XDP (NETDEV_XDP_ACT_NDO_XMIT).
    const peer = await countObject();
    track(inNetns(a.path, () => attachXDP(peer.programs.xdp_pass!, { interface: 'va', mode: 'driver' })));
    attachInB(coll.programs.xdp_to_devmap!, { interface: 'vb', mode: 'driver' });
    const { sent, received } = await traffic(5);
    expect(sent).toBe(5);
    expect(received).toBe(0); // the devmap program dropped them
    await waitFor(() => hit(coll.maps.hits!, 0) >= 5n);
    expect(hit(coll.maps.hits!, 0)).toBe(5n);
  });

  it('an xdp/cpumap program in a cpumap entry runs on every packet redirected into it', async () => {
    const spec = await loadCollectionSpec(REDIRECT_OBJ);
    spec.rewriteConstants({ watch_port: PORT });
    const coll = await loadCollection(spec, { programs: ['xdp_to_cpumap', 'cpumap_count'] });
    track(coll);
    coll.maps.cpus!.update(key0, mapValue(192, coll.programs.cpumap_count!.fd));
    attachInB(coll.programs.xdp_to_cpumap!, { interface: 'vb', mode: 'driver' });
    const { received } = await traffic(5);
    expect(received).toBe(0);
    await waitFor(() => hit(coll.maps.hits!, 1) >= 5n);
    expect(hit(coll.maps.hits!, 1)).toBe(5n);
  });

  const fragsSkip = kernelVersion().atLeast('6.0') ? undefined : 'veth takes multi-buffer XDP programs from Linux 6.0 (BPF_F_XDP_HAS_FRAGS is 5.18)';
  it.skipIf(fragsSkip !== undefined)('xdp.frags: on a 9000-byte MTU veth only the frags-aware program attaches, and it sees whole 8000-byte datagrams', async () => {
    a.ip('link', 'set', 'va', 'mtu', '9000');
    b.ip('link', 'set', 'vb', 'mtu', '9000');
    const count = await countObject();
    const refused = caught(() => attachInB(count.programs.xdp_pass!, { interface: 'vb', mode: 'driver', legacy: true }));
    expect((refused as SyscallError).errno).toBe(Errno.ERANGE);
    expect((refused as NetlinkError).kernelMessage).toMatch(/MTU is too large/);
    expect(refused.message).toMatch(/SEC\("xdp.frags"\)/);

    const spec = await loadCollectionSpec(REDIRECT_OBJ);
    spec.rewriteConstants({ watch_port: PORT });
    const coll = await loadCollection(spec, { programs: ['frags_count'] });
    track(coll);
    attachInB(coll.programs.frags_count!, { interface: 'vb', mode: 'driver' });
    const { sent, received } = await traffic(3, 8000);
    expect(sent).toBe(3);
    expect(received).toBe(3);
    expect(hit(coll.maps.hits!, 2)).toBe(3n);
    expect(hit(coll.maps.hits!, 3)).toBe(3n * (8000n + 42n));
  });
});
