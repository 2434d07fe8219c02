/**
 * Programs that run on the sockets of a SOCKMAP or SOCKHASH, and putting sockets into those
 * maps.
 *
 * A sockmap has one slot per attach type, and a socket added to the map picks up the programs
 * the map has at that moment:
 *
 * - `BPF_SK_MSG_VERDICT` (SK_MSG, 4.17): runs on every sendmsg()/sendfile() of the socket and
 *   passes, drops or redirects the data (`bpf_msg_redirect_map`) to another socket of the map;
 * - `BPF_SK_SKB_STREAM_PARSER` (SK_SKB, 4.14): cuts the received TCP stream into messages (it
 *   returns each message's length) for
 * - `BPF_SK_SKB_STREAM_VERDICT` (SK_SKB, 4.14; without a parser 5.10), which passes, drops or
 *   redirects (`bpf_sk_redirect_map`) each received message or skb;
 * - `BPF_SK_SKB_VERDICT` (SK_SKB, 5.13): a verdict per received skb without the stream
 *   machinery (UDP and unix sockets too). It excludes a stream verdict on the same map (EBUSY).
 *
 * Two ways to attach: a bpf_link (BPF_LINK_TYPE_SOCKMAP, Linux 6.10, "bpf: Add bpf_link
 * support for sk_msg and sk_skb progs") that can be pinned, updated and listed, or, before,
 * BPF_PROG_ATTACH with the map as `target_fd`, which the kernel holds until BPF_PROG_DETACH
 * with the same program (an `attachment`). Either way the map's slot holds one program; the
 * sockets already in the map keep the programs they picked up when they were added until they
 * are removed from it.
 *
 * @module
 */
import { ArgumentError, SyscallError } from '../errors.js';
import { Feature } from '../features/feature.js';
import { dataView, hostLittleEndian } from '../internal/bytes.js';
import { resolveSocket, type SocketTarget } from '../internal/socket-fd.js';
import { UpdateFlags, type BpfMap } from '../map.js';
import type { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate } from '../sys/layouts.js';
import { AttachType, MapType, mapTypeName, ProgramType, programTypeName } from '../types.js';
import { attachMode, hookProgramType, resolveTarget } from './attach-target.js';
import { Link } from './link.js';
import { linkCreateProbe } from './link-create-probe.js';
import { describeAttached } from './query.js';
import { attachProgram } from './raw.js';

/** The sockmap attach types and how messages name them; their program types are BPF_PROG_ATTACH's (hookProgramType). */
const slots = new Map<AttachType, { name: string; uapi: string }>([
  [AttachType.SKMsgVerdict, { name: 'sk_msg verdict', uapi: 'BPF_SK_MSG_VERDICT' }],
  [AttachType.SKSKBStreamParser, { name: 'sk_skb stream parser', uapi: 'BPF_SK_SKB_STREAM_PARSER' }],
  [AttachType.SKSKBStreamVerdict, { name: 'sk_skb stream verdict', uapi: 'BPF_SK_SKB_STREAM_VERDICT' }],
  [AttachType.SKSKBVerdict, { name: 'sk_skb verdict', uapi: 'BPF_SK_SKB_VERDICT' }],
]);

/**
 * sockmap links: BPF_LINK_CREATE of an SK_MSG program with BPF_SK_MSG_VERDICT (Linux 6.10).
 * Probed with a target fd that cannot be open: sock_map_link_create() fails to find the map
 * (EBADF), while older kernels' link_create() has no case for SK_MSG programs (EINVAL).
 *
 * @example
 * ```ts
 * if (sockmapLinkFeature.supported()) console.log('sockmap programs can be held by links');
 * ```
 */
export const sockmapLinkFeature = new Feature('sockmap link (BPF_LINK_CREATE with BPF_SK_MSG_VERDICT)', '6.10', () =>
  linkCreateProbe({
    name: 'probe_skmsg',
    programType: ProgramType.SKMsg,
    attachType: AttachType.SKMsgVerdict,
    attachName: 'BPF_SK_MSG_VERDICT',
    fields: { target_fd: 0xffffffff },
    proves: [Errno.EBADF],
    since: '6.10',
  }),
  { perBoot: 'kernel' },
);

/** Options of {@link attachSockmap}. */
export interface SockmapOptions {
  /**
   * How the attachment is held: `bpf-link` (6.10+), or `attachment` (BPF_PROG_ATTACH, any
   * kernel). By default a link where the kernel has sockmap links, else an attachment.
   */
  mode?: 'bpf-link' | 'attachment';
  /**
   * With `attachment`: replace a program that holds the map's slot already (BPF_PROG_ATTACH
   * would do so silently; by default that is an error naming the program).
   */
  replace?: boolean;
}

