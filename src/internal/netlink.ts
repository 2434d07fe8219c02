/**
 * rtnetlink (NETLINK_ROUTE): the netlink messages the network attach points need — XDP through
 * IFLA_XDP, the clsact qdisc and cls_bpf filters, netkit devices — and one client that sends a
 * request and reads exactly its answer.
 *
 * Layout (all integers in host byte order, everything padded to 4 bytes, NLMSG_ALIGN/NLA_ALIGN):
 *
 * ```
 * struct nlmsghdr   u32 len | u16 type | u16 flags | u32 seq | u32 pid     (16 bytes)
 *                   then the family header (ifinfomsg, tcmsg) and attributes
 * struct nlattr     u16 len | u16 type (NLA_F_NESTED 0x8000) | data, padded
 * NLMSG_ERROR       s32 -errno | the request's nlmsghdr (+ its payload unless NLM_F_CAPPED)
 *                   | extended-ACK attributes when NLM_F_ACK_TLVS (NLMSGERR_ATTR_MSG, …)
 * ```
 *
 * The pure encoders and decoders below never touch a socket, so the unit tests exercise every
 * truncated or corrupt reply. Decoding errors are {@link ParseError}s; errors the kernel reports
 * are {@link NetlinkError}s carrying the kernel's extended-ACK text ("Native and generic XDP
 * can't be active at the same time"), which rtnetlink sets with NL_SET_ERR_MSG and which
 * reaches us when the socket has NETLINK_EXT_ACK (4.12).
 *
 * The kernel handles an rtnetlink request inside our sendto() (netlink_unicast_kernel() runs
 * rtnetlink_rcv() in the sender's context) and produces each further dump batch inside our
 * recv() (netlink_recvmsg() → netlink_dump()), so every reply is queued before we read: all
 * reads are MSG_DONTWAIT, and an empty queue is waited on only for a bounded time before it is
 * reported, never blocking the thread forever.
 *
 * @module
 */
import { ParseError, SyscallError } from '../errors.js';
import { Errno } from '../sys/errno.js';
import { backend } from '../sys/select.js';
import { dataView, hostLittleEndian, textUntilNul } from './bytes.js';

// ---------------------------------------------------------------------------------------------
// Constants (include/uapi/linux/netlink.h, rtnetlink.h, if_link.h)

/** `AF_NETLINK`. */
export const AF_NETLINK = 16;
/** `NETLINK_ROUTE`: the rtnetlink protocol. */
export const NETLINK_ROUTE = 0;
/** `SOCK_RAW`. */
const SOCK_RAW = 3;
/** `SOL_NETLINK`. */
const SOL_NETLINK = 270;
/** `NETLINK_CAP_ACK` (4.3): error replies carry the request's header only, not the whole request. */
const NETLINK_CAP_ACK = 10;
/** `NETLINK_EXT_ACK` (4.12): error replies carry the kernel's explanation. */
const NETLINK_EXT_ACK = 11;
const MSG_PEEK = 0x2;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;

/** `sizeof(struct nlmsghdr)`. */
export const NLMSG_HDRLEN = 16;
/** `sizeof(struct nlattr)`. */
export const NLA_HDRLEN = 4;

/** `NLMSG_NOOP`: nothing; skipped. */
export const NLMSG_NOOP = 1;
/** `NLMSG_ERROR`: an error, or an ACK when the error is 0. */
export const NLMSG_ERROR = 2;
/** `NLMSG_DONE`: the end of a dump. */
export const NLMSG_DONE = 3;
/** `NLMSG_OVERRUN`: data lost. */
export const NLMSG_OVERRUN = 4;

