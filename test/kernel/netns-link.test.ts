// Network namespace attachments with real traffic inside test namespaces:
// - sk_lookup (testdata/sk_lookup.bpf.c) steering TCP connections and UDP datagrams for port
//   7007, where nothing listens, to sockets bound elsewhere that sit in a SOCKMAP; a client in
//   the namespace connects and sends, this process serves;
// - flow_dissector (testdata/netns_flow.bpf.c) dissecting the packets an AF_PACKET fanout
//   socket hashes, through a netns link and through BPF_PROG_ATTACH;
// with link info (netns inode, attach type), conflicts explained, and errors for targets that
// are not network namespaces.
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { AttachTargetError, SyscallError } from '../../src/errors.js';
import { inNetns } from '../../src/internal/netns.js';
import { Link, LinkType } from '../../src/link/link.js';
import { attachNetns, netnsLinkFeature } from '../../src/link/netns.js';
import { addSocket } from '../../src/link/sockmap.js';
import type { BpfMap } from '../../src/map.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { backend } from '../../src/sys/select.js';
import { AttachType } from '../../src/types.js';
import { netnsUnavailable, sendUdp, TestNetns } from './helpers/netns.js';
import { AF_PACKET, drain, intOpt, makeSocket, nodeInNetnsAsync, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, waitFor } from './helpers/sockets.js';

const lookupObject = new URL('../../testdata/sk_lookup.bpfel.o', import.meta.url).pathname;
const flowObject = new URL('../../testdata/netns_flow.bpfel.o', import.meta.url).pathname;
const noRoot = process.getuid?.() === 0 ? undefined : 'needs root for bpf()';
const nsSkip = noRoot ?? netnsUnavailable();
const lookupSkip = nsSkip ?? (kernelVersion().atLeast('5.9') ? undefined : 'sk_lookup needs Linux 5.9');
const linkSkip = nsSkip ?? (netnsLinkFeature.supported() ? undefined : 'netns links need Linux 5.8');

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function u64(map: BpfMap, slot: number): bigint {
  const k = new Uint8Array(4);
  new DataView(k.buffer).setUint32(0, slot, true);
  return Buffer.from(map.lookup(k) as Uint8Array).readBigUInt64LE(0);
}

function namespace(): TestNetns {
  const ns = TestNetns.create();
  cleanups.push(() => ns.close());
  return ns;
}

async function load(path: string): Promise<Collection> {
  const coll = await loadCollection(path);
  cleanups.push(() => coll.close());
  return coll;
}

/** The client the sk_lookup test runs in the namespace: one TCP connection and three datagrams to 127.0.0.1:7007. */
const CLIENT = `
  import net from 'node:net';
  import dgram from 'node:dgram';
  const tcp = await new Promise((resolve) => {
    const c = net.connect(7007, '127.0.0.1');
    c.on('connect', () => c.end('tcp via sk_lookup', () => resolve('connected')));
    c.on('error', (e) => resolve(e.code));
  });
  const u = dgram.createSocket('udp4');
  for (let i = 0; i < 3; i++) await new Promise((r) => u.send('udp via sk_lookup', 7007, '127.0.0.1', r));
  u.close();
  console.log(JSON.stringify({ tcp }));
`;

