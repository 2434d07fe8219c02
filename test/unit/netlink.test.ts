// rtnetlink messages without a kernel: the encoders produce the kernel's byte layout, the
// decoders read it back, the extended ACK's explanation reaches the error, and truncated or
// corrupt replies (or no reply at all) give typed errors instead of a crash or a hang.
import { describe, expect, it } from 'vitest';
import { ParseError, SyscallError } from '../../src/errors.js';
import {
  decodeDoneMessage,
  decodeErrorMessage,
  decodeIfInfoMsg,
  decodeTcMsg,
  encodeAttribute,
  encodeIfInfoMsg,
  encodeMessage,
  encodeTcMsg,
  exchange,
  NetlinkError,
  nla,
  NLA_F_NESTED,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  parseAttributes,
  parseMessages,
  RTM,
  type NetlinkTransport,
} from '../../src/internal/netlink.js';
import { Errno } from '../../src/sys/errno.js';

const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const u32 = (v: number): number[] => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, le);
  return [...b];
};
const u16 = (v: number): number[] => {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, le);
  return [...b];
};

/** An NLMSG_ERROR for request `seq` with errno, optionally capped + a kernel message. */
function errorReply(seq: number, errno: number, message?: string, extra: Uint8Array[] = []): Uint8Array {
  const echoed = encodeMessage({ type: RTM.SETLINK, flags: 5, seq }, []);
  const tlvs = message === undefined ? [] : [nla.string(NLMSGERR_ATTR_MSG, message), ...extra];
  const err = new Uint8Array(4);
  new DataView(err.buffer).setInt32(0, -errno, le);
  return encodeMessage({ type: NLMSG_ERROR, flags: message === undefined ? NLM_F_CAPPED : NLM_F_CAPPED | NLM_F_ACK_TLVS, seq }, [err, echoed, ...tlvs]);
}

/** A transport that records what was sent and answers with `datagrams`, then EAGAIN. */
function scripted(datagrams: Uint8Array[]): NetlinkTransport & { sent: Uint8Array[]; recvs: number } {
  const queue = [...datagrams];
  const t = {
    sent: [] as Uint8Array[],
    recvs: 0,
    send(bytes: Uint8Array): number {
      t.sent.push(bytes.slice());
      return bytes.length;
    },
    recv(buf: Uint8Array, flags: number): number {
      t.recvs++;
      const next = queue[0];
      if (next === undefined) return -Errno.EAGAIN;
      const peek = (flags & 0x2) !== 0;
      const trunc = (flags & 0x20) !== 0;
      buf.set(next.subarray(0, Math.min(buf.length, next.length)));
      if (!peek) queue.shift();
      return trunc ? next.length : Math.min(buf.length, next.length);
    },
  };
  return t;
}

describe('encoding', () => {
  it('a message is nlmsghdr (length, type, flags, seq, pid) then the parts, each padded to 4 bytes', () => {
    const msg = encodeMessage({ type: RTM.GETLINK, flags: 1, seq: 7 }, [Uint8Array.of(1, 2, 3), Uint8Array.of(9, 9, 9, 9)]);
    expect([...msg]).toEqual([...u32(24), ...u16(RTM.GETLINK), ...u16(1), ...u32(7), ...u32(0), 1, 2, 3, 0, 9, 9, 9, 9]);
  });

  it('attributes carry the unpadded length, then pad; nested ones set NLA_F_NESTED', () => {
    expect([...nla.u8(2, 0x41)]).toEqual([...u16(5), ...u16(2), 0x41, 0, 0, 0]);
    expect([...nla.string(7, 'ab')]).toEqual([...u16(7), ...u16(7), 0x61, 0x62, 0, 0]);
    expect([...nla.s32(1, -1)]).toEqual([...u16(8), ...u16(1), 0xff, 0xff, 0xff, 0xff]);
    const nested = nla.nested(43, [nla.s32(1, 5), nla.u32(3, 2)]);
    expect([...nested.subarray(0, 4)]).toEqual([...u16(20), ...u16(43 | NLA_F_NESTED)]);
    const back = parseAttributes(nested);
    expect(back.all).toHaveLength(1);
    expect(back.get(43)?.nested).toBe(true);
    expect(back.nested(43)?.s32(1)).toBe(5);
    expect(back.nested(43)?.u32(3)).toBe(2);
    expect(() => encodeAttribute(1, new Uint8Array(70_000))).toThrow(RangeError);
  });

  it('ifinfomsg and tcmsg round-trip', () => {
    const link = encodeIfInfoMsg({ index: 42, flags: 1, change: 1 });
    expect(link.length).toBe(16);
    expect(decodeIfInfoMsg(link).header).toEqual({ family: 0, type: 0, index: 42, flags: 1, change: 1 });
    const tc = encodeTcMsg({ ifindex: 3, handle: 1, parent: 0xfffffff2, info: (49152 << 16) | 0x0300 });
    expect(tc.length).toBe(20);
    expect(decodeTcMsg(tc).header).toEqual({ family: 0, ifindex: 3, handle: 1, parent: 0xfffffff2, info: ((49152 << 16) | 0x0300) >>> 0 });
  });
});

