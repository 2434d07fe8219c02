// USDT notes without a kernel: the `.note.stapsdt` reader against what binutils says about the
// fixtures (testdata/usdt/readelf.txt, and `readelf -n` live where binutils is installed), file
// offsets of probes and semaphores in PIE and non-PIE executables and a shared library, the
// `.stapsdt.base` shift of a prelinked file (simulated by moving the notes' addresses), and
// malformed notes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArgumentError, ParseError } from '../../src/errors.js';
import { readHeader, readNotes, readSectionHeaders, readSectionNames } from '../../src/internal/elf-reader.js';
import { memorySource } from '../../src/internal/elf-source.js';
import { parseUSDTFile, readUSDTFile } from '../../src/link/usdt-notes.js';
import { parseReadelfNotes, recordedNotes, usdtFixture } from '../helpers/readelf-notes.js';
import { findTool, missingToolReason } from '../helpers/tools.js';

const FILES = ['target', 'target-nopie', 'libusdtfixture.so', 'target-arm64'];
const recorded = recordedNotes();
const readelf = findTool('readelf');

let tmp: string | undefined;
afterAll(() => {
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

/** The probes as readelf would print them (readelf shows the note's own addresses, before any shift). */
const asReadelf = (file: string) =>
  readUSDTFile(usdtFixture(file)).probes.map((p) => ({ provider: p.provider, name: p.name, location: p.location, base: p.base, semaphore: p.semaphore, arguments: p.arguments }));

describe('.note.stapsdt', () => {
  it('readelf.txt covers every fixture (the parser of its output works)', () => {
    expect([...recorded.keys()]).toEqual(FILES);
    expect(recorded.get('target')!.map((p) => `${p.provider}:${p.name}`)).toEqual([
      'ebpf_ts:memory',
      'ebpf_ts:noargs',
      'ebpf_ts:regs',
      'ebpf_ts:global',
      'ebpf_ts:consts',
      'ebpf_ts:twice',
      'ebpf_ts:twice',
      'ebpf_ts:many',
      'ebpf_ts:guarded',
    ]);
    expect(recorded.get('libusdtfixture.so')!.map((p) => `${p.provider}:${p.name}`)).toEqual(['ebpf_ts_lib:hello']);
  });

  it.each(FILES)('%s: every note as readelf.txt records it', (file) => {
    expect(asReadelf(file)).toEqual(recorded.get(file));
  });

  it.skipIf(readelf === undefined)(`agrees with readelf -n run now ${readelf === undefined ? `(skipped: ${missingToolReason('readelf')})` : ''}`, () => {
    for (const file of FILES) {
      const r = spawnSync(readelf!, ['-W', '-n', usdtFixture(file)], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(asReadelf(file)).toEqual(parseReadelfNotes(r.stdout));
    }
  });

  it('file offsets: PIE (address = offset in the text segment), non-PIE (minus 0x400000), semaphores through the data segment', () => {
    const pie = readUSDTFile(usdtFixture('target'));
    const nopie = readUSDTFile(usdtFixture('target-nopie'));
    expect(pie.elfType).toBe(3);
    expect(nopie.elfType).toBe(2);
    expect(pie.machine).toBe(62);
    for (const p of pie.probes) expect(p.offset).toBe(p.location);
    for (const p of nopie.probes) expect(p.offset).toBe(p.location - 0x400000n);
    const guarded = (f: typeof pie) => f.probes.find((p) => p.name === 'guarded')!;
    // .probes is in the RW segment, mapped 0x1000 above its file offset in both links.
    expect(guarded(pie)).toMatchObject({ semaphore: 0x4044n, semaphoreOffset: 0x3044n });
    expect(guarded(nopie)).toMatchObject({ semaphore: 0x404044n, semaphoreOffset: 0x3044n });
    for (const p of [...pie.probes, ...nopie.probes]) if (p.name !== 'guarded') expect(p.semaphoreOffset).toBe(0n);
    // The same code at the same file offsets, whatever the link address.
    expect(pie.probes.map((p) => p.offset! - 0x10n)).toEqual(nopie.probes.map((p) => p.offset));
  });

  it('the offset of every probe is a nop (what <sys/sdt.h> emits at the probe), in the file', () => {
    for (const file of ['target', 'target-nopie', 'libusdtfixture.so']) {
      const bytes = readFileSync(usdtFixture(file));
      for (const p of readUSDTFile(usdtFixture(file)).probes) expect(bytes[Number(p.offset)], `${file} ${p.name}`).toBe(0x90);
    }
    const arm64 = readFileSync(usdtFixture('target-arm64'));
    for (const p of readUSDTFile(usdtFixture('target-arm64')).probes) expect(arm64.readUInt32LE(Number(p.offset))).toBe(0xd503201f);
  });

  it('prelink: addresses written before the file moved are shifted by how far .stapsdt.base moved', () => {
    const bytes = new Uint8Array(readFileSync(usdtFixture('target-nopie')));
    const source = memorySource(bytes);
    const header = readHeader(source);
    const sections = readSectionHeaders(source, header);
    const names = readSectionNames(source, header, sections);
    const notes = sections.find((s) => names.at(s.sh_name, '') === '.note.stapsdt')!;
    const view = new DataView(bytes.buffer);
    const moved = 0x20000n;
    for (const note of readNotes(source, header, notes, 'notes')) {
      if (note.name !== 'stapsdt') continue;
      for (const at of [0, 8, 16]) {
        const v = view.getBigUint64(note.at + at, true);
        if (v !== 0n) view.setBigUint64(note.at + at, v - moved, true);
      }
    }
    const original = readUSDTFile(usdtFixture('target-nopie')).probes;
    const prelinked = parseUSDTFile(memorySource(bytes, 'prelinked')).probes;
    expect(prelinked.map((p) => p.base)).toEqual(original.map((p) => p.base - moved));
    expect(prelinked.map(({ location, semaphore, offset, semaphoreOffset }) => ({ location, semaphore, offset, semaphoreOffset }))).toEqual(
      original.map(({ location, semaphore, offset, semaphoreOffset }) => ({ location, semaphore, offset, semaphoreOffset })),
    );
  });

  it('a file without .note.stapsdt has no probes; a file that is not ELF is an ArgumentError', () => {
    expect(readUSDTFile(join(import.meta.dirname, '../../testdata/uprobe/target')).probes).toEqual([]);
    expect(() => readUSDTFile(usdtFixture('target.c'))).toThrow(ArgumentError);
    expect(() => readUSDTFile(usdtFixture('no-such-file'))).toThrow(/not found/);
  });

  it('a note that runs past its section is a ParseError with the offset', () => {
    const bytes = new Uint8Array(readFileSync(usdtFixture('target')));
    const source = memorySource(bytes);
    const header = readHeader(source);
    const sections = readSectionHeaders(source, header);
    const names = readSectionNames(source, header, sections);
    const notes = sections.find((s) => names.at(s.sh_name, '') === '.note.stapsdt')!;
    new DataView(bytes.buffer).setUint32(notes.sh_offset + 4, 0x10000, true); // n_descsz of the first note
    let caught: unknown;
    try {
      parseUSDTFile(memorySource(bytes, 'corrupt'));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ParseError);
    expect((caught as ParseError).message).toMatch(/^corrupt: \.note\.stapsdt: note at \+0 .* runs past the end of the section/);
  });

  it('a descriptor whose strings are not NUL-terminated is a ParseError', () => {
    const bytes = new Uint8Array(readFileSync(usdtFixture('libusdtfixture.so')));
    const source = memorySource(bytes);
    const header = readHeader(source);
    const sections = readSectionHeaders(source, header);
    const names = readSectionNames(source, header, sections);
    const notes = sections.find((s) => names.at(s.sh_name, '') === '.note.stapsdt')!;
    const [note] = readNotes(source, header, notes, 'notes');
    bytes.fill(0x41, note!.at + 24, note!.at + note!.desc.byteLength);
    expect(() => parseUSDTFile(memorySource(bytes, 'corrupt'))).toThrow(/not NUL-terminated/);
  });

  it('readUSDTFile caches per file and notices a rewrite', () => {
    tmp ??= mkdtempSync(join(tmpdir(), 'ebpf-ts-usdt-'));
    const path = join(tmp, 'copy');
    writeFileSync(path, readFileSync(usdtFixture('libusdtfixture.so')));
    const first = readUSDTFile(path);
    expect(readUSDTFile(path)).toBe(first);
    writeFileSync(path, readFileSync(usdtFixture('target')));
    expect(readUSDTFile(path).probes).toHaveLength(9);
  });
});
