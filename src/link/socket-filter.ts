/**
 * Programs attached to one socket with setsockopt(2):
 *
 * - `attachSocketFilter`: a SOCKET_FILTER program as the socket's filter (`SO_ATTACH_BPF`,
 *   Linux 3.19). It runs for every packet the socket is about to receive and returns how many
 *   bytes of it to keep: 0 drops the packet, a length shorter than the packet truncates it. The
 *   filter dies with the socket; `SO_DETACH_BPF` removes it before that.
 * - `attachReuseport`: an SK_REUSEPORT program (4.19), or a SOCKET_FILTER program returning an
 *   index (4.5), that picks which socket of an SO_REUSEPORT group gets each new connection or
 *   datagram (`SO_ATTACH_REUSEPORT_EBPF`). The program belongs to the group, not to the socket
 *   it was attached through; `SO_DETACH_REUSEPORT_BPF` (5.3) removes it.
 *
 * Neither has a bpf_link: the kernel holds the program and the {@link Link} (mode
 * `attachment`, no fd) detaches it on `close()`. Sockets may be given as fds or as Node.js
 * sockets (see {@link SocketTarget}).
 *
 * @module
 */
import { ArgumentError, AttachTargetError, SyscallError } from '../errors.js';
import { resolveSocket, SOL_SOCKET, type SocketRef, type SocketTarget } from '../internal/socket-fd.js';
import { dataView, hostLittleEndian } from '../internal/bytes.js';
import type { Program } from '../prog.js';
import { Errno } from '../sys/errno.js';
import { backend } from '../sys/select.js';
import { ProgramType, programTypeName } from '../types.js';
import { Link } from './link.js';

/** `SO_GET_FILTER` (= SO_ATTACH_FILTER): read back the socket's filter. */
const SO_GET_FILTER = 26;
/** `SO_DETACH_BPF` (= SO_DETACH_FILTER): remove the socket's filter, classic or eBPF. */
const SO_DETACH_BPF = 27;
/** `SO_ATTACH_BPF` (3.19): the value is a SOCKET_FILTER program fd. */
const SO_ATTACH_BPF = 50;
/** `SO_ATTACH_REUSEPORT_EBPF` (4.5): the value is a program fd. */
const SO_ATTACH_REUSEPORT_EBPF = 52;
/** `SO_DETACH_REUSEPORT_BPF` (5.3). */
const SO_DETACH_REUSEPORT_BPF = 68;
/** ENOPROTOOPT: the kernel does not know the socket option. */
const ENOPROTOOPT = 92;

function intValue(v: number): Uint8Array {
  const bytes = new Uint8Array(4);
  dataView(bytes).setInt32(0, v, hostLittleEndian);
  return bytes;
}

/** Options of {@link attachSocketFilter}. */
export interface SocketFilterOptions {
  /**
   * Replace a filter the socket already has (classic BPF, or another eBPF program). By default
   * that is an error: SO_ATTACH_BPF would silently drop the other filter.
   */
  replace?: boolean;
}

/**
 * What filter the socket has now, asked with getsockopt(SO_GET_FILTER) and no buffer:
 * sk_get_filter() answers the classic filter's length in instructions, 0 without a filter,
 * and EACCES for an eBPF filter (it has no classic program to hand back).
 */
function currentFilter(fd: number): string | undefined {
  const r = backend().getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, new Uint8Array(0));
  if (r === -Errno.EACCES) return 'an eBPF socket filter';
  if (r > 0) return `a classic BPF filter of ${r} instructions`;
  return undefined;
}

/**
 * Attaches a SOCKET_FILTER program to a socket (SO_ATTACH_BPF). The program sees each packet
 * the socket receives (for UDP, from the UDP header on; for TCP, each segment) and returns how
 * many bytes to keep: 0 drops it, `skb->len` or more keeps it whole.
 *
 * The socket can be an fd or a Node.js socket: a `dgram.Socket` once bound (attach in its
 * `listening` event), a `net.Socket` once connected, a `net.Server` once listening (the
 * listening socket filters incoming SYNs, and each connection it accepts starts with a copy of
 * the filter, which detaching from the server leaves in place).
 *
 * Minimum kernel: 3.19.
 *
 * @example
 * ```ts
 * const sock = dgram.createSocket('udp4');
 * sock.bind(5353, () => {
 *   using link = attachSocketFilter(coll.programs.drop_big, sock);
 * });
 * ```
 * @throws {@link ArgumentError} for a program that is not SOCKET_FILTER;
 * {@link AttachTargetError} for an fd that is not an open socket (ENOTSOCK), a closed or
 * unbound Node socket, or a socket that already has a filter (unless `replace`);
 * {@link SyscallError} from setsockopt (EPERM: the filter is locked with SO_LOCK_FILTER;
 * ENOMEM: the program is larger than net.core.optmem_max allows).
 */