describe('decoding', () => {
  it('splits a datagram into messages and reads their attributes', () => {
    const a = encodeMessage({ type: RTM.NEWLINK, flags: NLM_F_MULTI, seq: 3, pid: 99 }, [encodeIfInfoMsg({ index: 1 }), nla.string(3, 'lo')]);
    const b = encodeMessage({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: 3 }, [new Uint8Array(4)]);
    const msgs = parseMessages(Uint8Array.from([...a, ...b]));
    expect(msgs.map((m) => [m.type, m.seq, m.pid])).toEqual([
      [RTM.NEWLINK, 3, 99],
      [NLMSG_DONE, 3, 0],
    ]);
    expect(decodeIfInfoMsg(msgs[0]!.payload).attributes.string(3)).toBe('lo');
  });

  it('a truncated or corrupt message, attribute or struct is a ParseError', () => {
    const msg = encodeMessage({ type: RTM.NEWLINK, flags: 0, seq: 1 }, [encodeIfInfoMsg({ index: 1 }), nla.string(3, 'eth0')]);
    for (let cut = 1; cut < msg.length; cut++) expect(() => parseMessages(msg.subarray(0, cut))).toThrow(ParseError);
    const zero = new Uint8Array(16); // nlmsg_len 0 would never advance
    expect(() => parseMessages(zero)).toThrow(/smaller than its header/);
    expect(() => parseAttributes(Uint8Array.of(...u16(2), ...u16(1)))).toThrow(/smaller than its header/);
    expect(() => parseAttributes(Uint8Array.of(...u16(12), ...u16(1), 0, 0))).toThrow(/truncated/);
    expect(() => decodeIfInfoMsg(new Uint8Array(8))).toThrow(ParseError);
    expect(() => decodeTcMsg(new Uint8Array(19))).toThrow(ParseError);
    // A u32 attribute of 2 bytes.
    expect(() => parseAttributes(nla.u16(4, 1)).u32(4)).toThrow(/too short for a u32/);
  });

  it('NLMSG_ERROR gives the errno and the extended ACK (message, offset), capped or not', () => {
    const [capped] = parseMessages(errorReply(5, Errno.EEXIST, "Native and generic XDP can't be active at the same time", [nla.u32(NLMSGERR_ATTR_OFFS, 32)]));
    expect(decodeErrorMessage(capped!)).toEqual({ errno: Errno.EEXIST, message: "Native and generic XDP can't be active at the same time", offset: 32 });
    // Not capped: the whole request is echoed before the TLVs.
    const request = encodeMessage({ type: RTM.SETLINK, flags: 5, seq: 6 }, [encodeIfInfoMsg({ index: 2 }), nla.u32(3, 2)]);
    const err = new Uint8Array(4);
    new DataView(err.buffer).setInt32(0, -Errno.EBUSY, le);
    const [full] = parseMessages(encodeMessage({ type: NLMSG_ERROR, flags: NLM_F_ACK_TLVS, seq: 6 }, [err, request, nla.string(NLMSGERR_ATTR_MSG, 'XDP program already attached')]));
    expect(decodeErrorMessage(full!)).toEqual({ errno: Errno.EBUSY, message: 'XDP program already attached' });
    // An ACK.
    const [ack] = parseMessages(errorReply(7, 0));
    expect(decodeErrorMessage(ack!)).toEqual({ errno: 0 });
    // Too short for what the flags announce.
    expect(() => decodeErrorMessage({ flags: 0, payload: new Uint8Array(2) })).toThrow(ParseError);
    expect(() => decodeErrorMessage({ flags: NLM_F_ACK_TLVS, payload: new Uint8Array(8) })).toThrow(ParseError);
    const lying = Uint8Array.from([...err, ...u32(4096), ...new Uint8Array(12)]);
    expect(() => decodeErrorMessage({ flags: NLM_F_ACK_TLVS, payload: lying })).toThrow(/echoes a request of 4096 bytes/);
  });

  it('NLMSG_DONE: empty is success, a negative status an error with its explanation', () => {
    expect(decodeDoneMessage({ flags: 0, payload: new Uint8Array(0) })).toEqual({ errno: 0 });
    const st = new Uint8Array(4);
    new DataView(st.buffer).setInt32(0, -Errno.EINVAL, le);
    expect(decodeDoneMessage({ flags: NLM_F_ACK_TLVS, payload: Uint8Array.from([...st, ...nla.string(1, 'bad filter')]) })).toEqual({ errno: Errno.EINVAL, message: 'bad filter' });
  });
});

