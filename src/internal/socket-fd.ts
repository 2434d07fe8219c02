/**
 * Sockets named the way a Node.js program has them: an fd, or a `dgram.Socket`, `net.Socket` or
 * `net.Server` whose fd libuv keeps inside its handle. What socket filters (SO_ATTACH_BPF),
 * reuseport programs and the socket-holding maps (SOCKMAP, SOCKHASH, REUSEPORT_SOCKARRAY)
 * resolve their socket argument with.
 *
 * Node does not document the fd of its sockets, but every handle of a socket on Unix has one:
 * `handle.fd` (TCPWrap, PipeWrap and UDPWrap all define the getter). A `net.Socket` or
 * `net.Server` keeps its handle in `_handle`; a `dgram.Socket` keeps it in a private state
 * object (its `_handle` getter is deprecated, DEP0112, and warns), which we reach by its
 * symbol's description. The fd is negative while there is no socket yet (a dgram socket before
 * bind(), a net.Socket before it connects) and the handle is null once the socket is closed.
 *
 * An attachment remembers the socket's inode (fstat) so that detaching later can tell "the same
 * socket, still open" from "that fd number now belongs to something else".
 *
 * @module
 */
import type dgram from 'node:dgram';
import { fstatSync, type Stats } from 'node:fs';
import type net from 'node:net';
import { AttachTargetError, SyscallError } from '../errors.js';
import { Errno } from '../sys/errno.js';
import { backend } from '../sys/select.js';
import { dataView, hostLittleEndian } from './bytes.js';

/**
 * A socket as the attach functions take it: an fd, a `dgram.Socket` (bound), a `net.Socket`
 * (connected) or a `net.Server` (listening), or any object with a numeric `fd`.
 */
export type SocketTarget =
  | number
  | dgram.Socket
  | net.Socket
  | net.Server
  | {
      /** The socket's file descriptor. */
      readonly fd: number;
    };

/** A socket resolved to its fd, with what identifies it for later. */
export interface SocketRef {
  /** The fd now. */
  readonly fd: number;
  /** The socket's inode number (fstat): the same socket has it for its whole life. */
  readonly ino: number;
  /** How messages name it: `fd 18` or `dgram socket (fd 18)`. */
  readonly description: string;
  /**
   * The socket's fd if this same socket is still open in this process, else undefined: a Node
   * socket that was closed, or an fd that was closed (and maybe reused for another file).
   */
  current(): number | undefined;
}

/** SOL_SOCKET on x86_64 and arm64 (the generic value; alpha, mips, parisc and sparc differ). */
export const SOL_SOCKET = 1;
/** SO_COOKIE (4.12): the socket's 64-bit cookie, what sockmap lookups and bpf_get_socket_cookie() return. */
const SO_COOKIE = 57;

interface Handle {
  readonly fd?: number;
}

// dgram's state object lives under Symbol('state symbol') (lib/internal/dgram.js, kStateSymbol).
function dgramHandle(socket: dgram.Socket): Handle | null | undefined {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (sym !== undefined) {
    const state = (socket as unknown as Record<symbol, { handle?: Handle | null } | undefined>)[sym];
    if (state !== undefined && typeof state === 'object') return state.handle;
  }
  // A Node whose internals moved: the deprecated getter still answers (with a warning).
  return (socket as unknown as { _handle?: Handle | null })._handle;
}

function netHandle(socket: net.Socket | net.Server): Handle | null | undefined {
  return (socket as unknown as { _handle?: Handle | null })._handle;
}

type NodeKind = 'dgram socket' | 'net.Socket' | 'net.Server';

function nodeKind(target: object): NodeKind | undefined {
  // Looked up when needed, not imported: node:net and node:dgram cost ~2 ms to load, and a
  // program that passes such a socket has loaded them already.
  const { Socket: DgramSocket } = process.getBuiltinModule('node:dgram');
  const { Socket: NetSocket, Server: NetServer } = process.getBuiltinModule('node:net');
  if (target instanceof DgramSocket) return 'dgram socket';
  if (target instanceof NetSocket) return 'net.Socket';
  if (target instanceof NetServer) return 'net.Server';
  return undefined;
}

function handleOf(target: object, kind: NodeKind): Handle | null | undefined {
  return kind === 'dgram socket' ? dgramHandle(target as dgram.Socket) : netHandle(target as net.Socket | net.Server);
}

/** Why a Node socket has no fd now, and what to do. */
function noFd(kind: NodeKind, handle: Handle | null | undefined): string {
  if (handle === null || handle === undefined) {
    if (kind === 'net.Server') return 'the server is not listening (call listen() and attach in its listening event) or is closed';
    if (kind === 'net.Socket') return 'the socket is closed, or not connected yet (attach in its connect event)';
    return 'the socket is closed';
  }
  if (handle.fd === undefined) {
    return 'Node.js does not expose the fd of this handle (a TLS socket wraps its TCP socket: pass that net.Socket, or the fd)';
  }
  if (kind === 'dgram socket') return 'a dgram socket has no fd until it is bound: call bind() and attach in its listening event';
  if (kind === 'net.Socket') return 'the socket is not connected yet: attach in its connect event';
  return 'the server has no socket yet (a cluster worker shares its primary\'s listening socket: listen with exclusive: true, or attach in the primary)';
}

