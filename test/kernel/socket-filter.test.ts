// Socket filters (SO_ATTACH_BPF) and reuseport programs (SO_ATTACH_REUSEPORT_EBPF) with real
// datagrams over loopback: testdata/sock_filter.bpf.c on a Node dgram socket (drops datagrams
// above a size, counts every one), testdata/sk_reuseport.bpf.c choosing the socket of an
// SO_REUSEPORT group inside a test namespace. Detaching restores delivery; a socket closed
// before its link leaves nothing to detach, and an fd number reused meanwhile is left alone.
import dgram from 'node:dgram';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCollection, type Collection } from '../../src/collection.js';
import { AttachTargetError } from '../../src/errors.js';
import { inNetns } from '../../src/internal/netns.js';
import { socketCookie, socketFd } from '../../src/internal/socket-fd.js';
import { attachReuseport, attachSocketFilter } from '../../src/link/socket-filter.js';
import { addSocket } from '../../src/link/sockmap.js';
import type { BpfMap } from '../../src/map.js';
import { backend } from '../../src/sys/select.js';
import { netnsUnavailable, TestNetns } from './helpers/netns.js';
import { drain, makeSocket, sendDatagram, SOCK_DGRAM, waitFor } from './helpers/sockets.js';

const filterObject = new URL('../../testdata/sock_filter.bpfel.o', import.meta.url).pathname;
const reuseportObject = new URL('../../testdata/sk_reuseport.bpfel.o', import.meta.url).pathname;
const noRoot = process.getuid?.() === 0 ? undefined : 'needs root for bpf()';
const SO_GET_FILTER = 26;

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function u64(map: BpfMap, slot: number): bigint {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, slot, true);
  return Buffer.from(map.lookup(key) as Uint8Array).readBigUInt64LE(0);
}

/** A udp4 socket bound to 127.0.0.1 on a free port, closed after the test. */
async function boundUdp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  cleanups.push(() => {
    try {
      s.close();
    } catch {
      /* closed by the test */
    }
  });
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return s;
}

/**
 * A bound receiver that records the size of each datagram it gets, and `deliver(sizes)`, which
 * sends those sizes from another socket and then a 1-byte marker: once the marker is in, every
 * earlier datagram was delivered or dropped (one loopback path). True when the marker came.
 */