describe.skipIf(lookupSkip)('sk_lookup through a netns link', () => {
  it('steers connections and datagrams for port 7007 to sockets bound elsewhere, until detached', async () => {
    const ns = namespace();
    const b = backend();
    // Sockets made inside the namespace (they stay there): a TCP listener on 8008, served by a
    // Node server in this process, and a UDP socket on 8009.
    const [tcpFd, udpFd] = inNetns(ns.path, () => [
      makeSocket(SOCK_STREAM, { address: '127.0.0.1', port: 8008 }),
      makeSocket(SOCK_DGRAM, { address: '127.0.0.1', port: 8009 }),
    ]);
    cleanups.push(() => b.close(udpFd!));
    const received: string[] = [];
    const server = net.createServer((c) => c.on('data', (d) => received.push(d.toString())));
    cleanups.push(() => server.close());
    await new Promise<void>((resolve) => server.listen({ fd: tcpFd! }, resolve));

    const coll = await load(lookupObject);
    const sockets = coll.maps.lookup_sockets!;
    const counts = coll.maps.lookup_counts!;
    addSocket(sockets, 0, server);
    addSocket(sockets, 1, udpFd!);
    const link = attachNetns(coll.programs.steer!, { netns: ns.path });
    cleanups.push(() => link.close());
    expect(link.mode).toBe('bpf-link');
    expect(link.what).toMatch(new RegExp(`^sk_lookup program steer in netns ${ns.path} \\(net:\\[\\d+\\]\\)$`));
    const info = link.info();
    expect(info.type).toBe(LinkType.NetNs);
    expect(info.netns).toEqual({ netnsIno: statSync(ns.path).ino, attachType: AttachType.SKLookup });

    expect(JSON.parse(await nodeInNetnsAsync(ns, CLIENT))).toEqual({ tcp: 'connected' });
    expect(await waitFor(() => received.join('') === 'tcp via sk_lookup')).toBe(true);
    const datagrams: number[] = [];
    expect(await waitFor(() => (datagrams.push(...drain(udpFd!)), datagrams.length >= 3))).toBe(true);
    expect(datagrams).toEqual([17, 17, 17]);
    // One lookup per connection (its SYN), one per unconnected datagram.
    expect(u64(counts, 0)).toBe(1n);
    expect(u64(counts, 1)).toBe(3n);
    expect(u64(counts, 2)).toBe(0n);

    link.close();
    expect(JSON.parse(await nodeInNetnsAsync(ns, CLIENT))).toEqual({ tcp: 'ECONNREFUSED' });
    expect(drain(udpFd!)).toEqual([]);
    expect(u64(counts, 0)).toBe(1n);
    expect(u64(counts, 1)).toBe(3n);
  });

  it('sk_lookup has no BPF_PROG_ATTACH form', async () => {
    const coll = await load(lookupObject);
    expect(() => attachNetns(coll.programs.steer!, { mode: 'attachment' })).toThrow(/sk_lookup programs attach through netns links only/);
  });
});

const PACKET_FANOUT = 18;
const SOL_PACKET = 263;
const ETH_P_IP_BE = 0x0008; // htons(ETH_P_IP) on a little-endian host

/**
 * An AF_PACKET socket in `ns` for received IPv4 packets, in a hash fanout group: every packet
 * it takes is hashed by __skb_get_hash_symmetric(), which runs the namespace's flow dissector.
 */
function fanoutSocket(ns: TestNetns): number {
  const b = backend();
  const fd = inNetns(ns.path, () => b.socket(AF_PACKET, SOCK_RAW, ETH_P_IP_BE));
  if (fd < 0) throw new Error(`AF_PACKET socket: errno ${-fd}`);
  cleanups.push(() => b.close(fd));
  const r = b.setsockopt(fd, SOL_PACKET, PACKET_FANOUT, intOpt(0x4242)); // PACKET_FANOUT_HASH = 0
  if (r < 0) throw new Error(`PACKET_FANOUT: errno ${-r}`);
  return fd;
}

const flowModes = [
  ['bpf-link', linkSkip],
  ['attachment', nsSkip],
] as const;

describe.each(flowModes)('flow_dissector through %s', (mode, skip) => {
  it.skipIf(skip)('dissects every UDP packet the namespace receives, and nothing once detached', async () => {
    const ns = namespace();
    const coll = await load(flowObject);
    const counts = coll.maps.flow_counts!;
    const packets = fanoutSocket(ns);
    const link = attachNetns(coll.programs.dissect!, { netns: ns.path, mode });
    cleanups.push(() => link.close());
    expect(link.mode).toBe(mode);
    if (mode === 'bpf-link') {
      const info = link.info();
      expect(info.type).toBe(LinkType.NetNs);
      expect(info.netns).toEqual({ netnsIno: statSync(ns.path).ino, attachType: AttachType.FlowDissector });
    }
    expect(sendUdp(ns, '127.0.0.1', 9009, 5)).toBe(5);
    expect(await waitFor(() => u64(counts, 1) >= 5n)).toBe(true);
    expect(u64(counts, 1)).toBe(5n);
    drain(packets);

    // update(): a second copy of the program takes over (BPF_LINK_UPDATE, or BPF_PROG_ATTACH
    // in the namespace), and counts in its own map.
    const next = await load(flowObject);
    link.update(next.programs.dissect!, { oldProgram: coll.programs.dissect! });
    expect(sendUdp(ns, '127.0.0.1', 9009, 3)).toBe(3);
    expect(await waitFor(() => u64(next.maps.flow_counts!, 1) >= 3n)).toBe(true);
    expect(u64(next.maps.flow_counts!, 1)).toBe(3n);
    expect(u64(counts, 1)).toBe(5n);
    drain(packets);

    link.close();
    expect(sendUdp(ns, '127.0.0.1', 9009, 5)).toBe(5);
    expect(await waitFor(() => drain(packets).length >= 5)).toBe(true);
    expect(u64(counts, 1)).toBe(5n);
  });
});

