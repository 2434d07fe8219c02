// loadCollection on the fake backend: the item-7 messages that need an old or differently
// configured kernel (global data before 5.2, a map type configured out), proven without one;
// one load route, whether the spec was read from a file, parsed from bytes in memory or
// outlived those bytes; plus the pure helpers behind kconfig values and verifier hints.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Func, FuncLinkage, Var, VarLinkage } from '../../src/btf/types.js';
import { loadCollection } from '../../src/collection.js';
import { loadCollectionSpec, parseCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { readELF } from '../../src/elf/file.js';
import { GlobalDataNotSupportedError, MapTypeNotSupportedError } from '../../src/collection-errors.js';
import { explainVerifierLog } from '../../src/prog.js';
import { fillKconfig } from '../../src/collection-externs.js';
import { parseKernelConfig } from '../../src/internal/kconfig.js';
import { NotSupportedError } from '../../src/errors.js';
import { resetMapTypeFeatures } from '../../src/features/map-types.js';
import { FakeBackend } from '../../src/sys/backend-fake.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd } from '../../src/sys/layouts.js';
import { setBackend } from '../../src/sys/select.js';
import { MapType, ProgramType } from '../../src/types.js';
import type { ExternSpec } from '../../src/elf/specs.js';

let fake: FakeBackend;

beforeEach(() => {
  fake = new FakeBackend();
  setBackend(fake);
  resetMapTypeFeatures();
});

afterEach(() => {
  setBackend(undefined);
  overrideKernelVersion(undefined);
  resetMapTypeFeatures();
});

describe('loadCollection on the fake backend', () => {
  it('global data on Linux 5.1: "program P uses global data (.rodata); needs Linux 5.2 or later", before any syscall', async () => {
    overrideKernelVersion('5.1');
    const err = await loadCollection('testdata/load_fail_global_data.bpfel.o').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GlobalDataNotSupportedError);
    expect(err).toBeInstanceOf(NotSupportedError);
    expect((err as Error).message).toBe('program read_setting uses global data (.rodata); needs Linux 5.2 or later');
    expect(fake.calls).toHaveLength(0);
  });

  it('global data loads on 5.2 as far as the fake lets it (the check is a version gate, not a refusal)', async () => {
    overrideKernelVersion('5.2');
    const err = await loadCollection('testdata/load_fail_global_data.bpfel.o').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(GlobalDataNotSupportedError);
  });

  it('a map type configured out: "map xsk_map: map type XSKMAP is not supported by this kernel (check CONFIG_XDP_SOCKETS)", BTF fd closed again', async () => {
    overrideKernelVersion('6.18');
    fake.alwaysBpf(Cmd.BtfLoad, () => fake.allocFd());
    fake.alwaysBpf(Cmd.MapCreate, (c) =>
      new DataView(c.attr.buffer, c.attr.byteOffset).getUint32(0, true) === MapType.XSKMap ? -Errno.EINVAL : fake.allocFd(),
    );
    const err = await loadCollection('testdata/load_fail_xskmap.bpfel.o').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MapTypeNotSupportedError);
    expect((err as Error).message).toBe('map xsk_map: map type XSKMAP is not supported by this kernel (check CONFIG_XDP_SOCKETS)');
    expect((err as MapTypeNotSupportedError).config).toBe('CONFIG_XDP_SOCKETS');
    // Everything handed out that is not a probe's is closed: the object's BTF.
    const btfFds = fake.callsOf(Cmd.BtfLoad).length;
    expect(btfFds).toBeGreaterThan(0);
    expect(fake.closed.length).toBeGreaterThan(0);
  });

  it('a map type older than the kernel: names the version instead of a config option', async () => {
    overrideKernelVersion('4.17');
    fake.alwaysBpf(Cmd.BtfLoad, () => fake.allocFd());
    fake.alwaysBpf(Cmd.MapCreate, (c) =>
      new DataView(c.attr.buffer, c.attr.byteOffset).getUint32(0, true) === MapType.XSKMap ? -Errno.EINVAL : fake.allocFd(),
    );
    const err = await loadCollection('testdata/load_fail_xskmap.bpfel.o').catch((e: unknown) => e);
    expect((err as Error).message).toBe('map xsk_map: map type XSKMAP is not supported by this kernel (requires Linux 4.18 or later)');
  });
});