export function attachSocketFilter(prog: Program, socket: SocketTarget, options: SocketFilterOptions = {}): Link {
  if (prog.type !== ProgramType.SocketFilter) {
    throw new ArgumentError(`attachSocketFilter needs a SOCKET_FILTER program (section "socket"); ${prog.name} is ${programTypeName(prog.type)}`);
  }
  const ref = resolveSocket(socket);
  const b = backend();
  if (options.replace !== true) {
    const existing = currentFilter(ref.fd);
    if (existing !== undefined) {
      throw new AttachTargetError(
        'socket',
        ref.description,
        `${ref.description} already has ${existing}: attaching would replace it; close the link that attached it (or SO_DETACH_FILTER it), or pass { replace: true }`,
        { errno: Errno.EEXIST },
      );
    }
  }
  const r = b.setsockopt(ref.fd, SOL_SOCKET, SO_ATTACH_BPF, intValue(prog.fd));
  if (r < 0) throw setsockoptError('SO_ATTACH_BPF', -r, ref, prog);
  const what = `socket filter ${prog.name} on ${ref.description}`;
  return Link.adopt({
    fd: -1,
    mode: 'attachment',
    what,
    cleanup: () => detach(ref, SO_DETACH_BPF, 'SO_DETACH_BPF'),
    update: replacer(ref, prog, 'SO_ATTACH_BPF', SO_ATTACH_BPF, (p) => p.type === ProgramType.SocketFilter),
  });
}

/**
 * Attaches a program that selects the socket of an SO_REUSEPORT group for each incoming
 * connection or datagram (SO_ATTACH_REUSEPORT_EBPF): an SK_REUSEPORT program (section
 * `sk_reuseport`, which calls `bpf_sk_select_reuseport()` with a REUSEPORT_SOCKARRAY, SOCKMAP
 * or SOCKHASH), or a SOCKET_FILTER program whose return value is the index of the socket in
 * the group (in the order the sockets were bound).
 *
 * The socket must have SO_REUSEPORT set before it was bound: Node.js 22.12+ sets it with
 * `reusePort: true` (dgram.createSocket and server.listen); on older Node create the sockets
 * yourself and pass fds. The program serves the whole group: `close()` detaches it through
 * the socket it was attached through (SO_DETACH_REUSEPORT_BPF, 5.3+), so close the link before
 * that socket; if the socket is gone, the program stays with the group's other sockets until
 * they close too.
 *
 * Minimum kernel: 4.5 (SOCKET_FILTER), 4.19 (SK_REUSEPORT); detach 5.3 (before, the program
 * stays until the group's last socket closes).
 *
 * @example
 * ```ts
 * using link = attachReuseport(coll.programs.select_sock, fds[0]);
 * ```
 * @throws {@link ArgumentError} for a program of another type; {@link AttachTargetError} for
 * something that is not an open socket, or a socket without SO_REUSEPORT;
 * {@link SyscallError} from setsockopt.
 */
export function attachReuseport(prog: Program, socket: SocketTarget): Link {
  if (prog.type !== ProgramType.SKReuseport && prog.type !== ProgramType.SocketFilter) {
    throw new ArgumentError(`attachReuseport needs an SK_REUSEPORT program (section "sk_reuseport") or a SOCKET_FILTER program; ${prog.name} is ${programTypeName(prog.type)}`);
  }
  const ref = resolveSocket(socket);
  const r = backend().setsockopt(ref.fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, intValue(prog.fd));
  if (r < 0) throw setsockoptError('SO_ATTACH_REUSEPORT_EBPF', -r, ref, prog);
  return Link.adopt({
    fd: -1,
    mode: 'attachment',
    what: `reuseport program ${prog.name} on ${ref.description}`,
    cleanup: () => detach(ref, SO_DETACH_REUSEPORT_BPF, 'SO_DETACH_REUSEPORT_BPF'),
    update: replacer(ref, prog, 'SO_ATTACH_REUSEPORT_EBPF', SO_ATTACH_REUSEPORT_EBPF, (p) => p.type === prog.type),
  });
}