/** The attach type: the one given, or the program's expected attach type. */
function slotFor(prog: Program, attachType: AttachType | undefined): AttachType {
  if (prog.type !== ProgramType.SKMsg && prog.type !== ProgramType.SKSKB) {
    throw new ArgumentError(`attachSockmap needs an SK_MSG or SK_SKB program (sections sk_msg, sk_skb/stream_parser, sk_skb/stream_verdict, sk_skb/verdict); ${prog.name} is ${programTypeName(prog.type)}`);
  }
  const loaded = prog.attachment.attachType;
  const chosen = attachType ?? (loaded === undefined || loaded === AttachType.None ? undefined : loaded);
  if (chosen === undefined) {
    if (prog.type === ProgramType.SKMsg) return AttachType.SKMsgVerdict;
    throw new ArgumentError(
      `attachSockmap: say which slot ${prog.name} takes: AttachType.SKSKBStreamParser, SKSKBStreamVerdict or SKSKBVerdict (its section "${prog.attachment.sectionName ?? ''}" does not say; sk_skb/stream_parser, sk_skb/stream_verdict and sk_skb/verdict do)`,
    );
  }
  const slot = slots.get(chosen);
  if (slot === undefined || hookProgramType(chosen) !== prog.type) {
    const fits = [...slots].filter(([t]) => hookProgramType(t) === prog.type).map(([, s]) => s.uapi);
    throw new ArgumentError(`attachSockmap: ${AttachType[chosen] ?? chosen} is not a sockmap attach type for ${programTypeName(prog.type)} program ${prog.name}; it takes ${fits.join(', ')}`);
  }
  return chosen;
}

function checkMap(map: BpfMap, what: string, types: readonly MapType[]): void {
  if (!types.includes(map.type)) {
    throw new ArgumentError(`${what} needs a ${types.map(mapTypeName).join(' or ')} map; ${map.name === '' ? 'the map' : `map ${map.name}`} is ${mapTypeName(map.type)}`);
  }
}

/**
 * Attaches an SK_MSG or SK_SKB program to a SOCKMAP or SOCKHASH: it then runs on the sockets
 * added to the map afterwards (attach first, then add sockets with {@link addSocket}).
 *
 * `attachType` defaults to the program's expected attach type (sections `sk_msg`,
 * `sk_skb/stream_parser`, `sk_skb/stream_verdict`, `sk_skb/verdict`); a program from a plain
 * `sk_skb` section needs it. Uses a bpf_link on 6.10+, BPF_PROG_ATTACH before (see
 * {@link SockmapOptions}); either way `close()` detaches exactly this program.
 *
 * Minimum kernel: 4.14 (sk_skb stream parser/verdict), 4.17 (sk_msg), 5.13 (sk_skb verdict);
 * link 6.10.
 *
 * @example
 * ```ts
 * using link = attachSockmap(coll.programs.redirect_msg, coll.maps.sock_map);
 * addSocket(coll.maps.sock_map, 0, clientSocket);
 * ```
 * @throws {@link ArgumentError} for a program or map of the wrong type or an attach type that
 * does not fit; {@link NotSupportedError} for `mode: 'bpf-link'` before 6.10;
 * {@link SyscallError} from the kernel (EBUSY: the slot, or the verdict slot it excludes, is
 * held — the message names the program there; EOPNOTSUPP: a stream parser on a kernel built
 * without CONFIG_BPF_STREAM_PARSER).
 */
export function attachSockmap(prog: Program, map: BpfMap, attachType?: AttachType, options: SockmapOptions = {}): Link {
  const type = slotFor(prog, attachType);
  checkMap(map, 'attachSockmap', [MapType.SockMap, MapType.SockHash]);
  const slot = slots.get(type)!;
  const mapName = map.name === '' ? `${mapTypeName(map.type)} map` : `map ${map.name}`;
  const where = `the ${slot.name} slot of ${mapName}`;
  const context = `attach ${prog.name} to ${where}`;
  const what = `${slot.name} program ${prog.name} on ${mapName}`;
  const mode = attachMode(options.mode, 'attachSockmap') ?? (sockmapLinkFeature.supported() ? 'bpf-link' : 'attachment');
  if (mode === 'bpf-link') {
    sockmapLinkFeature.require();
    const fd = bpfCall(LinkCreate, { prog_fd: prog.fd, target_fd: map.fd, attach_type: type, flags: 0 }, { context, explain: (errno) => explainSlot(errno, map.fd, type, where) });
    return Link.adopt({ fd, mode: 'bpf-link', what });
  }
  // BPF_PROG_ATTACH: sock_map_prog_update() replaces whatever the slot holds, so unless asked
  // to, a held slot is refused (the query needs 5.19; before, nothing is found to refuse).
  const target = resolveTarget({ fd: map.fd }, type, 'attachSockmap', true);
  return attachProgram({
    program: prog,
    target,
    attachType: type,
    flags: 0,
    hook: where,
    what,
    context,
    explain: (errno) => explainSlot(errno, target.value, type, where),
    refuseHeld:
      options.replace === true ? undefined : (held) => `${where} holds ${held} already; BPF_PROG_ATTACH would replace it silently: close the link that attached it, or pass { replace: true }`,
  });
}

