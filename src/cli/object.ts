/**
 * Reading the object file a command was given, shared by `inspect` and `disasm`. Kept apart
 * so both report a missing or malformed file the same way.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { readObject, type ObjectContents } from '../elf/reader.js';

/**
 * Reads and parses a BPF object. File system errors keep Node's message (`ENOENT: no such
 * file or directory, open 'x.o'`); malformed input throws the reader's `ParseError`.
 */
export async function readObjectFile(path: string): Promise<ObjectContents> {
  const bytes = await readFile(path);
  return readObject(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