/**
 * {@link Link.update} of a socket attachment: the same setsockopt with the new program, which
 * the kernel swaps in atomically (sk_attach_bpf() and reuseport_attach_prog() replace the
 * old program under RCU). The socket cannot say which eBPF program it runs, so `oldProgram` is
 * checked against the one this link attached last.
 */
function replacer(ref: SocketRef, first: Program, name: string, option: number, fits: (p: Program) => boolean): (p: Program, old: Program | undefined) => void {
  let current = first;
  return (program, oldProgram) => {
    if (!fits(program)) throw new ArgumentError(`update ${name} on ${ref.description}: ${program.name} is ${programTypeName(program.type)}, not ${programTypeName(current.type)}`);
    if (oldProgram !== undefined && !sameProgram(oldProgram, current)) {
      throw new SyscallError('setsockopt', Errno.EPERM, `${ref.description} runs ${current.name} (attached by this link), not ${oldProgram.name}`, `update ${name} on ${ref.description}`);
    }
    const fd = ref.current();
    if (fd === undefined) throw new AttachTargetError('socket', ref.description, `${ref.description} is closed: its program went with it; attach to a new socket`, { errno: Errno.EBADF });
    const r = backend().setsockopt(fd, SOL_SOCKET, option, intValue(program.fd));
    if (r < 0) throw setsockoptError(name, -r, ref, program);
    current = program;
  };
}

/**
 * Detaches through the socket if it is still the one we attached to. A socket that was closed
 * took its filter with it; an fd number now naming another file must not be touched.
 */
function detach(ref: SocketRef, option: number, name: string): void {
  const fd = ref.current();
  if (fd === undefined) return;
  const r = backend().setsockopt(fd, SOL_SOCKET, option, intValue(0));
  // ENOENT: nothing attached any more (detached by someone else). ENOPROTOOPT: a kernel before
  // 5.3 cannot detach a reuseport program; it stays until the group's sockets close.
  if (r === 0 || r === -Errno.ENOENT || r === -ENOPROTOOPT) return;
  throw new SyscallError('setsockopt', -r, -r === Errno.EPERM ? 'the socket filter is locked (SO_LOCK_FILTER)' : undefined, `${name} from ${ref.description}`);
}

function setsockoptError(option: string, errno: number, ref: SocketRef, prog: Program): Error {
  const context = `${option} ${prog.name} to ${ref.description}`;
  switch (errno) {
    case Errno.ENOTSOCK:
    case Errno.EBADF:
      return new AttachTargetError('socket', ref.description, `${context}: ${ref.description} is not an open socket`, { errno });
    case Errno.EPERM:
      return new SyscallError('setsockopt', errno, 'the socket\'s filter is locked (SO_LOCK_FILTER): it cannot be changed until the socket closes', context);
    case Errno.ENOMEM:
      return new SyscallError('setsockopt', errno, 'the program is larger than the socket option memory allows (sysctl net.core.optmem_max)', context);
    case Errno.EINVAL:
      if (option === 'SO_ATTACH_REUSEPORT_EBPF') {
        return new AttachTargetError(
          'socket',
          ref.description,
          `${context}: the socket is not in an SO_REUSEPORT group; set SO_REUSEPORT before bind() (Node.js 22.12+: reusePort: true)`,
          { errno },
        );
      }
      return new SyscallError('setsockopt', errno, `${prog.name} must be a SOCKET_FILTER program`, context);
    case Errno.ENOTSUPP:
      return new SyscallError('setsockopt', errno, 'SK_REUSEPORT programs serve TCP and UDP sockets of AF_INET/AF_INET6 only', context);
    default:
      return new SyscallError('setsockopt', errno, undefined, context);
  }
}

/**
 * Whether `a` and `b` are the same kernel program: the same object, or two fds of one program
 * (equal ids). A program whose id cannot be read (closed) matches only itself.
 */
function sameProgram(a: Program, b: Program): boolean {
  if (a === b) return true;
  try {
    return a.info().id === b.info().id;
  } catch {
    return false;
  }
}