/** What the sockmap attach errnos mean (sock_map_prog_link_lookup(), sock_map_prog_update()). */
function explainSlot(errno: number, mapFd: number, type: AttachType, where: string): string | undefined {
  switch (errno) {
    case Errno.EBUSY: {
      // The slot is held by a link, or the other kind of verdict is attached.
      const exclusive =
        type === AttachType.SKSKBStreamVerdict ? AttachType.SKSKBVerdict : type === AttachType.SKSKBVerdict ? AttachType.SKSKBStreamVerdict : undefined;
      const here = describeAttached(mapFd, type);
      const there = exclusive === undefined ? undefined : describeAttached(mapFd, exclusive);
      const parts: string[] = [];
      if (here !== undefined) parts.push(`${where} is held by ${here} (through a link, which only closing it releases)`);
      if (there !== undefined) parts.push(`${slots.get(exclusive!)!.name} is attached (${there}), which excludes ${slots.get(type)!.name}`);
      return parts.length > 0 ? parts.join('; ') : `${where} is held by a link, or the verdict slot it excludes is taken (a stream verdict and an skb verdict cannot both be attached)`;
    }
    case Errno.EOPNOTSUPP:
      return type === AttachType.SKSKBStreamParser
        ? 'this kernel was built without CONFIG_BPF_STREAM_PARSER, which stream parsers need'
        : `the map does not take ${slots.get(type)!.uapi} programs on this kernel`;
    case Errno.EINVAL:
      return `the program type must match the attach type, and the map must be a SOCKMAP or SOCKHASH`;
    default:
      return undefined;
  }
}

/**
 * Puts a socket into a SOCKMAP, SOCKHASH or REUSEPORT_SOCKARRAY at `key`: the map's value is
 * the socket's fd (4 or 8 bytes, as the map's value size says), which this writes from an fd
 * or a Node.js socket. A lookup from user space later returns the socket's cookie (8-byte
 * values only; see {@link socketCookie}), not the fd.
 *
 * The socket must be one the map takes: TCP sockets established or listening, UDP (5.7+), unix
 * stream and datagram (5.15+), vsock (5.17+); REUSEPORT_SOCKARRAY takes TCP/UDP sockets bound
 * with SO_REUSEPORT. Programs attached to the map afterwards do not reach sockets added before:
 * attach, then add.
 *
 * Minimum kernel: 4.14 (SOCKMAP), 4.18 (SOCKHASH), 4.19 (REUSEPORT_SOCKARRAY).
 *
 * @example
 * ```ts
 * const conn = net.connect(port, '127.0.0.1', () => addSocket(coll.maps.sock_map, 0, conn));
 * ```
 * @param key a number for maps with 4-byte keys (SOCKMAP, REUSEPORT_SOCKARRAY), or the key's bytes.
 * @param flags {@link UpdateFlags}: `Any` (default), `NoExist`, `Exist`.
 * @throws {@link ArgumentError} for another map type or a key of the wrong size;
 * {@link AttachTargetError} for something that is not an open socket; {@link SyscallError}
 * from the update (EOPNOTSUPP: a socket of a type or state the map does not take).
 */
export function addSocket(map: BpfMap, key: number | Uint8Array, socket: SocketTarget, flags: number = UpdateFlags.Any): void {
  checkMap(map, 'addSocket', [MapType.SockMap, MapType.SockHash, MapType.ReuseportSockarray]);
  let keyBytes: Uint8Array;
  if (typeof key === 'number') {
    if (map.keySize !== 4 || !Number.isInteger(key) || key < 0 || key > 0xffffffff) {
      throw new ArgumentError(`addSocket: a numeric key needs a map with 4-byte keys and an integer from 0 to 2^32-1; got ${key} for keySize ${map.keySize}`);
    }
    keyBytes = new Uint8Array(4);
    dataView(keyBytes).setUint32(0, key, hostLittleEndian);
  } else {
    keyBytes = key;
  }
  const ref = resolveSocket(socket);
  const value = new Uint8Array(map.valueSize);
  if (map.valueSize === 8) dataView(value).setBigUint64(0, BigInt(ref.fd), hostLittleEndian);
  else if (map.valueSize === 4) dataView(value).setUint32(0, ref.fd, hostLittleEndian);
  else throw new ArgumentError(`addSocket: map ${map.name} has valueSize ${map.valueSize}; socket maps hold 4- or 8-byte fds`);
  try {
    map.update(keyBytes, value, flags);
  } catch (err) {
    if (err instanceof SyscallError && err.errno === Errno.EOPNOTSUPP) {
      throw new SyscallError(
        err.command,
        Errno.EOPNOTSUPP,
        `${mapTypeName(map.type)} does not take ${ref.description}: TCP sockets must be established or listening; UDP needs 5.7+, unix sockets 5.15+` +
          (map.type === MapType.ReuseportSockarray ? '; REUSEPORT_SOCKARRAY takes TCP/UDP sockets bound with SO_REUSEPORT' : ''),
        `add ${ref.description} to map ${map.name}`,
      );
    }
    throw err;
  }
}


