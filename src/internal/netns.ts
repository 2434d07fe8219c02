/**
 * Network namespaces: running a synchronous piece of work (resolving an interface, creating a
 * link, a netlink request) inside another network namespace, the way `ip netns exec` does for a
 * whole command.
 *
 * setns(2) moves only the calling thread, here the one running JavaScript; libuv's thread pool
 * stays where it was. So the work must be synchronous: the thread is moved back before
 * control returns to the event loop, and sockets the work creates keep their namespace after.
 *
 * {@link openNetns} opens a namespace by name, path or fd and checks that it is one: what
 * attachNetns attaches to and `inNetns` enters.
 *
 * @module
 */
import { closeSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import { ArgumentError, AttachTargetError, SyscallError } from '../errors.js';
import { Errno } from '../sys/errno.js';
import { backend } from '../sys/select.js';
import { moveAboveStdio } from './fd.js';

/** CLONE_NEWNET: the nstype that makes setns() check the fd is a network namespace. */
const CLONE_NEWNET = 0x40000000;

/** Where `ip netns add NAME` keeps a namespace. */
export function netnsPath(nameOrPath: string): string {
  return nameOrPath.includes('/') ? nameOrPath : `/run/netns/${nameOrPath}`;
}

/** A network namespace opened by {@link openNetns}. */
export interface OpenNetns {
  /** An fd of the namespace; ours to close when `owned`. */
  readonly fd: number;
  /** Whether {@link closeNetns} closes `fd` (a caller's fd stays open). */
  readonly owned: boolean;
  /** The namespace's inode number (what `ip netns identify` and link info report). */
  readonly ino: number;
  /** How messages name it: `netns /proc/123/ns/net (net:[4026532841])`. */
  readonly description: string;
}

const NETNS_LINK = /^net:\[(\d+)\]$/;

/** The names `ip netns add` made, for error messages. */
function namedNetns(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** What the fd's /proc/self/fd link says it is: `net:[…]` for a network namespace. */
function fdTarget(fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/**
 * Opens network namespace `netns` (a path, a name from `ip netns add`, or an open fd, used as
 * it is; the calling thread's when undefined) and checks it is one, so that a wrong file is
 * named before any syscall takes it.
 *
 * @throws {@link AttachTargetError} for what cannot be opened or is not a network namespace;
 * {@link ArgumentError} for an empty name or a negative fd.
 */
export function openNetns(netns?: string | number): OpenNetns {
  if (typeof netns === 'number') {
    if (!Number.isInteger(netns) || netns < 0) throw new ArgumentError(`netns fd ${netns} is not a file descriptor`);
    const target = fdTarget(netns);
    const m = target === undefined ? null : NETNS_LINK.exec(target);
    if (m === null) {
      throw new AttachTargetError('netns', `fd ${netns}`, `fd ${netns} is ${target === undefined ? 'not open' : target}, not a network namespace (open /proc/PID/ns/net or /run/netns/NAME)`, {
        errno: target === undefined ? Errno.EBADF : Errno.EINVAL,
      });
    }
    return { fd: netns, owned: false, ino: Number(m[1]), description: `netns fd ${netns} (${target})` };
  }
  const path = netns === undefined ? '/proc/thread-self/ns/net' : netnsPath(netns);
  if (netns === '') throw new ArgumentError('netns must be a path, a name or an fd, not an empty string');
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const names = namedNetns();
    const have = !path.startsWith('/run/netns/') ? '' : names.length === 0 ? '; /run/netns has no namespaces' : `; /run/netns has ${names.join(', ')}`;
    throw new AttachTargetError('netns', path, `cannot open network namespace ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}${have}`, {
      errno: Errno.ENOENT,
      cause: err,
    });
  }
  // Above stdio: a namespace fd kept for later (a detach) must not be mistaken for 0.
  fd = moveAboveStdio(fd);
  if (fd < 0) throw new SyscallError('fcntl', -fd, undefined, `move the fd of ${path} above stdio`);
  const target = fdTarget(fd);
  const m = target === undefined ? null : NETNS_LINK.exec(target);
  if (m === null) {
    closeSync(fd);
    throw new AttachTargetError('netns', path, `${path} is not a network namespace${target === undefined ? '' : ` (it is ${target})`}: give /proc/PID/ns/net, /run/netns/NAME or a name from ip netns`, {
      errno: Errno.EINVAL,
    });
  }
  return { fd, owned: true, ino: Number(m[1]), description: `netns ${netns === undefined ? 'of this thread' : path} (${target})` };
}

/** Closes what {@link openNetns} opened. */
export function closeNetns(ns: OpenNetns): void {
  if (ns.owned) closeSync(ns.fd);
}

/**
 * Runs `fn` with the JS thread in network namespace `netns` (a name from `ip netns add`, a path
 * such as /proc/PID/ns/net, or an open fd), then moves it back, also when `fn` throws.
 *
 * @throws {@link AttachTargetError} when `netns` is not a network namespace,
 * {@link SyscallError} when setns() is refused (EPERM: needs CAP_SYS_ADMIN).
 */
export function inNetns<T>(netns: string | number, fn: () => T): T {
  const b = backend();
  const home = openNetns();
  let opened: OpenNetns | undefined;
  try {
    // A caller's fd is taken as it is: setns() below says whether it is a namespace.
    if (typeof netns !== 'number') opened = openNetns(netns);
  } catch (err) {
    closeNetns(home);
    throw err;
  }
  try {
    const r = b.setns(opened?.fd ?? (netns as number), CLONE_NEWNET);
    if (r === -Errno.EINVAL) {
      throw new AttachTargetError('netns', String(netns), `${String(netns)} is not a network namespace (setns: EINVAL)`, { errno: Errno.EINVAL });
    }
    if (r < 0) throw new SyscallError('setns', -r, undefined, `enter network namespace ${String(netns)}`);
    try {
      return fn();
    } finally {
      const back = b.setns(home.fd, CLONE_NEWNET);
      // Staying in the wrong namespace would silently misdirect everything after: fail loudly.
      if (back < 0) throw new SyscallError('setns', -back, undefined, 'return to the original network namespace');
    }
  } finally {
    closeNetns(home);
    if (opened !== undefined) closeNetns(opened);
  }
}
