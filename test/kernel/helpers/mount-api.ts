/**
 * The new mount API (fsopen/fsconfig/fsmount/move_mount, 5.2) and pidfd_getfd (5.6), through
 * ffi-rs's `syscall()`: what a container manager does to give a container a bpffs with BPF token
 * delegation (Linux 6.9). The library never needs these; the token tests do.
 *
 * The dance, as the kernel requires it: the bpffs context is opened (fsopen) inside the
 * container's user namespace, so the superblock belongs to it; the `delegate_*` options are set
 * (fsconfig) by a process privileged in the initial namespace, which takes the context's fd with
 * pidfd_getfd; the container then mounts it (fsmount) and creates tokens from it.
 */
import { closeSync } from 'node:fs';
import ffi from 'ffi-rs';

// asm-generic numbers, the same on every architecture for system calls from 424 on.
const SYS_move_mount = 429;
const SYS_fsopen = 430;
const SYS_fsconfig = 431;
const SYS_fsmount = 432;
const SYS_pidfd_open = 434;
const SYS_pidfd_getfd = 438;

const FSOPEN_CLOEXEC = 1;
const FSCONFIG_SET_STRING = 1;
const FSCONFIG_CMD_CREATE = 6;
const FSMOUNT_CLOEXEC = 1;
const MOVE_MOUNT_F_EMPTY_PATH = 4;
const AT_FDCWD = -100;

const LIB = 'ebpf-ts-test-libc';
let opened = false;

function syscall(name: string, nr: number, args: Array<number | string>): number {
  if (!opened) {
    ffi.open({ library: LIB, path: 'libc.so.6' });
    opened = true;
  }
  const T = ffi.DataType;
  const r = ffi.load({
    library: LIB,
    funcName: 'syscall',
    retType: T.I64,
    paramsType: [T.I64, ...args.map((a) => (typeof a === 'string' ? T.String : T.I64))],
    paramsValue: [nr, ...args],
    errno: true,
  }) as { value: number; errnoCode: number; errnoMessage: string };
  if (r.value < 0) throw Object.assign(new Error(`${name}: ${r.errnoMessage} (errno ${r.errnoCode})`), { errno: r.errnoCode });
  return r.value;
}

/** fsopen(fsname, FSOPEN_CLOEXEC): a filesystem context owned by this process's user namespace. */
export function fsopen(fsname: string): number {
  return syscall('fsopen', SYS_fsopen, [fsname, FSOPEN_CLOEXEC]);
}

/** fsconfig(FSCONFIG_SET_STRING): one mount option, e.g. `delegate_cmds=any`. */
export function fsconfigString(fd: number, key: string, value: string): void {
  syscall(`fsconfig ${key}=${value}`, SYS_fsconfig, [fd, FSCONFIG_SET_STRING, key, value, 0]);
}

/** fsconfig(FSCONFIG_CMD_CREATE): makes the superblock. */
export function fsconfigCreate(fd: number): void {
  syscall('fsconfig create', SYS_fsconfig, [fd, FSCONFIG_CMD_CREATE, 0, 0, 0]);
}

/** fsmount(): a detached mount of a created context, as an fd on its root. */
export function fsmount(fd: number): number {
  return syscall('fsmount', SYS_fsmount, [fd, FSMOUNT_CLOEXEC, 0]);
}

/** move_mount(): attaches a detached mount at `path` in this process's mount namespace. */
export function moveMount(mountFd: number, path: string): void {
  syscall(`move_mount ${path}`, SYS_move_mount, [mountFd, '', AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH]);
}

/** pidfd_open(pid) then pidfd_getfd(): a copy of another process's fd (needs ptrace rights over it). */
export function takeFd(pid: number, fd: number): number {
  const pidfd = syscall('pidfd_open', SYS_pidfd_open, [pid, 0]);
  try {
    return syscall('pidfd_getfd', SYS_pidfd_getfd, [pidfd, fd, 0]);
  } finally {
    closeSync(pidfd);
  }
}