describe('one load route: the BTF a spec sends to the kernel does not depend on how the spec was made', () => {
  const testdata = join(import.meta.dirname, '../../testdata');
  // Not the objects without BTF (-g0), nor those whose programs name undefined symbols
  // (refused before the BTF is loaded; elf-references.test.ts resolves them).
  const objects = readdirSync(testdata)
    .filter((f) => f.endsWith('.bpfel.o') && !f.includes('nobtf'))
    .filter((f) => parseCollectionSpec(new Uint8Array(readFileSync(join(testdata, f)))).unresolvedReferences().length === 0)
    .sort();

  /**
   * The blob BPF_BTF_LOAD gets for the object: the last BTF loaded before the first map or
   * program is created (the fake refuses those, which ends the load there).
   */
  async function btfSent(what: string | CollectionSpec): Promise<Uint8Array> {
    fake = new FakeBackend();
    setBackend(fake);
    overrideKernelVersion('6.18');
    fake.alwaysBpf(Cmd.BtfLoad, () => fake.allocFd());
    await loadCollection(what).then(
      (coll) => coll.close(),
      () => undefined,
    );
    const end = fake.calls.findIndex((c) => c.cmd === Cmd.MapCreate || c.cmd === Cmd.ProgLoad);
    const loads = fake.calls.slice(0, end < 0 ? undefined : end).filter((c) => c.cmd === Cmd.BtfLoad);
    const blob = loads.at(-1)?.pointers.get(0);
    if (blob == null) throw new Error('no BTF was loaded');
    // The object's BTF (magic 0xeB9F in its own byte order), not a feature probe's.
    expect([blob[0], blob[1]]).toEqual([0x9f, 0xeb]);
    return blob.slice();
  }

  it.each(objects)('%s: from its path, parsed from bytes, from loadCollectionSpec, and after its bytes are overwritten', async (name) => {
    const path = join(testdata, name);
    const fromPath = await btfSent(path);
    expect(fromPath.length).toBeGreaterThan(24);
    expect(await btfSent(parseCollectionSpec(new Uint8Array(readFileSync(path))))).toEqual(fromPath);
    expect(await btfSent(await loadCollectionSpec(path))).toEqual(fromPath);
    // Loading never reads the object again: a spec whose source bytes are gone loads the same.
    const bytes = new Uint8Array(readFileSync(path));
    const spec = parseCollectionSpec(bytes);
    bytes.fill(0xff);
    expect(await btfSent(spec)).toEqual(fromPath);
  });

  it('hidden symbols (only .symtab says so) reach the BTF of a spec parsed from bytes, as of one loaded by path', async () => {
    // elf_programs with the global subprogram leaf and the global variable hits made STV_HIDDEN.
    const bytes = new Uint8Array(readFileSync(join(testdata, 'elf_programs.bpfel.o')));
    const elf = readELF(bytes);
    const symtab = elf.section('.symtab')!;
    for (const name of ['leaf', 'hits']) bytes[symtab.offset + elf.symbols.find((s) => s.name === name)!.index * 24 + 5] = 2;
    const spec = parseCollectionSpec(bytes);
    expect(spec.btf!.typeByName('leaf', Func).linkage).toBe(FuncLinkage.Static);
    expect(spec.btf!.typeByName('hits', Var).linkage).toBe(VarLinkage.Static);
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-hidden-'));
    try {
      const path = join(dir, 'hidden.bpfel.o');
      writeFileSync(path, bytes);
      const fromPath = await btfSent(path);
      expect(await btfSent(spec)).toEqual(fromPath);
      // Not the BTF of the unmodified object: the linkage changed in what the kernel gets.
      expect(fromPath).not.toEqual(await btfSent(join(testdata, 'elf_programs.bpfel.o')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('verifier hints', () => {
  it('a helper the type may not call names helper, type, the helper\'s version and the kernel\'s', () => {
    overrideKernelVersion('6.18');
    const hint = explainVerifierLog(['0: (85) call bpf_skb_store_bytes#9', 'program of this type cannot use helper bpf_skb_store_bytes#9'], ProgramType.SocketFilter);
    // Which types may call it is asked of the (fake) kernel; the sentence around it is fixed.
    expect(hint).toMatch(/^helper bpf_skb_store_bytes \(added in Linux 4\.1\) cannot be called from SOCKET_FILTER programs; .*this kernel \(Linux 6\.18(\.0)?\).*: (attach the code as one of those types|do without the helper)/);
  });

  it('the pre-6.2 wording "unknown func" gets the same hint', () => {
    overrideKernelVersion('5.10');
    expect(explainVerifierLog(['unknown func bpf_skb_store_bytes#9'], ProgramType.SocketFilter)).toMatch(/Linux 5\.10/);
  });

  it('both wordings of an uninitialised stack read get the padding hint', () => {
    for (const line of ['invalid indirect read from stack R2 off -16+1 size 16', 'invalid read from stack R2 off -16+1 size 16']) {
      expect(explainVerifierLog([line], ProgramType.SocketFilter)).toMatch(/padding of a struct/);
    }
  });
});

describe('kconfig', () => {
  const ext = (name: string, size: number, offset: number, weak = false): ExternSpec => ({
    name, kind: 'kconfig', weak, type: undefined, isFunction: false, typeless: false, offset, size,
  });

  it('parses set, unset, numeric and string options', () => {
    const c = parseKernelConfig('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_HZ=250\nCONFIG_S="x y"\n');
    expect([...c]).toEqual([['CONFIG_A', 'y'], ['CONFIG_B', 'n'], ['CONFIG_HZ', '250'], ['CONFIG_S', '"x y"']]);
  });

  it('LINUX_KERNEL_VERSION is the running kernel\'s code', () => {
    overrideKernelVersion('6.18.3');
    const value = new Uint8Array(8);
    fillKconfig(value, [ext('LINUX_KERNEL_VERSION', 4, 0)], 'little');
    expect(new DataView(value.buffer).getUint32(0, true)).toBe((6 << 16) | (18 << 8) | 3);
  });

  it('an unknown non-weak value is an error naming it; a weak one stays zero', () => {
    const value = new Uint8Array(8);
    expect(() => fillKconfig(value, [ext('LINUX_HAS_NOTHING', 1, 0)], 'little')).toThrow(/extern LINUX_HAS_NOTHING/);
    fillKconfig(value, [ext('LINUX_HAS_NOTHING', 1, 0, true)], 'little');
    expect(value.every((b) => b === 0)).toBe(true);
  });

  it('the kconfig option supplies CONFIG_ values before the kernel config is read', () => {
    const value = new Uint8Array(8);
    fillKconfig(value, [ext('CONFIG_EBPF_TS_GIVEN', 4, 0), ext('CONFIG_EBPF_TS_TRISTATE', 4, 4)], 'little', { CONFIG_EBPF_TS_GIVEN: '42', CONFIG_EBPF_TS_TRISTATE: 'm' });
    const view = new DataView(value.buffer);
    expect([view.getUint32(0, true), view.getUint32(4, true)]).toEqual([42, 2]);
  });
});
