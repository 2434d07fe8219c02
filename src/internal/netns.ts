/**
 * Network namespaces: running a synchronous piece of work (resolving an interface, creating a
 * link, a netlink request) inside another network namespace, the way `ip netns exec` does for a
 * whole command.
 *
 * setns(2) moves only the calling thread, here the one running JavaScript; libuv's thread pool
 * stays where it was. So the work must be synchronous: the thread is moved back before
 * control returns to the event loop, and sockets the work creates keep their namespace after.
 *
 * @module
 */
import { closeSync, openSync } from 'node:fs';
import { AttachTargetError, SyscallError } from '../errors.js';
import { Errno } from '../sys/errno.js';
import { backend } from '../sys/select.js';

/** CLONE_NEWNET: the nstype that makes setns() check the fd is a network namespace. */
const CLONE_NEWNET = 0x40000000;

/** Where `ip netns add NAME` keeps a namespace. */
export function netnsPath(nameOrPath: string): string {
  return nameOrPath.includes('/') ? nameOrPath : `/run/netns/${nameOrPath}`;
}

function openNetns(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw new AttachTargetError('netns', path, `cannot open network namespace ${path}: ${(err as Error).message} (a name is looked up in /run/netns, as ip netns does)`, { cause: err });
  }
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
  const home = openNetns('/proc/thread-self/ns/net');
  const target = typeof netns === 'number' ? netns : openNetns(netnsPath(netns));
  try {
    const r = b.setns(target, CLONE_NEWNET);
    if (r === -Errno.EINVAL) {
      throw new AttachTargetError('netns', String(netns), `${String(netns)} is not a network namespace (setns: EINVAL)`, { errno: Errno.EINVAL });
    }
    if (r < 0) throw new SyscallError('setns', -r, undefined, `enter network namespace ${String(netns)}`);
    try {
      return fn();
    } finally {
      const back = b.setns(home, CLONE_NEWNET);
      // Staying in the wrong namespace would silently misdirect everything after: fail loudly.
      if (back < 0) throw new SyscallError('setns', -back, undefined, 'return to the original network namespace');
    }
  } finally {
    closeSync(home);
    if (typeof netns !== 'number') closeSync(target);
  }
}
