/**
 * Byte-order and DataView helpers: one place that knows a Uint8Array may be a window into a
 * larger buffer (a DataView over `bytes.buffer` alone would start at the wrong byte).
 *
 * @module
 */
import { endianness } from 'node:os';

/** True on little-endian hosts: the byte order of every attr, map value and perf record. */
export const hostLittleEndian = endianness() === 'LE';

/** A DataView over exactly the bytes of `bytes` (its offset and length in its buffer). */
export function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const utf8 = new TextDecoder();

/** The UTF-8 text of a NUL-terminated string in `bytes` (all of it when there is no NUL). */
export function textUntilNul(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return utf8.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}
