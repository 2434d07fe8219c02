/**
 * The running kernel's version, as the kernel itself states it.
 *
 * `uname -r` is a distribution's string: Debian reports "6.1.0-18-amd64" for 6.1.76, Ubuntu
 * shifts numbers too. The kernel embeds LINUX_VERSION_CODE in an ELF note of the vDSO it maps
 * into every process; we read it through /proc/self/auxv (AT_SYSINFO_EHDR) and /proc/self/mem.
 * Only if that fails do we parse `os.release()`.
 *
 * @module
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { release } from 'node:os';

/** A kernel version `major.minor.patch`; `patch` saturates at 255 as in LINUX_VERSION_CODE. */
export class KernelVersion {
  constructor(
    /** The major number: 6 in 6.1.76. */
    readonly major: number,
    /** The minor number: 1 in 6.1.76. */
    readonly minor: number,
    /** The patch level ("sublevel"): 76 in 6.1.76. */
    readonly patch = 0,
  ) {}

  /** Parses "5.10", "6.1.76" or "6.1.0-18-amd64" (anything after the numbers is ignored). */
  static parse(text: string): KernelVersion {
    const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
    if (m === null) throw new Error(`not a kernel version: ${JSON.stringify(text)}`);
    return new KernelVersion(Number(m[1]), Number(m[2]), m[3] === undefined ? 0 : Number(m[3]));
  }

  /** From a LINUX_VERSION_CODE value (`major << 16 | minor << 8 | patch`). */
  static fromCode(code: number): KernelVersion {
    return new KernelVersion(code >>> 16, (code >>> 8) & 0xff, code & 0xff);
  }

  /** The LINUX_VERSION_CODE encoding, as BPF_PROG_LOAD's kern_version wants it. */
  get code(): number {
    return ((this.major << 16) | (this.minor << 8) | Math.min(this.patch, 255)) >>> 0;
  }

  /** Negative, zero or positive as this version is older than, equal to or newer than `other`. */
  compare(other: KernelVersion | string): number {
    const o = typeof other === 'string' ? KernelVersion.parse(other) : other;
    return this.major - o.major || this.minor - o.minor || this.patch - o.patch;
  }

  /** True if this version is `other` or newer. */
  atLeast(other: KernelVersion | string): boolean {
    return this.compare(other) >= 0;
  }

  /** `major.minor.patch`. */
  toString(): string {
    return `${this.major}.${this.minor}.${this.patch}`;
  }
}

const AT_SYSINFO_EHDR = 33n;

/** Reads the vDSO's "Linux" ELF note, whose descriptor is LINUX_VERSION_CODE. */
function versionFromVdso(): KernelVersion | undefined {
  const auxv = readFileSync('/proc/self/auxv');
  let base: bigint | undefined;
  for (let off = 0; off + 16 <= auxv.length; off += 16) {
    const type = auxv.readBigUInt64LE(off);
    if (type === 0n) break;
    if (type === AT_SYSINFO_EHDR) base = auxv.readBigUInt64LE(off + 8);
  }
  if (base === undefined || base === 0n) return undefined;
  const fd = openSync('/proc/self/mem', 'r');
  try {
    // The vDSO is at most a few pages; 8 KiB covers its ELF header, program headers and notes.
    const image = Buffer.alloc(16 * 1024);
    const n = readSync(fd, image, 0, image.length, base);
    return parseVdsoNote(image.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** Finds PT_NOTE segments in a 64-bit little-endian ELF image and the "Linux" note in them. */
export function parseVdsoNote(image: Buffer): KernelVersion | undefined {
  if (image.length < 64 || image.readUInt32BE(0) !== 0x7f454c46 || image[4] !== 2 || image[5] !== 1) {
    return undefined;
  }
  const phoff = Number(image.readBigUInt64LE(32));
  const phentsize = image.readUInt16LE(54);
  const phnum = image.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > image.length) return undefined;
    if (image.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    const start = Number(image.readBigUInt64LE(ph + 8)); // p_offset: vDSO is mapped from 0
    const size = Number(image.readBigUInt64LE(ph + 32));
    let off = start;
    while (off + 12 <= Math.min(start + size, image.length)) {
      const namesz = image.readUInt32LE(off);
      const descsz = image.readUInt32LE(off + 4);
      const type = image.readUInt32LE(off + 8);
      const name = image.subarray(off + 12, off + 12 + namesz).toString('latin1').replace(/\0+$/, '');
      const desc = off + 12 + ((namesz + 3) & ~3);
      if (name === 'Linux' && type === 0 && descsz === 4 && desc + 4 <= image.length) {
        return KernelVersion.fromCode(image.readUInt32LE(desc));
      }
      off = desc + ((descsz + 3) & ~3);
    }
  }
  return undefined;
}

let cached: KernelVersion | undefined;

/** The running kernel's version (cached per process). */
export function kernelVersion(): KernelVersion {
  if (cached !== undefined) return cached;
  let v: KernelVersion | undefined;
  try {
    v = versionFromVdso();
  } catch {
    v = undefined;
  }
  cached = v ?? KernelVersion.parse(release());
  return cached;
}

/**
 * Pretends the kernel is `version` (or forgets the pretence with undefined). For tests of
 * version-dependent error messages with the fake backend.
 */
export function overrideKernelVersion(version: KernelVersion | string | undefined): void {
  cached = typeof version === 'string' ? KernelVersion.parse(version) : version;
}