/** What fstat says a non-socket fd is. */
function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a pipe';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  // eventfd, epoll, BPF objects and other anonymous inodes.
  return 'not a socket (an anonymous inode such as a BPF object, eventfd or epoll fd)';
}

function fstatOrUndefined(fd: number): Stats | undefined {
  try {
    return fstatSync(fd);
  } catch {
    return undefined;
  }
}

/** Checks that `fd` is an open socket; returns its inode. */
function socketInode(fd: number, description: string): number {
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (err) {
    throw new AttachTargetError('socket', description, `${description} is not an open file descriptor (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      errno: Errno.EBADF,
      cause: err,
    });
  }
  if (!st.isSocket()) {
    throw new AttachTargetError('socket', description, `${description} is ${fileKind(st)}, not a socket (ENOTSOCK): pass a socket fd or a Node.js dgram/net socket`, {
      errno: Errno.ENOTSOCK,
    });
  }
  return st.ino;
}

/**
 * Resolves `target` to an open socket fd.
 *
 * @throws {@link AttachTargetError} (kind `socket`) for an fd that is not open or not a socket
 * (ENOTSOCK), and for a Node socket without an fd: closed, not bound/connected/listening yet,
 * or one whose fd Node hides (a TLS socket); the message says what to pass instead.
 * @throws TypeError for something that is not a socket at all.
 */
export function resolveSocket(target: SocketTarget): SocketRef {
  if (typeof target === 'number') {
    if (!Number.isInteger(target) || target < 0) {
      throw new AttachTargetError('socket', String(target), `${target} is not a file descriptor: fds are integers from 0`, { errno: Errno.EBADF });
    }
    const description = `fd ${target}`;
    const ino = socketInode(target, description);
    return {
      fd: target,
      ino,
      description,
      current: () => (fstatOrUndefined(target)?.ino === ino ? target : undefined),
    };
  }
  if (target === null || typeof target !== 'object') {
    throw new TypeError(`expected a socket fd or a Node.js dgram/net socket, got ${target === null ? 'null' : typeof target}`);
  }
  const kind = nodeKind(target);
  if (kind === undefined) {
    const fd = (target as { fd?: unknown }).fd;
    if (typeof fd !== 'number') throw new TypeError('expected a socket fd, a Node.js dgram.Socket, net.Socket or net.Server, or an object with a numeric fd');
    return resolveSocket(fd);
  }
  const handle = handleOf(target, kind);
  const fd = handle?.fd;
  if (fd === undefined || fd < 0) {
    throw new AttachTargetError('socket', kind, `${kind} has no socket fd: ${noFd(kind, handle)}`, { errno: Errno.EBADF });
  }
  const description = `${kind} (fd ${fd})`;
  const ino = socketInode(fd, description);
  return {
    fd,
    ino,
    description,
    current: () => {
      const now = handleOf(target, kind)?.fd;
      if (now === undefined || now < 0) return undefined;
      return fstatOrUndefined(now)?.ino === ino ? now : undefined;
    },
  };
}

/**
 * The fd of a socket given as an fd or a Node.js socket (checked to be an open socket).
 *
 * Minimum kernel: any.
 *
 * @example
 * ```ts
 * const server = net.createServer().listen(0, '127.0.0.1', () => console.log(socketFd(server)));
 * ```
 * @throws {@link AttachTargetError} for an fd that is not an open socket (ENOTSOCK, EBADF), and
 * for a Node socket that is closed, not bound/connected/listening yet, or hides its fd.
 */
export function socketFd(target: SocketTarget): number {
  return resolveSocket(target).fd;
}

/**
 * The socket's cookie (SO_COOKIE): the 64-bit id the kernel gives every socket, which
 * `bpf_get_socket_cookie()` returns in programs and which a lookup in a SOCKMAP or SOCKHASH of
 * 8-byte values reads back.
 *
 * Minimum kernel: 4.12.
 *
 * @example
 * ```ts
 * const cookie = socketCookie(udpSocket);
 * ```
 * @throws {@link AttachTargetError} as {@link socketFd} does; {@link SyscallError} from
 * getsockopt (ENOPROTOOPT before 4.12).
 */
export function socketCookie(target: SocketTarget): bigint {
  const ref = resolveSocket(target);
  const value = new Uint8Array(8);
  const r = backend().getsockopt(ref.fd, SOL_SOCKET, SO_COOKIE, value);
  if (r < 0) {
    const hint = -r === Errno.ENOPROTOOPT ? 'SO_COOKIE needs Linux 4.12 or later' : undefined;
    throw new SyscallError('getsockopt', -r, hint, `SO_COOKIE of ${ref.description}`);
  }
  return dataView(value).getBigUint64(0, hostLittleEndian);
}