/** `NLM_F_REQUEST`: every message to the kernel. */
export const NLM_F_REQUEST = 0x1;
/** `NLM_F_MULTI`: part of a multipart reply. */
export const NLM_F_MULTI = 0x2;
/** `NLM_F_ACK`: answer with an NLMSG_ERROR even on success. */
export const NLM_F_ACK = 0x4;
/** `NLM_F_ECHO`: send the resulting object back to the requester. */
export const NLM_F_ECHO = 0x8;
/** `NLM_F_DUMP_INTR`: the dump was interrupted by a change and may be inconsistent. */
export const NLM_F_DUMP_INTR = 0x10;
/** `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`): every object of a kind. */
export const NLM_F_DUMP = 0x300;
/** `NLM_F_REPLACE`: replace an existing object. */
export const NLM_F_REPLACE = 0x100;
/** `NLM_F_EXCL`: fail with EEXIST if it exists. */
export const NLM_F_EXCL = 0x200;
/** `NLM_F_CREATE`: create it if it does not exist. */
export const NLM_F_CREATE = 0x400;
/** `NLM_F_CAPPED` (in an NLMSG_ERROR): the echoed request is the header only. */
export const NLM_F_CAPPED = 0x100;
/** `NLM_F_ACK_TLVS` (in an NLMSG_ERROR): extended-ACK attributes follow. */
export const NLM_F_ACK_TLVS = 0x200;

/** `NLA_F_NESTED`: the attribute holds attributes. */
export const NLA_F_NESTED = 0x8000;
/** `NLA_F_NET_BYTEORDER`: the attribute's value is big-endian. */
export const NLA_F_NET_BYTEORDER = 0x4000;
/** The type bits of `nla_type` (`NLA_TYPE_MASK`). */
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** `enum nlmsgerr_attrs`: the extended-ACK attributes. */
export const NLMSGERR_ATTR_MSG = 1;
/** The offset, in the request, of the attribute that was rejected. */
export const NLMSGERR_ATTR_OFFS = 2;
/** The type of a missing required attribute (5.19). */
export const NLMSGERR_ATTR_MISS_TYPE = 5;

/** rtnetlink message types (`RTM_*`). */
export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  SETLINK: 19,
  NEWQDISC: 36,
  DELQDISC: 37,
  GETQDISC: 38,
  NEWTFILTER: 44,
  DELTFILTER: 45,
  GETTFILTER: 46,
} as const;

const typeNames = new Map<number, string>([
  [NLMSG_NOOP, 'NLMSG_NOOP'],
  [NLMSG_ERROR, 'NLMSG_ERROR'],
  [NLMSG_DONE, 'NLMSG_DONE'],
  [NLMSG_OVERRUN, 'NLMSG_OVERRUN'],
  ...Object.entries(RTM).map(([name, value]) => [value, `RTM_${name}`] as [number, string]),
]);

