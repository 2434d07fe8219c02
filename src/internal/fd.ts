/**
 * File descriptor hygiene shared by every kernel object.
 *
 * @module
 */
import { constants } from 'node:os';
import { SyscallError } from '../errors.js';
import { backend } from '../sys/select.js';

/**
 * Returns `fd` unchanged when it is above 2; otherwise a close-on-exec duplicate at 3 or
 * above, closing the original. fd 0–2 are stdio: a process that closed them could get a BPF
 * object or perf event there, and code (ours, and the UAPI's convention that 0 means "none",
 * e.g. a link's target_fd) would then mistake it. Returns `-errno` if the duplicate fails
 * (the original is closed either way).
 */
export function moveAboveStdio(fd: number): number {
  if (fd > 2) return fd;
  const b = backend();
  const dup = b.dupAbove(fd, 3);
  b.close(fd);
  return dup;
}

/**
 * A close-on-exec copy of `fd` at 3 or above that the caller owns (the original's owner may
 * close theirs at any time): what an attachment keeps to detach later. `what` names the
 * object in the error (`program count_egress`, `cgroup /sys/fs/cgroup/app`).
 *
 * @throws {@link SyscallError} `fcntl` when no fd is left (EMFILE) or `fd` is not open (EBADF).
 */
export function dupOwned(fd: number, what: string): number {
  const r = backend().dupAbove(fd, 3);
  if (r < 0) {
    const detail = r === -constants.errno.EBADF ? `${what}: fd ${fd} is not open` : r === -constants.errno.EMFILE ? 'no fd left to keep (EMFILE: raise the open-file limit)' : undefined;
    throw new SyscallError('fcntl', -r, detail, `copy the fd of ${what}`);
  }
  return r;
}
