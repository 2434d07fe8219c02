/**
 * Plain sockets for the socket, sockmap and netns kernel tests, made through the backend
 * (socket/bind/sendto/recv) rather than Node's dgram and net: they are synchronous, so they can
 * be made inside another namespace with inNetns(), and they can carry options Node does not set
 * (SO_REUSEPORT on Node 20). Node sockets can wrap them afterwards (`server.listen({ fd })`).
 */
import { spawn } from 'node:child_process';
import { backend } from '../../../src/sys/select.js';
import type { TestNetns } from './netns.js';

export const AF_INET = 2;
export const AF_PACKET = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOL_SOCKET = 1;
export const SO_REUSEPORT = 15;
export const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;

/** `struct sockaddr_in` for an IPv4 address and port. */
export function sockaddrIn(address: string, port: number): Uint8Array {
  const sa = new Uint8Array(16);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_INET, true);
  v.setUint16(2, port, false);
  address.split('.').forEach((octet, i) => (sa[4 + i] = Number(octet)));
  return sa;
}

function check(r: number, what: string): number {
  if (r < 0) throw new Error(`${what}: errno ${-r}`);
  return r;
}

/** An int socket option value. */
export function intOpt(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

/** A socket (SOCK_CLOEXEC), bound to `address:port` when given; SO_REUSEPORT before bind when asked. */
export function makeSocket(type: number, bindTo?: { address: string; port: number; reusePort?: boolean }): number {
  const b = backend();
  const fd = check(b.socket(AF_INET, type, 0), 'socket');
  try {
    if (bindTo?.reusePort === true) check(b.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, intOpt(1)), 'SO_REUSEPORT');
    if (bindTo !== undefined) check(b.bind(fd, sockaddrIn(bindTo.address, bindTo.port)), `bind ${bindTo.address}:${bindTo.port}`);
  } catch (err) {
    b.close(fd);
    throw err;
  }
  return fd;
}

/** Sends one datagram from a new socket (a new source port each time), then closes it. */
export function sendDatagram(address: string, port: number, payload: Uint8Array): void {
  const b = backend();
  const fd = makeSocket(SOCK_DGRAM);
  try {
    check(b.sendto(fd, payload, 0, sockaddrIn(address, port)), 'sendto');
  } finally {
    b.close(fd);
  }
}

/** Reads every datagram queued on `fd` now (MSG_DONTWAIT); returns their sizes. */
export function drain(fd: number): number[] {
  const b = backend();
  const buf = new Uint8Array(65536);
  const sizes: number[] = [];
  for (;;) {
    const r = b.recv(fd, buf, MSG_DONTWAIT);
    if (r === -EAGAIN) return sizes;
    sizes.push(check(r, 'recv'));
  }
}

/** Polls `cond` every 10 ms until it holds or `ms` pass; returns whether it held. */
export async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Runs an ES module script with Node inside `ns` without blocking this process's event loop
 * (TestNetns.node() waits synchronously, so this process could not serve the connections the
 * script makes). Resolves with its stdout; rejects when it fails.
 */
export function nodeInNetnsAsync(ns: TestNetns, script: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`node script in netns ${ns.pid} failed (${code ?? signal}): ${err}`));
    });
  });
}