async function loopbackPair(): Promise<{ receiver: dgram.Socket; got: number[]; deliver(sizes: number[]): Promise<boolean> }> {
  const receiver = await boundUdp();
  const port = receiver.address().port;
  const got: number[] = [];
  receiver.on('message', (m) => got.push(m.length));
  const sender = await boundUdp();
  const send = (size: number): Promise<void> => new Promise((resolve, reject) => sender.send(Buffer.alloc(size, 1), port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  const deliver = async (sizes: number[]): Promise<boolean> => {
    for (const size of [...sizes, 1]) await send(size);
    return waitFor(() => got.includes(1));
  };
  return { receiver, got, deliver };
}

/** What getsockopt(SO_GET_FILTER) says the socket has: 'ebpf', 'none' or a classic length. */
function filterState(fd: number): string {
  const r = backend().getsockopt(fd, 1, SO_GET_FILTER, new Uint8Array(0));
  return r === -13 ? 'ebpf' : r === 0 ? 'none' : `classic ${r}`;
}

async function loadFilter(maxLen: number): Promise<Collection> {
  const coll = await loadCollection(filterObject, { constants: { max_len: maxLen } });
  cleanups.push(() => coll.close());
  return coll;
}

describe.skipIf(noRoot)('attachSocketFilter on a Node dgram socket', () => {
  it('drops the datagrams above max_len, counts every one, and detaching restores delivery', async () => {
    const coll = await loadFilter(100);
    const counts = coll.maps.filter_counts!;
    const { receiver, got, deliver } = await loopbackPair();

    const link = attachSocketFilter(coll.programs.drop_large!, receiver);
    expect(link.mode).toBe('attachment');
    expect(link.fd).toBe(-1);
    expect(link.what).toMatch(/^socket filter drop_large on dgram socket \(fd \d+\)$/);
    expect(filterState(socketFd(receiver))).toBe('ebpf');

    // Payload + 8 bytes of UDP header: 32 and 92 pass, 93 and 500 do not.
    expect(await deliver([32, 500, 92, 93, 32, 1000])).toBe(true);
    expect(got).toEqual([32, 92, 32, 1]);
    expect(u64(counts, 0)).toBe(7n);
    expect(u64(counts, 1)).toBe(3n);
    expect(u64(counts, 2)).toBe(BigInt(32 + 8 + 92 + 8 + 32 + 8 + 1 + 8));

    link.close();
    expect(filterState(socketFd(receiver))).toBe('none');
    got.length = 0;
    expect(await deliver([500, 1000])).toBe(true);
    expect(got).toEqual([500, 1000, 1]);
    expect(u64(counts, 0)).toBe(7n);
    link.close(); // idempotent
  });

  it('update() swaps in another program (checked against oldProgram), which filters from then on', async () => {
    const strict = await loadFilter(100);
    const lenient = await loadFilter(2000);
    const { receiver, got, deliver } = await loopbackPair();
    using link = attachSocketFilter(strict.programs.drop_large!, receiver);
    expect(() => link.update(lenient.programs.drop_large!, { oldProgram: lenient.programs.drop_large! })).toThrow(/runs drop_large \(attached by this link\), not drop_large/);
    link.update(lenient.programs.drop_large!, { oldProgram: strict.programs.drop_large! });
    expect(await deliver([500, 1000])).toBe(true);
    expect(got).toEqual([500, 1000, 1]);
    expect(u64(lenient.maps.filter_counts!, 0)).toBe(3n);
    expect(u64(strict.maps.filter_counts!, 0)).toBe(0n);
  });

  it('refuses to replace a filter unless asked, and each link detaches only while its filter is there', async () => {
    const coll = await loadFilter(100);
    const receiver = await boundUdp();
    const first = attachSocketFilter(coll.programs.drop_large!, receiver);
    const err = (() => {
      try {
        attachSocketFilter(coll.programs.drop_large!, receiver);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(AttachTargetError);
    expect((err as AttachTargetError).code).toBe('EEXIST');
    expect((err as Error).message).toMatch(/already has an eBPF socket filter: attaching would replace it.*replace: true/);
    const second = attachSocketFilter(coll.programs.drop_large!, receiver, { replace: true });
    second.close();
    expect(filterState(socketFd(receiver))).toBe('none');
    first.close(); // ENOENT: nothing left to detach
  });

  it('closing the link after the socket is a no-op', async () => {
    const coll = await loadFilter(100);
    const receiver = await boundUdp();
    const link = attachSocketFilter(coll.programs.drop_large!, receiver);
    await new Promise<void>((resolve) => receiver.close(resolve));
    expect(() => link.close()).not.toThrow();
  });

  it('a link on an fd that was closed and reused by another socket leaves that socket alone', async () => {
    const coll = await loadFilter(100);
    const b = backend();
    const fd = makeSocket(SOCK_DGRAM);
    const link = attachSocketFilter(coll.programs.drop_large!, fd);
    expect(link.what).toBe(`socket filter drop_large on fd ${fd}`);
    b.close(fd);
    const again = makeSocket(SOCK_DGRAM);
    cleanups.push(() => b.close(again));
    expect(again).toBe(fd); // the lowest free number comes back
    const other = attachSocketFilter(coll.programs.drop_large!, again);
    link.close();
    expect(filterState(again)).toBe('ebpf');
    other.close();
    expect(filterState(again)).toBe('none');
  });

  it('takes net.Server and net.Socket objects', async () => {
    const coll = await loadFilter(100_000);
    const server = net.createServer((c) => c.end('hi'));
    cleanups.push(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const onServer = attachSocketFilter(coll.programs.drop_large!, server);
    expect(onServer.what).toMatch(/on net\.Server \(fd \d+\)/);
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    await new Promise<void>((resolve) => client.on('connect', resolve));
    const onClient = attachSocketFilter(coll.programs.drop_large!, client);
    expect(onClient.what).toMatch(/on net\.Socket \(fd \d+\)/);
    let reply = '';
    client.on('data', (d) => (reply += d.toString()));
    expect(await waitFor(() => reply === 'hi')).toBe(true);
    // The listener saw the handshake, the client at least the reply.
    expect(u64(coll.maps.filter_counts!, 0)).toBeGreaterThanOrEqual(2n);
    onClient.close();
    onServer.close();
    expect(filterState(socketFd(server))).toBe('none');
  });
});

describe.skipIf(noRoot)('attachSocketFilter refuses what is not an open socket', () => {
  it('an fd of a file (ENOTSOCK), an fd that is not open, a socket not bound or closed', async () => {
    const coll = await loadFilter(100);
    const prog = coll.programs.drop_large!;
    const file = openSync('/dev/null', 'r');
    try {
      expect(() => attachSocketFilter(prog, file)).toThrow(AttachTargetError);
      expect(() => attachSocketFilter(prog, file)).toThrow(/is a character device, not a socket \(ENOTSOCK\)/);
    } finally {
      closeSync(file);
    }
    expect(() => attachSocketFilter(prog, 987_654)).toThrow(/fd 987654 is not an open file descriptor/);
    const unbound = dgram.createSocket('udp4');
    expect(() => attachSocketFilter(prog, unbound)).toThrow(/no fd until it is bound: call bind\(\)/);
    unbound.close();
    const closed = await boundUdp();
    await new Promise<void>((resolve) => closed.close(resolve));
    expect(() => attachSocketFilter(prog, closed)).toThrow(/dgram socket has no socket fd: the socket is closed/);
  });
});

const reuseSkip = noRoot ?? netnsUnavailable();

describe.skipIf(reuseSkip)('attachReuseport (sk_reuseport) in a test namespace', () => {
  it('sends every datagram of the group to the socket the program picks, until detached', async () => {
    const ns = TestNetns.create();
    cleanups.push(() => ns.close());
    const b = backend();
    const port = 7100;
    const [s0, s1] = inNetns(ns.path, () => [0, 1].map(() => makeSocket(SOCK_DGRAM, { address: '127.0.0.1', port, reusePort: true })));
    cleanups.push(() => {
      b.close(s0!);
      b.close(s1!);
    });
    const coll = await loadCollection(reuseportObject, { constants: { target: 1 } });
    cleanups.push(() => coll.close());
    const sockets = coll.maps.reuse_sockets!;
    addSocket(sockets, 0, s0!);
    addSocket(sockets, 1, s1!);
    // 8-byte values: a lookup reads the socket's cookie back.
    expect(Buffer.from(sockets.lookup(new Uint8Array(4)) as Uint8Array).readBigUInt64LE(0)).toBe(socketCookie(s0!));

    const link = attachReuseport(coll.programs.select_target!, s0!);
    expect(link.mode).toBe('attachment');
    // Each datagram from a new socket, so a new source port: the group's hash would spread them.
    const send = (n: number): void => inNetns(ns.path, () => {
      for (let i = 0; i < n; i++) sendDatagram('127.0.0.1', port, new Uint8Array(16));
    });
    send(20);
    const got1: number[] = [];
    const got0: number[] = [];
    expect(await waitFor(() => (got1.push(...drain(s1!)), got1.length >= 20))).toBe(true);
    got0.push(...drain(s0!));
    expect(got1.length).toBe(20);
    expect(got0.length).toBe(0);
    expect(u64(coll.maps.select_counts!, 0)).toBe(20n);
    expect(u64(coll.maps.select_counts!, 1)).toBe(0n);

    link.close();
    send(20);
    let total = 0;
    expect(await waitFor(() => ((total += drain(s0!).length + drain(s1!).length), total >= 20))).toBe(true);
    expect(total).toBe(20);
    expect(u64(coll.maps.select_counts!, 0)).toBe(20n);
  });

  it('a socket without SO_REUSEPORT is refused with what to do', async () => {
    const coll = await loadCollection(reuseportObject);
    cleanups.push(() => coll.close());
    const plain = await boundUdp();
    expect(() => attachReuseport(coll.programs.select_target!, plain)).toThrow(/not in an SO_REUSEPORT group; set SO_REUSEPORT before bind\(\)/);
  });
});
