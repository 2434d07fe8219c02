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
