/**
 * `bpf_link_info.kprobe_multi` (Linux 6.6) and `bpf_link_info.uprobe_multi` (6.8): what a
 * multi-probe link is attached to. Both are read in two steps, as the kernel wants: the first
 * BPF_OBJ_GET_INFO_BY_FD (the one every link info starts with) reports the count; the second
 * passes arrays of that many u64s for the kernel to fill. Kernels that have the link type but
 * not its info (5.18–6.5, 6.6–6.7) report a count of 0, which no such link has: undefined.
 *
 * @module
 */
import { hostLittleEndian } from '../sys/attr.js';
import { objGetInfoByFd } from '../sys/commands.js';
import type { ErrorContext } from '../sys/errno.js';
import { LinkInfo as LinkInfoLayout } from '../sys/layouts.js';
import { dataView, textUntilNul } from '../internal/bytes.js';

/**
 * A kprobe_multi link, as `bpf_link_info.kprobe_multi` reports it (Linux 6.6; missed hits 6.7;
 * cookies 6.9, zeros before).
 */
export interface KprobeMultiLinkInfo {
  /** How many functions the link is attached to. */
  readonly count: number;
  /** `BPF_F_KPROBE_MULTI_RETURN` and the other `kprobe_multi.flags` the link was made with. */
  readonly flags: number;
  /** True for a kretprobe_multi link (`BPF_F_KPROBE_MULTI_RETURN`). */
  readonly retprobe: boolean;
  /** Hits missed because another probe was running on the CPU (6.7+; 0 before). */
  readonly missed: bigint;
  /**
   * The functions' addresses, sorted ascending (the kernel sorts them): zeros unless this
   * process may see kernel addresses (`kptr_restrict`, CAP_SYSLOG).
   */
  readonly addresses: readonly bigint[];
  /** The cookie of each address, in the same order (6.9+; zeros before). */
  readonly cookies: readonly bigint[];
}

/** A uprobe_multi link, as `bpf_link_info.uprobe_multi` reports it (Linux 6.8). */
export interface UprobeMultiLinkInfo {
  /** The binary's path, as the kernel sees it (d_path of the file it opened). */
  readonly path: string;
  /** How many places the link is attached to. */
  readonly count: number;
  /** `BPF_F_UPROBE_MULTI_RETURN` and the other flags the link was made with. */
  readonly flags: number;
  /** True for a uretprobe_multi link (`BPF_F_UPROBE_MULTI_RETURN`). */
  readonly retprobe: boolean;
  /** The process the link is limited to, in the caller's pid namespace; 0 for all. */
  readonly pid: number;
  /** The file offsets, in the order the link was made with. */
  readonly offsets: readonly bigint[];
  /** The USDT semaphore offset of each place (0 for none). */
  readonly refCtrOffsets: readonly bigint[];
  /** The cookie of each place. */
  readonly cookies: readonly bigint[];
}

/** Room for the path: PATH_MAX, what the kernel's d_path() produces at most. */
const PATH_MAX = 4096;


function u64s(bytes: Uint8Array, count: number): bigint[] {
  const v = dataView(bytes);
  return Array.from({ length: count }, (_, i) => v.getBigUint64(8 * i, hostLittleEndian));
}

/** `input`: the info struct with `fields` set, for the second call. */
function inputWith(fields: ReadonlyArray<readonly [offset: number, value: number]>): Uint8Array {
  const end = Math.max(...fields.map(([o]) => o + 4));
  const input = new Uint8Array(end);
  for (const [offset, value] of fields) dataView(input).setUint32(offset, value, hostLittleEndian);
  return input;
}

/**
 * Decodes `bpf_link_info.kprobe_multi` of link `fd`, given the info of the first call; asks
 * the kernel again for the addresses and cookies.
 */
export function kprobeMultiInfo(fd: number, first: Uint8Array, ctx: ErrorContext): KprobeMultiLinkInfo | undefined {
  const f = LinkInfoLayout.fields;
  const count = dataView(first).getUint32(f.kprobe_multi_count.offset, hostLittleEndian);
  if (count === 0) return undefined;
  const addrs = new Uint8Array(8 * count);
  const cookies = new Uint8Array(8 * count);
  // bpf_kprobe_multi_link_fill_link_info(): `count` is the capacity of both arrays.
  const info = objGetInfoByFd(
    fd,
    LinkInfoLayout.size,
    [f.kprobe_multi_addrs.offset, addrs, f.kprobe_multi_cookies.offset, cookies],
    ctx,
    inputWith([[f.kprobe_multi_count.offset, count]]),
  );
  const flags = dataView(info).getUint32(f.kprobe_multi_flags.offset, hostLittleEndian);
  return {
    count,
    flags,
    retprobe: (flags & 1) !== 0,
    missed: dataView(info).getBigUint64(f.kprobe_multi_missed.offset, hostLittleEndian),
    addresses: u64s(addrs, count),
    cookies: u64s(cookies, count),
  };
}

/**
 * Decodes `bpf_link_info.uprobe_multi` of link `fd`, given the info of the first call; asks
 * the kernel again for the path, offsets, semaphore offsets and cookies.
 */
export function uprobeMultiInfo(fd: number, first: Uint8Array, ctx: ErrorContext): UprobeMultiLinkInfo | undefined {
  const f = LinkInfoLayout.fields;
  const count = dataView(first).getUint32(f.uprobe_multi_count.offset, hostLittleEndian);
  if (count === 0) return undefined;
  const path = new Uint8Array(PATH_MAX);
  const offsets = new Uint8Array(8 * count);
  const refCtr = new Uint8Array(8 * count);
  const cookies = new Uint8Array(8 * count);
  // bpf_uprobe_multi_link_fill_link_info(): `path_size` is the path buffer's size (both or
  // neither), `count` the capacity of the arrays.
  const info = objGetInfoByFd(
    fd,
    LinkInfoLayout.size,
    [
      f.uprobe_multi_path.offset,
      path,
      f.uprobe_multi_offsets.offset,
      offsets,
      f.uprobe_multi_ref_ctr_offsets.offset,
      refCtr,
      f.uprobe_multi_cookies.offset,
      cookies,
    ],
    ctx,
    inputWith([
      [f.uprobe_multi_path_size.offset, path.length],
      [f.uprobe_multi_count.offset, count],
    ]),
  );
  const v = dataView(info);
  const flags = v.getUint32(f.uprobe_multi_flags.offset, hostLittleEndian);
  return {
    path: textUntilNul(path),
    count,
    flags,
    retprobe: (flags & 1) !== 0,
    pid: v.getUint32(f.uprobe_multi_pid.offset, hostLittleEndian),
    offsets: u64s(offsets, count),
    refCtrOffsets: u64s(refCtr, count),
    cookies: u64s(cookies, count),
  };
}