describe('exchange', () => {
  const request = (seq: number): Uint8Array => encodeMessage({ type: RTM.SETLINK, flags: 5, seq }, [encodeIfInfoMsg({ index: 2 })]);

  it('returns the messages before the ACK and skips other sequence numbers and NOOPs', () => {
    const echo = encodeMessage({ type: RTM.NEWTFILTER, flags: 0, seq: 10 }, [encodeTcMsg({ ifindex: 2, handle: 1, parent: 0, info: 0 })]);
    const stale = encodeMessage({ type: RTM.NEWTFILTER, flags: 0, seq: 9 }, []);
    const noop = encodeMessage({ type: NLMSG_NOOP, flags: 0, seq: 10 }, []);
    const t = scripted([stale, Uint8Array.from([...noop, ...echo]), errorReply(10, 0)]);
    const out = exchange(t, request(10), 10, 'ack');
    expect(out.map((m) => m.type)).toEqual([RTM.NEWTFILTER]);
    expect(t.sent).toHaveLength(1);
  });

  it('an error reply becomes a NetlinkError quoting the kernel and our explanation', () => {
    const t = scripted([errorReply(11, Errno.EEXIST, "Native and generic XDP can't be active at the same time")]);
    let caught: unknown;
    try {
      exchange(t, request(11), 11, 'ack', { context: 'attach XDP program p to va', explain: (errno) => (errno === Errno.EEXIST ? 'driver mode program 12 is attached' : undefined) });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NetlinkError);
    expect(caught).toBeInstanceOf(SyscallError);
    const e = caught as NetlinkError;
    expect(e.errno).toBe(Errno.EEXIST);
    expect(e.command).toBe('RTM_SETLINK');
    expect(e.kernelMessage).toBe("Native and generic XDP can't be active at the same time");
    expect(e.message).toBe(`attach XDP program p to va: RTM_SETLINK: EEXIST (kernel: "Native and generic XDP can't be active at the same time"; driver mode program 12 is attached)`);
  });

  it('a dump collects every part until NLMSG_DONE, across datagrams', () => {
    const part = (i: number): Uint8Array => encodeMessage({ type: RTM.NEWLINK, flags: NLM_F_MULTI, seq: 12 }, [encodeIfInfoMsg({ index: i })]);
    const done = encodeMessage({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: 12 }, [new Uint8Array(4)]);
    const t = scripted([Uint8Array.from([...part(1), ...part(2)]), Uint8Array.from([...part(3), ...done])]);
    expect(exchange(t, request(12), 12, 'dump').map((m) => decodeIfInfoMsg(m.payload).header.index)).toEqual([1, 2, 3]);
  });

  it('a datagram bigger than the buffer is read whole (peeked size first)', () => {
    const big = encodeMessage({ type: RTM.NEWLINK, flags: NLM_F_MULTI, seq: 13 }, [encodeIfInfoMsg({ index: 1 }), nla.bytes(99, new Uint8Array(60_000))]);
    const done = encodeMessage({ type: NLMSG_DONE, flags: NLM_F_MULTI, seq: 13 }, [new Uint8Array(4)]);
    const out = exchange(scripted([big, done]), request(13), 13, 'dump');
    expect(decodeIfInfoMsg(out[0]!.payload).attributes.get(99)?.data.length).toBe(60_000);
  });

  it('no reply is a timeout error, not a hang', () => {
    const t = scripted([]);
    const start = Date.now();
    expect(() => exchange(t, request(14), 14, 'ack', { timeoutMs: 50 })).toThrow(/no answer from the kernel within 50 ms/);
    expect(Date.now() - start).toBeLessThan(2000);
  });

  it('a reply that stops mid-dump times out too; a truncated one is a ParseError; OVERRUN and send failures are errors', () => {
    const part = encodeMessage({ type: RTM.NEWLINK, flags: NLM_F_MULTI, seq: 15 }, [encodeIfInfoMsg({ index: 1 })]);
    expect(() => exchange(scripted([part]), request(15), 15, 'dump', { timeoutMs: 30 })).toThrow(/no end of dump/);
    expect(() => exchange(scripted([part.subarray(0, 20)]), request(15), 15, 'dump')).toThrow(ParseError);
    const overrun = encodeMessage({ type: NLMSG_OVERRUN, flags: 0, seq: 15 }, []);
    expect(() => exchange(scripted([overrun]), request(15), 15, 'ack')).toThrow(/NLMSG_OVERRUN/);
    const refusing: NetlinkTransport = { send: () => -Errno.EPERM, recv: () => -Errno.EAGAIN };
    expect(() => exchange(refusing, request(15), 15, 'ack')).toThrow(/sendto: EPERM/);
    const broken: NetlinkTransport = { send: (b) => b.length, recv: () => -Errno.EBADF };
    expect(() => exchange(broken, request(15), 15, 'ack')).toThrow(/recv: EBADF/);
  });

  it('a GET of one object returns its single answer; NLM_F_DUMP_INTR is kept for the caller', () => {
    const one = encodeMessage({ type: RTM.NEWLINK, flags: NLM_F_DUMP_INTR, seq: 16 }, [encodeIfInfoMsg({ index: 4 })]);
    const [m] = exchange(scripted([one]), request(16), 16, 'one');
    expect(decodeIfInfoMsg(m!.payload).header.index).toBe(4);
    expect(m!.flags & NLM_F_DUMP_INTR).toBe(NLM_F_DUMP_INTR);
  });
});