describe.skipIf(linkSkip)('flow_dissector conflicts', () => {
  it('a second link is E2BIG and an attachment next to a link EEXIST, each naming the program there', async () => {
    const ns = namespace();
    const coll = await load(flowObject);
    using link = attachNetns(coll.programs.dissect!, { netns: ns.path });
    let err: unknown;
    try {
      attachNetns(coll.programs.dissect!, { netns: ns.path });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).code).toBe('E2BIG');
    expect((err as Error).message).toMatch(/has a flow dissector link already \(attached there now: program \d+ \(dissect\)\): a namespace takes one/);
    expect(() => attachNetns(coll.programs.dissect!, { netns: ns.path, mode: 'attachment' })).toThrow(/has a flow dissector already: program \d+ \(dissect\)/);
    link.close();
    // With the link gone, the attachment goes in; then a link is refused next to it (EEXIST).
    using attached = attachNetns(coll.programs.dissect!, { netns: ns.path, mode: 'attachment' });
    expect(attached.mode).toBe('attachment');
    expect(() => attachNetns(coll.programs.dissect!, { netns: ns.path })).toThrow(/with BPF_PROG_ATTACH, which links cannot join \(attached there now: program \d+ \(dissect\)\)/);
  });
});

const bpffs = existsSync('/sys/fs/bpf') && readFileSync('/proc/mounts', 'utf8').includes(' /sys/fs/bpf bpf ');
const pinSkip = linkSkip ?? (bpffs ? undefined : 'no bpffs mounted at /sys/fs/bpf');

describe.skipIf(pinSkip)('a pinned netns link', () => {
  it('keeps the flow dissector attached after its object is closed, reopens from the pin, and detaches with the pin', async () => {
    const ns = namespace();
    const coll = await load(flowObject);
    const counts = coll.maps.flow_counts!;
    const packets = fanoutSocket(ns);
    const pin = `/sys/fs/bpf/ebpf-ts-netns-${process.pid}`;
    cleanups.push(() => rmSync(pin, { force: true }));
    const link = attachNetns(coll.programs.dissect!, { netns: ns.path });
    const id = link.info().id;
    link.pin(pin);
    link.close();
    expect(sendUdp(ns, '127.0.0.1', 9009, 2)).toBe(2);
    expect(await waitFor(() => u64(counts, 1) >= 2n)).toBe(true);
    const again = Link.fromPin(pin);
    expect(again.info()).toMatchObject({ id, type: LinkType.NetNs, netns: { netnsIno: statSync(ns.path).ino, attachType: AttachType.FlowDissector } });
    again.unpin(pin);
    again.close();
    drain(packets);
    expect(sendUdp(ns, '127.0.0.1', 9009, 2)).toBe(2);
    expect(await waitFor(() => drain(packets).length >= 2)).toBe(true);
    expect(u64(counts, 1)).toBe(2n);
  });
});

describe.skipIf(noRoot)('attachNetns refuses what is not a network namespace', () => {
  it('a mount namespace, a regular file, a missing name, an fd that is not a namespace', async () => {
    const coll = await load(flowObject);
    const prog = coll.programs.dissect!;
    expect(() => attachNetns(prog, { netns: '/proc/self/ns/mnt' })).toThrow(AttachTargetError);
    expect(() => attachNetns(prog, { netns: '/proc/self/ns/mnt' })).toThrow(/\/proc\/self\/ns\/mnt is not a network namespace \(it is mnt:\[\d+\]\)/);
    expect(() => attachNetns(prog, { netns: '/etc/hostname' })).toThrow(/\/etc\/hostname is not a network namespace/);
    expect(() => attachNetns(prog, { netns: 'ebpf-ts-no-such-netns' })).toThrow(/cannot open network namespace \/run\/netns\/ebpf-ts-no-such-netns: ENOENT/);
    expect(() => attachNetns(prog, { netns: 0 })).toThrow(/fd 0 is .*not a network namespace/);
    expect(() => attachNetns(prog, { netns: 987_654 })).toThrow(/fd 987654 is not open/);
  });
});
