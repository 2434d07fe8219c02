// sockmap programs with real TCP connections over loopback (testdata/sockmap.bpf.c): an
// sk_msg verdict that redirects what one client sends into the other client's receive queue,
// and an sk_skb stream parser + verdict that count the bytes a server-side socket receives,
// both through a bpf_link (6.10+) and through BPF_PROG_ATTACH; Node net sockets added to the
// maps with addSocket. Detaching (and taking the sockets out of the map, which keep the
// programs they picked up when added) restores plain delivery.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { ArgumentError, SyscallError } from '../../src/errors.js';
import { socketCookie } from '../../src/internal/socket-fd.js';
import { Link, LinkType } from '../../src/link/link.js';
import { addSocket, attachSockmap, sockmapLinkFeature } from '../../src/link/sockmap.js';
import type { BpfMap } from '../../src/map.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { AttachType } from '../../src/types.js';
import { waitFor } from './helpers/sockets.js';

const object = new URL('../../testdata/sockmap.bpfel.o', import.meta.url).pathname;
const noRoot = process.getuid?.() === 0 ? undefined : 'needs root for bpf()';
const linkSkip = noRoot ?? (sockmapLinkFeature.supported() ? undefined : `sockmap links need Linux 6.10 (this is ${kernelVersion().toString()})`);

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function key(n: number): Uint8Array {
  const k = new Uint8Array(4);
  new DataView(k.buffer).setUint32(0, n, true);
  return k;
}

function u64(map: BpfMap, slot: number): bigint {
  return Buffer.from(map.lookup(key(slot)) as Uint8Array).readBigUInt64LE(0);
}

interface Pair {
  /** The client's socket. */
  client: net.Socket;
  /** The server's socket of the same connection. */
  server: net.Socket;
  /** What each side has read so far. */
  read: { client: string; server: string };
}

