/**
 * Network interfaces by name or index, in the network namespace of the calling thread: what
 * XDP, tc, tcx and netkit attachment resolve their `interface` option with.
 *
 * The lookups use the socket ioctls `if_nametoindex(3)` and `if_indextoname(3)` use
 * (SIOCGIFINDEX, SIOCGIFNAME) rather than /sys/class/net, which shows the interfaces of the
 * namespace sysfs was mounted in, not necessarily ours.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { AttachTargetError } from '../errors.js';
import { Errno } from '../sys/errno.js';
import { backend } from '../sys/select.js';
import { dataView, hostLittleEndian, textUntilNul } from './bytes.js';
import { SyscallError } from '../errors.js';

const AF_INET = 2;
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SIOCGIFNAME = 0x8910;
const SIOCGIFINDEX = 0x8933;
/** IFNAMSIZ: interface names are at most 15 bytes and a NUL. */
export const IFNAMSIZ = 16;
/** sizeof(struct ifreq) on 64-bit Linux: the name and a 24-byte union. */
const IFREQ_SIZE = 40;

/** A throwaway socket for the interface ioctls (any family will do; AF_UNIX exists without networking). */
function withIoctlSocket<T>(fn: (fd: number) => T): T {
  const b = backend();
  let fd = b.socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0) fd = b.socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) throw new SyscallError('socket', -fd, undefined, 'a socket for interface ioctls');
  try {
    return fn(fd);
  } finally {
    b.close(fd);
  }
}

/**
 * The names of the interfaces in this network namespace, from /proc/self/net/dev (which,
 * unlike /sys/class/net, follows the namespace of the process). Empty when unreadable.
 */
export function interfaceNames(): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/net/dev', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .slice(2)
    .map((line) => line.split(':')[0]!.trim())
    .filter((name) => name !== '');
}

function notFound(target: string): AttachTargetError {
  const names = interfaceNames();
  const have = names.length === 0 ? '' : `; this network namespace has ${names.join(', ')}`;
  return new AttachTargetError(
    'interface',
    target,
    `network interface ${target} does not exist in this process's network namespace${have} (create it first, e.g. ip link add …, or run in the namespace that has it)`,
    { errno: Errno.ENODEV },
  );
}

/**
 * The ifindex of interface `name` (SIOCGIFINDEX).
 *
 * @throws {@link AttachTargetError} when there is no such interface (the message lists those
 * that exist, or the name cannot be one (empty, over 15 bytes, with "/").
 */
export function interfaceIndex(name: string): number {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length === 0 || bytes.length >= IFNAMSIZ || bytes.includes(0) || name.includes('/')) {
    throw new AttachTargetError('interface', name, `${JSON.stringify(name)} is not an interface name: names are 1–${IFNAMSIZ - 1} bytes without "/"`);
  }
  const ifr = new Uint8Array(IFREQ_SIZE);
  ifr.set(bytes);
  return withIoctlSocket((fd) => {
    const r = backend().ioctl(fd, SIOCGIFINDEX, ifr);
    if (r === -Errno.ENODEV) throw notFound(name);
    if (r < 0) throw new SyscallError('ioctl', -r, undefined, `SIOCGIFINDEX ${name}`);
    return dataView(ifr).getInt32(IFNAMSIZ, hostLittleEndian);
  });
}

/** The name of the interface with index `index` (SIOCGIFNAME), or undefined when there is none. */
export function interfaceName(index: number): string | undefined {
  const ifr = new Uint8Array(IFREQ_SIZE);
  dataView(ifr).setInt32(IFNAMSIZ, index, hostLittleEndian);
  return withIoctlSocket((fd) => {
    const r = backend().ioctl(fd, SIOCGIFNAME, ifr);
    if (r < 0) return undefined;
    return textUntilNul(ifr.subarray(0, IFNAMSIZ));
  });
}

/**
 * Resolves an `interface` option: a name is looked up, an index is checked to exist.
 *
 * @throws {@link AttachTargetError} when the interface does not exist.
 */
export function resolveInterface(iface: string | number): {
  /** The interface's ifindex. */
  index: number;
  /** Its name. */
  name: string;
} {
  if (typeof iface === 'number') {
    if (!Number.isInteger(iface) || iface <= 0) {
      throw new AttachTargetError('interface', String(iface), `interface index ${iface} is not valid: indexes are integers from 1`);
    }
    const name = interfaceName(iface);
    if (name === undefined) throw notFound(`index ${iface}`);
    return { index: iface, name };
  }
  return { index: interfaceIndex(iface), name: iface };
}
