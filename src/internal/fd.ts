/**
 * File descriptor hygiene shared by every kernel object.
 *
 * @module
 */
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
