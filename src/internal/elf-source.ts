/**
 * Where an ELF reader gets its bytes: a buffer already in memory (BPF objects, vmlinux
 * images), or positioned reads of an open file (uprobe targets such as Node's ~100 MB
 * binary, of which only the headers and symbol tables are ever read).
 *
 * Every range is checked against the size first, so a corrupt offset or count ends in a
 * {@link ParseError} naming the piece and where it points, never in a huge allocation or a
 * read outside the input.
 *
 * @module
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ArgumentError, ParseError } from '../errors.js';

/** The bytes of one ELF file. */
export interface ELFSource {
  /** Size of the file in bytes. */
  readonly size: number;
  /** Prefixed to error messages (a path), or `""`. */
  readonly name: string;
  /**
   * `length` bytes at `offset`, called `what` in errors; `at` is the offset reported when the
   * range is outside the file (the header field that pointed there; default `offset`).
   */
  read(offset: number, length: number, what: string, at?: number): Uint8Array;
}

/** A {@link ParseError} about `source`, its name first. */
export function elfError(source: ELFSource, message: string, at?: number): ParseError {
  return new ParseError(source.name === '' ? message : `${source.name}: ${message}`, at);
}

function checkRange(source: ELFSource, offset: number, length: number, what: string, at: number | undefined): void {
  if (Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= source.size) return;
  throw elfError(source, `${what} [${offset}, +${length}) is past the end of the file (${source.size} bytes)`, at ?? offset);
}

/** An ELF file in memory; reads are views into `bytes`, not copies. */
export function memorySource(bytes: Uint8Array, name = ''): ELFSource {
  const source: ELFSource = {
    size: bytes.byteLength,
    name,
    read(offset, length, what, at) {
      checkRange(source, offset, length, what, at);
      return bytes.subarray(offset, offset + length);
    },
  };
  return source;
}

/** An open file read with positioned reads (`pread`); each read is a fresh buffer. */
export function fileSource(fd: number, size: number, name: string): ELFSource {
  const source: ELFSource = {
    size,
    name,
    read(offset, length, what, at) {
      checkRange(source, offset, length, what, at);
      const bytes = new Uint8Array(length);
      for (let done = 0; done < length; ) {
        const n = readSync(fd, bytes, done, length - done, offset + done);
        if (n === 0) throw elfError(source, `${what} was cut short (file changed while reading?)`, offset + done);
        done += n;
      }
      return bytes;
    },
  };
  return source;
}

/**
 * Opens `path` and hands `read` an {@link ELFSource} over it (positioned reads, nothing loaded
 * whole); the file is closed when `read` returns or throws. `what` names the file in the
 * ArgumentError for one that cannot be opened (`uprobe target`).
 */
export function withFileSource<T>(path: string, what: string, read: (source: ELFSource) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new ArgumentError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  try {
    return read(fileSource(fd, fstatSync(fd).size, path));
  } finally {
    closeSync(fd);
  }
}