/** The UAPI name of a netlink message type (`RTM_SETLINK`), or `netlink type N`. */
export function messageTypeName(type: number): string {
  return typeNames.get(type) ?? `netlink type ${type}`;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** `NLMSG_ALIGN` / `NLA_ALIGN`: rounds up to 4 bytes. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * One attribute: header, `data`, zero padding to 4 bytes. `type` may carry NLA_F_NESTED.
 *
 * @throws {@link RangeError} when the attribute exceeds nla_len's 16 bits.
 */
export function encodeAttribute(type: number, data: Uint8Array): Uint8Array {
  const len = NLA_HDRLEN + data.length;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type & NLA_TYPE_MASK} is ${len} bytes; nla_len holds at most 65535`);
  const out = new Uint8Array(align4(len));
  const v = dataView(out);
  v.setUint16(0, len, hostLittleEndian);
  v.setUint16(2, type, hostLittleEndian);
  out.set(data, NLA_HDRLEN);
  return out;
}

function scalar(size: number, write: (v: DataView) => void): Uint8Array {
  const out = new Uint8Array(size);
  write(dataView(out));
  return out;
}

/** Attribute constructors for the value kinds rtnetlink uses. */
export const nla = {
  /** An attribute without a value (a flag). */
  flag: (type: number): Uint8Array => encodeAttribute(type, new Uint8Array(0)),
  /** A u8 value. */
  u8: (type: number, value: number): Uint8Array => encodeAttribute(type, Uint8Array.of(value & 0xff)),
  /** A u16 value in host order. */
  u16: (type: number, value: number): Uint8Array => encodeAttribute(type, scalar(2, (v) => v.setUint16(0, value, hostLittleEndian))),
  /** A u32 value in host order. */
  u32: (type: number, value: number): Uint8Array => encodeAttribute(type, scalar(4, (v) => v.setUint32(0, value >>> 0, hostLittleEndian))),
  /** An s32 value in host order (fds, where -1 means "none"). */
  s32: (type: number, value: number): Uint8Array => encodeAttribute(type, scalar(4, (v) => v.setInt32(0, value, hostLittleEndian))),
  /** A NUL-terminated string (NLA_NUL_STRING and NLA_STRING both accept the NUL). */
  string: (type: number, value: string): Uint8Array => {
    const bytes = new TextEncoder().encode(value);
    const data = new Uint8Array(bytes.length + 1);
    data.set(bytes);
    return encodeAttribute(type, data);
  },
  /** Raw bytes. */
  bytes: (type: number, value: Uint8Array): Uint8Array => encodeAttribute(type, value),
  /** A nested attribute holding `children` (NLA_F_NESTED set, as strict validation wants). */
  nested: (type: number, children: readonly Uint8Array[]): Uint8Array => encodeAttribute(type | NLA_F_NESTED, concatBytes(children)),
};

/** The header fields of a message. */
export interface MessageHeader {
  /** `nlmsg_type`: an RTM_* value. */
  readonly type: number;
  /** `nlmsg_flags`: NLM_F_*. */
  readonly flags: number;
  /** `nlmsg_seq`: matched against the replies. */
  readonly seq: number;
  /** `nlmsg_pid`: 0 for messages to the kernel. */
  readonly pid?: number;
}

/** A whole message: `struct nlmsghdr` followed by `parts` (family header, attributes). */
export function encodeMessage(header: MessageHeader, parts: readonly Uint8Array[]): Uint8Array {
  const body = concatBytes(parts.map((p) => (p.length % 4 === 0 ? p : concatBytes([p, new Uint8Array(align4(p.length) - p.length)]))));
  const out = new Uint8Array(NLMSG_HDRLEN + body.length);
  const v = dataView(out);
  v.setUint32(0, out.length, hostLittleEndian);
  v.setUint16(4, header.type, hostLittleEndian);
  v.setUint16(6, header.flags, hostLittleEndian);
  v.setUint32(8, header.seq >>> 0, hostLittleEndian);
  v.setUint32(12, (header.pid ?? 0) >>> 0, hostLittleEndian);
  out.set(body, NLMSG_HDRLEN);
  return out;
}

/** `struct ifinfomsg` (16 bytes): which interface an RTM_*LINK message is about. */
export interface IfInfoMsg {
  /** `ifi_family`: AF_UNSPEC (0) for link messages. */
  readonly family?: number;
  /** `ifi_type`: ARPHRD_* (replies only). */
  readonly type?: number;
  /** `ifi_index`: the interface index; 0 in a request that names the interface otherwise. */
  readonly index: number;
  /** `ifi_flags`: IFF_*. */
  readonly flags?: number;
  /** `ifi_change`: which IFF_* bits to change. */
  readonly change?: number;
}

/** `sizeof(struct ifinfomsg)`. */
export const IFINFOMSG_SIZE = 16;

/** Encodes `struct ifinfomsg`. */
export function encodeIfInfoMsg(m: IfInfoMsg): Uint8Array {
  const out = new Uint8Array(IFINFOMSG_SIZE);
  const v = dataView(out);
  v.setUint8(0, m.family ?? 0);
  v.setUint16(2, m.type ?? 0, hostLittleEndian);
  v.setInt32(4, m.index, hostLittleEndian);
  v.setUint32(8, (m.flags ?? 0) >>> 0, hostLittleEndian);
  v.setUint32(12, (m.change ?? 0) >>> 0, hostLittleEndian);
  return out;
}

/** Decodes `struct ifinfomsg` and the attributes after it (RTM_NEWLINK replies). */
export function decodeIfInfoMsg(payload: Uint8Array): { header: Required<IfInfoMsg>; attributes: NetlinkAttributes } {
  if (payload.length < IFINFOMSG_SIZE) throw new ParseError(`netlink: link message of ${payload.length} bytes is shorter than struct ifinfomsg (${IFINFOMSG_SIZE})`);
  const v = dataView(payload);
  const header = {
    family: v.getUint8(0),
    type: v.getUint16(2, hostLittleEndian),
    index: v.getInt32(4, hostLittleEndian),
    flags: v.getUint32(8, hostLittleEndian),
    change: v.getUint32(12, hostLittleEndian),
  };
  return { header, attributes: parseAttributes(payload.subarray(IFINFOMSG_SIZE)) };
}

/** `struct tcmsg` (20 bytes): the interface, handle and parent of a qdisc or filter message. */
export interface TcMsg {
  /** `tcm_family`: AF_UNSPEC (0). */
  readonly family?: number;
  /** `tcm_ifindex`. */
  readonly ifindex: number;
  /** `tcm_handle`: the qdisc's or filter's handle. */
  readonly handle: number;
  /** `tcm_parent`: the qdisc or class the object hangs off. */
  readonly parent: number;
  /** `tcm_info`: for filters, `priority << 16 | protocol` (protocol in network byte order). */
  readonly info: number;
}

/** `sizeof(struct tcmsg)`. */
export const TCMSG_SIZE = 20;

/** Encodes `struct tcmsg`. */
export function encodeTcMsg(m: TcMsg): Uint8Array {
  const out = new Uint8Array(TCMSG_SIZE);
  const v = dataView(out);
  v.setUint8(0, m.family ?? 0);
  v.setInt32(4, m.ifindex, hostLittleEndian);
  v.setUint32(8, m.handle >>> 0, hostLittleEndian);
  v.setUint32(12, m.parent >>> 0, hostLittleEndian);
  v.setUint32(16, m.info >>> 0, hostLittleEndian);
  return out;
}

/** Decodes `struct tcmsg` and the attributes after it (RTM_NEWQDISC/RTM_NEWTFILTER replies). */
export function decodeTcMsg(payload: Uint8Array): { header: Required<TcMsg>; attributes: NetlinkAttributes } {
  if (payload.length < TCMSG_SIZE) throw new ParseError(`netlink: tc message of ${payload.length} bytes is shorter than struct tcmsg (${TCMSG_SIZE})`);
  const v = dataView(payload);
  const header = {
    family: v.getUint8(0),
    ifindex: v.getInt32(4, hostLittleEndian),
    handle: v.getUint32(8, hostLittleEndian),
    parent: v.getUint32(12, hostLittleEndian),
    info: v.getUint32(16, hostLittleEndian),
  };
  return { header, attributes: parseAttributes(payload.subarray(TCMSG_SIZE)) };
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** One message of a reply. */
export interface NetlinkMessage {
  /** `nlmsg_type`. */
  readonly type: number;
  /** `nlmsg_flags`. */
  readonly flags: number;
  /** `nlmsg_seq`. */
  readonly seq: number;
  /** `nlmsg_pid`. */
  readonly pid: number;
  /** The bytes after the header (up to `nlmsg_len`). */
  readonly payload: Uint8Array;
}

/**
 * Splits a datagram into its messages.
 *
 * @throws {@link ParseError} when a header or a message's length runs past the end, or a length
 * is below the header size (which would otherwise never advance).
 */
export function parseMessages(bytes: Uint8Array): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  const v = dataView(bytes);
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < NLMSG_HDRLEN) throw new ParseError(`netlink: ${bytes.length - at} bytes left, too few for a message header (${NLMSG_HDRLEN})`, at);
    const len = v.getUint32(at, hostLittleEndian);
    if (len < NLMSG_HDRLEN) throw new ParseError(`netlink: message length ${len} is smaller than its header`, at);
    if (len > bytes.length - at) throw new ParseError(`netlink: message of ${len} bytes is truncated to ${bytes.length - at}`, at);
    out.push({
      type: v.getUint16(at + 4, hostLittleEndian),
      flags: v.getUint16(at + 6, hostLittleEndian),
      seq: v.getUint32(at + 8, hostLittleEndian),
      pid: v.getUint32(at + 12, hostLittleEndian),
      payload: bytes.subarray(at + NLMSG_HDRLEN, at + len),
    });
    at += align4(len);
  }
  return out;
}

/** One attribute as found in a message. */
export interface NetlinkAttribute {
  /** The type without the NLA_F_* bits. */
  readonly type: number;
  /** NLA_F_NESTED was set. */
  readonly nested: boolean;
  /** The value bytes (without padding). */
  readonly data: Uint8Array;
}

/**
 * The attributes of a message or of a nested attribute, with typed accessors that check
 * sizes. When a type appears more than once, `get` returns the last one (as nla_parse does).
 */
export class NetlinkAttributes {
  /** Every attribute, in order. */
  readonly all: readonly NetlinkAttribute[];
  readonly #byType = new Map<number, NetlinkAttribute>();

  constructor(all: readonly NetlinkAttribute[]) {
    this.all = all;
    for (const a of all) this.#byType.set(a.type, a);
  }

  /** The attribute of `type`, or undefined. */
  get(type: number): NetlinkAttribute | undefined {
    return this.#byType.get(type);
  }

  /** True when an attribute of `type` is present. */
  has(type: number): boolean {
    return this.#byType.has(type);
  }

  #sized(type: number, size: number, what: string): DataView | undefined {
    const a = this.#byType.get(type);
    if (a === undefined) return undefined;
    if (a.data.length < size) throw new ParseError(`netlink: attribute ${type} is ${a.data.length} bytes, too short for ${what}`);
    return dataView(a.data);
  }

  /** A u8 value. */
  u8(type: number): number | undefined {
    return this.#sized(type, 1, 'a u8')?.getUint8(0);
  }

  /** A u16 value. */
  u16(type: number): number | undefined {
    return this.#sized(type, 2, 'a u16')?.getUint16(0, hostLittleEndian);
  }

  /** A u32 value. */
  u32(type: number): number | undefined {
    return this.#sized(type, 4, 'a u32')?.getUint32(0, hostLittleEndian);
  }

  /** An s32 value. */
  s32(type: number): number | undefined {
    return this.#sized(type, 4, 'an s32')?.getInt32(0, hostLittleEndian);
  }

  /** A string (up to its first NUL). */
  string(type: number): string | undefined {
    const a = this.#byType.get(type);
    if (a === undefined) return undefined;
    return textUntilNul(a.data);
  }

  /** The attributes inside a nested attribute. */
  nested(type: number): NetlinkAttributes | undefined {
    const a = this.#byType.get(type);
    return a === undefined ? undefined : parseAttributes(a.data);
  }
}

/**
 * Parses a run of attributes.
 *
 * @throws {@link ParseError} when an attribute's length is below its header or runs past the end.
 */
export function parseAttributes(bytes: Uint8Array): NetlinkAttributes {
  const out: NetlinkAttribute[] = [];
  const v = dataView(bytes);
  let at = 0;
  // Fewer than NLA_HDRLEN trailing bytes are padding (nla_for_each_attr stops there too).
  while (bytes.length - at >= NLA_HDRLEN) {
    const len = v.getUint16(at, hostLittleEndian);
    const type = v.getUint16(at + 2, hostLittleEndian);
    if (len < NLA_HDRLEN) throw new ParseError(`netlink: attribute length ${len} is smaller than its header`, at);
    if (len > bytes.length - at) throw new ParseError(`netlink: attribute ${type & NLA_TYPE_MASK} of ${len} bytes is truncated to ${bytes.length - at}`, at);
    out.push({ type: type & NLA_TYPE_MASK, nested: (type & NLA_F_NESTED) !== 0, data: bytes.subarray(at + NLA_HDRLEN, at + len) });
    at += align4(len);
  }
  return new NetlinkAttributes(out);
}

/** What an NLMSG_ERROR (or an NLMSG_DONE with an error) says. */
export interface NetlinkErrorReply {
  /** The errno (positive); 0 for an ACK. */
  readonly errno: number;
  /** The kernel's explanation (NLMSGERR_ATTR_MSG), when it gave one. */
  readonly message?: string;
  /** The offset in our request of the attribute the kernel rejected (NLMSGERR_ATTR_OFFS). */
  readonly offset?: number;
  /** The type of a required attribute our request lacked (NLMSGERR_ATTR_MISS_TYPE). */
  readonly missingType?: number;
}

/** The errno of a status the kernel sends negated (0 stays 0, not -0). */
function negate(status: number): number {
  return status === 0 ? 0 : -status;
}

function extAck(bytes: Uint8Array, errno: number): NetlinkErrorReply {
  const attrs = parseAttributes(bytes);
  const message = attrs.string(NLMSGERR_ATTR_MSG);
  const offset = attrs.u32(NLMSGERR_ATTR_OFFS);
  const missingType = attrs.u32(NLMSGERR_ATTR_MISS_TYPE);
  return {
    errno,
    ...(message === undefined || message === '' ? {} : { message }),
    ...(offset === undefined ? {} : { offset }),
    ...(missingType === undefined ? {} : { missingType }),
  };
}

/**
 * Decodes the payload of an NLMSG_ERROR: `struct nlmsgerr` (the negative errno and the request's
 * header, plus the request's payload unless NLM_F_CAPPED) and, with NLM_F_ACK_TLVS, the
 * extended-ACK attributes after it.
 *
 * @throws {@link ParseError} when the payload is too short for what its flags announce.
 */
export function decodeErrorMessage(msg: Pick<NetlinkMessage, 'flags' | 'payload'>): NetlinkErrorReply {
  const p = msg.payload;
  if (p.length < 4) throw new ParseError(`netlink: error message of ${p.length} bytes has no error code`);
  const errno = negate(dataView(p).getInt32(0, hostLittleEndian));
  if ((msg.flags & NLM_F_ACK_TLVS) === 0) return { errno };
  if (p.length < 4 + NLMSG_HDRLEN) throw new ParseError(`netlink: error message of ${p.length} bytes is too short for the request header it must echo`);
  const echoed = dataView(p).getUint32(4, hostLittleEndian);
  const capped = (msg.flags & NLM_F_CAPPED) !== 0;
  const tlvAt = 4 + (capped ? NLMSG_HDRLEN : align4(echoed));
  if (!capped && (echoed < NLMSG_HDRLEN || tlvAt > p.length)) throw new ParseError(`netlink: error message echoes a request of ${echoed} bytes but holds ${p.length - 4}`);
  return extAck(p.subarray(tlvAt), errno);
}

/**
 * Decodes the payload of an NLMSG_DONE: the dump's status (an s32, 0 when it succeeded) and,
 * with NLM_F_ACK_TLVS, the extended-ACK attributes after it. An empty payload is success.
 */
export function decodeDoneMessage(msg: Pick<NetlinkMessage, 'flags' | 'payload'>): NetlinkErrorReply {
  const p = msg.payload;
  if (p.length < 4) return { errno: 0 };
  const errno = negate(dataView(p).getInt32(0, hostLittleEndian));
  return (msg.flags & NLM_F_ACK_TLVS) === 0 ? { errno } : extAck(p.subarray(4), errno);
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * The kernel refused a netlink request. `kernelMessage` holds the kernel's own explanation
 * (extended ACK, Linux 4.12+), which the message quotes, e.g. `RTM_SETLINK: EEXIST (kernel:
 * "Native and generic XDP can't be active at the same time")`.
 */
export class NetlinkError extends SyscallError {
  /** The kernel's extended-ACK text, when it gave one. */
  readonly kernelMessage: string | undefined;

  // `reply` is typed by the two members used (a NetlinkErrorReply fits), so the public
  // signature does not pull in the internal reply type.
  constructor(
    type: number,
    reply: {
      /** The errno (positive). */
      readonly errno: number;
      /** The kernel's extended-ACK text, if any. */
      readonly message?: string | undefined;
    },
    context?: string,
    explanation?: string,
  ) {
    const kernel = reply.message === undefined ? undefined : `kernel: "${reply.message}"`;
    const hint = [kernel, explanation].filter((s) => s !== undefined).join('; ');
    super(messageTypeName(type), reply.errno, hint === '' ? undefined : hint, context);
    this.kernelMessage = reply.message;
  }
}

// ---------------------------------------------------------------------------------------------
// Exchanging messages

/** How a request is answered. */
export type ReplyKind =
  /** Zero or more messages (NLM_F_ECHO, a GET of one object) and then an ACK (NLMSG_ERROR 0). */
  | 'ack'
  /** Exactly one message (a GET of one object, without NLM_F_ACK). */
  | 'one'
  /** A multipart dump ending with NLMSG_DONE. */
  | 'dump';

/** What {@link exchange} reads and writes through: a socket, or a script in the unit tests. */
export interface NetlinkTransport {
  /** Sends one datagram to the kernel: the bytes sent or `-errno`. */
  send(bytes: Uint8Array): number;
  /** `recv(2)` with `flags` (always with MSG_DONTWAIT): bytes, or `-errno` (EAGAIN when empty). */
  recv(buffer: Uint8Array, flags: number): number;
}

/** Options of a request. */
export interface RequestOptions {
  /** What is being done, prefixed to error messages (`attach XDP program p to eth0`). */
  readonly context?: string;
  /** A sentence on what an errno means here (with what is attached now), or undefined. */
  readonly explain?: (errno: number, kernelMessage: string | undefined) => string | undefined;
  /** How long an empty receive queue is waited on before giving up, in ms (default 2000). */
  readonly timeoutMs?: number;
}

/** Upper bound on datagrams read for one request: no reply can make us loop forever. */
const MAX_DATAGRAMS = 1 << 20;
const INITIAL_BUFFER = 32 * 1024;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Sends `request` (a whole message with sequence number `seq`) and reads the reply: the
 * messages of that sequence number until the ACK, the single answer or NLMSG_DONE. Messages
 * of other sequence numbers (stale replies) are skipped.
 *
 * @throws {@link NetlinkError} when the kernel answers with an error, {@link ParseError} for a
 * corrupt reply, {@link SyscallError} when the socket fails or no reply arrives in time.
 */
export function exchange(transport: NetlinkTransport, request: Uint8Array, seq: number, kind: ReplyKind, options: RequestOptions = {}): NetlinkMessage[] {
  const type = request.length >= 6 ? dataView(request).getUint16(4, hostLittleEndian) : 0;
  const command = messageTypeName(type);
  const fail = (reply: NetlinkErrorReply): never => {
    throw new NetlinkError(type, reply, options.context, options.explain?.(reply.errno, reply.message));
  };
  let sent: number;
  do sent = transport.send(request);
  while (sent === -Errno.EINTR);
  if (sent < 0) throw new SyscallError('sendto', -sent, undefined, `${options.context ?? command}: ${command}`);

  const out: NetlinkMessage[] = [];
  const timeoutMs = options.timeoutMs ?? 2000;
  let buffer = new Uint8Array(INITIAL_BUFFER);
  let deadline = Date.now() + timeoutMs;
  for (let datagrams = 0; datagrams < MAX_DATAGRAMS; ) {
    // Peek with MSG_TRUNC for the datagram's full size, so a large one is never cut short.
    const size = transport.recv(buffer, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
    if (size === -Errno.EINTR) continue;
    if (size === -Errno.EAGAIN) {
      if (Date.now() >= deadline) {
        throw new SyscallError('recv', Errno.EAGAIN, `no ${kind === 'dump' ? 'end of dump' : 'answer'} from the kernel within ${timeoutMs} ms`, `${options.context ?? command}: ${command}`);
      }
      sleepMs(1);
      continue;
    }
    if (size < 0) throw new SyscallError('recv', -size, undefined, `${options.context ?? command}: ${command}`);
    if (size > buffer.length) buffer = new Uint8Array(align4(size));
    const n = transport.recv(buffer, MSG_DONTWAIT);
    if (n === -Errno.EINTR || n === -Errno.EAGAIN) continue;
    if (n < 0) throw new SyscallError('recv', -n, undefined, `${options.context ?? command}: ${command}`);
    datagrams++;
    deadline = Date.now() + timeoutMs;
    for (const msg of parseMessages(buffer.slice(0, Math.min(n, buffer.length)))) {
      if (msg.seq !== seq >>> 0) continue;
      switch (msg.type) {
        case NLMSG_NOOP:
          continue;
        case NLMSG_OVERRUN:
          throw new SyscallError('recv', Errno.ENOSPC, 'the kernel reports NLMSG_OVERRUN: reply data was lost', `${options.context ?? command}: ${command}`);
        case NLMSG_ERROR: {
          const reply = decodeErrorMessage(msg);
          if (reply.errno !== 0) fail(reply);
          if (kind === 'dump') continue; // an ACK inside a dump (NLM_F_ACK sent too) is not its end
          return out;
        }
        case NLMSG_DONE: {
          const reply = decodeDoneMessage(msg);
          if (reply.errno !== 0) fail(reply);
          return out;
        }
        default:
          out.push(msg);
          if (kind === 'one') return out;
      }
    }
  }
  throw new SyscallError('recv', Errno.E2BIG, `the reply exceeded ${MAX_DATAGRAMS} datagrams`, `${options.context ?? command}: ${command}`);
}

/**
 * A NETLINK_ROUTE socket in the calling thread's network namespace (a socket keeps the
 * namespace it was created in). Use {@link withRouteNetlink} so it is always closed.
 */
export class RouteNetlink {
  readonly #fd: number;
  #seq: number;
  #closed = false;

  private constructor(fd: number) {
    this.#fd = fd;
    // Distinct starting points keep a reply meant for an earlier socket on the same port from matching.
    this.#seq = (Date.now() & 0xffff) << 8;
  }

  /**
   * Opens the socket and asks for extended ACKs (ignored by kernels before 4.12, which simply
   * have no explanations to give).
   *
   * @throws {@link SyscallError} when the socket cannot be created (EAFNOSUPPORT without netlink,
   * ENOSYS on the fake backend).
   */
  static open(): RouteNetlink {
    const b = backend();
    const fd = b.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    if (fd < 0) throw new SyscallError('socket', -fd, undefined, 'open an rtnetlink socket (AF_NETLINK, NETLINK_ROUTE)');
    const one = new Uint8Array(4);
    dataView(one).setUint32(0, 1, hostLittleEndian);
    b.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one);
    b.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one);
    return new RouteNetlink(fd);
  }

  #transport(): NetlinkTransport {
    if (this.#closed) throw new SyscallError('sendto', Errno.EBADF, undefined, 'rtnetlink socket is closed');
    const b = backend();
    const kernel = new Uint8Array(12); // struct sockaddr_nl { AF_NETLINK, pad, pid 0 (the kernel), groups 0 }
    dataView(kernel).setUint16(0, AF_NETLINK, hostLittleEndian);
    return { send: (bytes) => b.sendto(this.#fd, bytes, 0, kernel), recv: (buf, flags) => b.recv(this.#fd, buf, flags) };
  }

  /**
   * Sends a request with NLM_F_REQUEST | NLM_F_ACK (plus `flags`) and returns the messages
   * that came before the ACK (e.g. the object NLM_F_ECHO sends back).
   */
  request(type: number, flags: number, parts: readonly Uint8Array[], options?: RequestOptions): NetlinkMessage[] {
    const seq = ++this.#seq >>> 0;
    const msg = encodeMessage({ type, flags: NLM_F_REQUEST | NLM_F_ACK | flags, seq }, parts);
    return exchange(this.#transport(), msg, seq, 'ack', options);
  }

  /** Sends a GET of one object (NLM_F_REQUEST alone) and returns the one answer. */
  get(type: number, parts: readonly Uint8Array[], options?: RequestOptions): NetlinkMessage {
    const seq = ++this.#seq >>> 0;
    const msg = encodeMessage({ type, flags: NLM_F_REQUEST, seq }, parts);
    const [reply] = exchange(this.#transport(), msg, seq, 'one', options);
    return reply!;
  }

  /**
   * Sends a dump request (NLM_F_REQUEST | NLM_F_DUMP) and returns every message of it. A dump
   * the kernel marks NLM_F_DUMP_INTR (changed while it was read) is read again, up to 3 times.
   */
  dump(type: number, parts: readonly Uint8Array[], options?: RequestOptions): NetlinkMessage[] {
    for (let attempt = 0; ; attempt++) {
      const seq = ++this.#seq >>> 0;
      const msg = encodeMessage({ type, flags: NLM_F_REQUEST | NLM_F_DUMP, seq }, parts);
      const out = exchange(this.#transport(), msg, seq, 'dump', options);
      if (attempt >= 2 || !out.some((m) => (m.flags & NLM_F_DUMP_INTR) !== 0)) return out;
    }
  }

  /** Closes the socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    backend().close(this.#fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Runs `fn` with a fresh rtnetlink socket, closed afterwards whatever happens. */
export function withRouteNetlink<T>(fn: (nl: RouteNetlink) => T): T {
  const nl = RouteNetlink.open();
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}