/** A listening server on 127.0.0.1 and `n` connections to it, with what each end reads. */
async function connections(n: number): Promise<Pair[]> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  cleanups.push(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const pairs: Pair[] = [];
  for (let i = 0; i < n; i++) {
    const client = net.connect(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    await new Promise<void>((resolve) => client.on('connect', resolve));
    expect(await waitFor(() => accepted.some((s) => s.remotePort === client.localPort))).toBe(true);
    const srv = accepted.find((s) => s.remotePort === client.localPort)!;
    cleanups.push(() => srv.destroy());
    const pair: Pair = { client, server: srv, read: { client: '', server: '' } };
    client.on('data', (d) => (pair.read.client += d.toString()));
    srv.on('data', (d) => (pair.read.server += d.toString()));
    pairs.push(pair);
  }
  return pairs;
}

async function load(): Promise<Collection> {
  const coll = await loadCollection(object);
  cleanups.push(() => coll.close());
  return coll;
}

const modes = [
  ['bpf-link', linkSkip],
  ['attachment', noRoot],
] as const;

describe.each(modes)('sk_msg verdict through %s', (mode, skip) => {
  it.skipIf(skip)('redirects what client 0 sends into client 1, counted byte for byte, until detached', async () => {
    const coll = await load();
    const map = coll.maps.msg_map!;
    const counts = coll.maps.sock_counts!;
    const [a, b] = await connections(2);
    const link = attachSockmap(coll.programs.redirect_msg!, map, undefined, { mode });
    cleanups.push(() => link.close());
    expect(link.mode).toBe(mode);
    expect(link.what).toBe('sk_msg verdict program redirect_msg on map msg_map');
    addSocket(map, 0, a!.client);
    addSocket(map, 1, b!.client);
    // 8-byte values: a lookup reads back the socket's cookie.
    expect(Buffer.from(map.lookup(key(0)) as Uint8Array).readBigUInt64LE(0)).toBe(socketCookie(a!.client));
    expect(Buffer.from(map.lookup(key(1)) as Uint8Array).readBigUInt64LE(0)).toBe(socketCookie(b!.client));

    const text = 'hello through the sockmap';
    a!.client.write(text);
    expect(await waitFor(() => b!.read.client === text)).toBe(true);
    expect(u64(counts, 1)).toBe(BigInt(text.length));
    expect(u64(counts, 0)).toBeGreaterThanOrEqual(1n);

    link.close();
    // The sockets keep the program they picked up when added: take them out of the map.
    map.delete(key(0));
    map.delete(key(1));
    a!.client.write('after');
    // Had the first text reached the server, it would come first.
    expect(await waitFor(() => a!.read.server === 'after')).toBe(true);
    expect(b!.read.client).toBe(text);
    expect(u64(counts, 1)).toBe(BigInt(text.length));
  });
});

describe.each(modes)('sk_skb stream parser and verdict through %s', (mode, skip) => {
  it.skipIf(skip)('count the bytes a server socket receives and let them through', async () => {
    const coll = await load();
    const map = coll.maps.skb_map!;
    const counts = coll.maps.sock_counts!;
    const [a] = await connections(1);
    const parser = attachSockmap(coll.programs.whole_message!, map, undefined, { mode });
    cleanups.push(() => parser.close());
    const verdict = attachSockmap(coll.programs.count_skb!, map, undefined, { mode });
    cleanups.push(() => verdict.close());
    expect(parser.what).toBe('sk_skb stream parser program whole_message on map skb_map');
    expect(verdict.what).toBe('sk_skb stream verdict program count_skb on map skb_map');
    addSocket(map, 0, a!.server);

    const text = 'x'.repeat(3000);
    a!.client.write(text);
    expect(await waitFor(() => a!.read.server.length === text.length)).toBe(true);
    expect(a!.read.server).toBe(text);
    expect(u64(counts, 3)).toBe(3000n);
    expect(u64(counts, 2)).toBeGreaterThanOrEqual(1n);
    expect(u64(counts, 4)).toBeGreaterThanOrEqual(1n);

    verdict.close();
    parser.close();
    map.delete(key(0));
    a!.client.write('tail');
    expect(await waitFor(() => a!.read.server.endsWith('tail'))).toBe(true);
    expect(u64(counts, 3)).toBe(3000n);
  });
});

describe.skipIf(linkSkip)('sockmap links', () => {
  it('report the map and attach type, and an skb verdict is refused next to a stream verdict, naming it', async () => {
    const coll = await load();
    const map = coll.maps.skb_map!;
    using link = attachSockmap(coll.programs.count_skb!, map);
    const info = link.info();
    expect(info.type).toBe(LinkType.Sockmap);
    expect(info.sockmap).toEqual({ mapId: map.info().id, attachType: AttachType.SKSKBStreamVerdict });
    let err: unknown;
    try {
      attachSockmap(coll.programs.count_skb!, map, AttachType.SKSKBVerdict);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyscallError);
    expect((err as SyscallError).code).toBe('EBUSY');
    expect((err as Error).message).toMatch(/sk_skb stream verdict is attached \(program \d+ \(count_skb\)\), which excludes sk_skb verdict/);
  });
});

const bpffs = existsSync('/sys/fs/bpf') && readFileSync('/proc/mounts', 'utf8').includes(' /sys/fs/bpf bpf ');

describe.skipIf(linkSkip ?? (bpffs ? undefined : 'no bpffs mounted at /sys/fs/bpf'))('a pinned sockmap link', () => {
  it('holds the slot after its object is closed and reopens from the pin with the same info', async () => {
    const coll = await load();
    const map = coll.maps.skb_map!;
    const pin = `/sys/fs/bpf/ebpf-ts-sockmap-${process.pid}`;
    cleanups.push(() => rmSync(pin, { force: true }));
    const link = attachSockmap(coll.programs.count_skb!, map);
    const info = link.info();
    link.pin(pin);
    link.close();
    // The slot is still held: a second verdict is EBUSY.
    expect(() => attachSockmap(coll.programs.count_skb!, map)).toThrow(/is held by program \d+ \(count_skb\)/);
    const again = Link.fromPin(pin);
    expect(again.info()).toEqual(info);
    again.unpin(pin);
    again.close();
    attachSockmap(coll.programs.count_skb!, map).close();
  });
});

describe.skipIf(noRoot)('sockmap attachments (BPF_PROG_ATTACH)', () => {
  it('do not silently replace the program in the slot; replace: true does, and each close detaches only its own', async () => {
    const coll = await load();
    const map = coll.maps.msg_map!;
    const first = attachSockmap(coll.programs.redirect_msg!, map, undefined, { mode: 'attachment' });
    cleanups.push(() => first.close());
    // sock_map_bpf_prog_query() arrived in 5.19: older kernels cannot say what the slot holds.
    if (kernelVersion().atLeast('5.19')) {
      expect(() => attachSockmap(coll.programs.redirect_msg!, map, undefined, { mode: 'attachment' })).toThrow(
        /the sk_msg verdict slot of map msg_map holds program \d+ \(redirect_msg\) already; BPF_PROG_ATTACH would replace it silently/,
      );
    }
    const second = attachSockmap(coll.programs.redirect_msg!, map, undefined, { mode: 'attachment', replace: true });
    second.close();
    expect(() => first.close()).not.toThrow(); // ENOENT: the slot is empty already
  });

  it('wrong program, attach type or map is an ArgumentError', async () => {
    const coll = await load();
    expect(() => attachSockmap(coll.programs.redirect_msg!, coll.maps.sock_counts!)).toThrow(/needs a SOCKMAP or SOCKHASH map; map sock_counts is ARRAY/);
    expect(() => attachSockmap(coll.programs.redirect_msg!, coll.maps.msg_map!, AttachType.SKSKBStreamVerdict)).toThrow(ArgumentError);
    expect(() => addSocket(coll.maps.sock_counts!, 0, 3)).toThrow(/addSocket needs a SOCKMAP or SOCKHASH or REUSEPORT_SOCKARRAY map/);
  });
});
