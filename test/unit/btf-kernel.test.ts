import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ParseError } from '../../src/errors.js';
import {
  BTFNotFoundError,
  Struct,
  findELFSection,
  flushKernelSpecCache,
  loadKernelModuleSpec,
  loadKernelSpec,
  parseBTFOrELF,
  vmlinuxSearchPaths,
} from '../../src/btf/index.js';
import { hasVmlinux, kernelModules, noVmlinuxReason, objectBTF, testdata } from './btf-helpers.js';

describe('loadKernelSpec sources', () => {
  it('accepts an ELF file with .BTF as a custom path (btf_custom_path)', () => {
    const spec = loadKernelSpec(join(testdata, 'btf_kinds.bpfeb.o'));
    expect(spec.byteOrder).toBe('big');
    expect(spec.typeByName('nested', Struct).size).toBe(128);
  });

  it('accepts raw BTF bytes and ELF bytes', () => {
    const { elf, btf } = objectBTF('btf_kinds.bpfel.o');
    expect(loadKernelSpec(btf).typeCount).toBe(loadKernelSpec(elf).typeCount);
  });

  it('caches per path and returns the same spec', () => {
    const path = join(testdata, 'btf_kinds.bpfel.o');
    expect(loadKernelSpec(path)).toBe(loadKernelSpec(path));
    const before = loadKernelSpec(path);
    flushKernelSpecCache();
    expect(loadKernelSpec(path)).not.toBe(before);
  });

  it('a missing custom file is a BTFNotFoundError naming the kernelBTF option', () => {
    let err: unknown;
    try {
      loadKernelSpec('/nonexistent/vmlinux.btf');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BTFNotFoundError);
    const msg = (err as Error).message;
    expect(msg).toContain('/nonexistent/vmlinux.btf');
    expect(msg).toContain('kernelBTF');
    expect(msg).toContain('CONFIG_DEBUG_INFO_BTF');
    expect((err as BTFNotFoundError).code).toBe('ENOENT');
  });

  it('bytes that are neither BTF nor ELF are a ParseError', () => {
    expect(() => parseBTFOrELF(new Uint8Array([1, 2, 3, 4]))).toThrow(ParseError);
  });

  it('an ELF without .BTF is a ParseError', () => {
    const { elf } = objectBTF('btf_kinds.bpfel.o');
    // Rename the section in the section-name table: ".BTF" -> ".XTF".
    const copy = elf.slice();
    const at = Buffer.from(copy).indexOf('.BTF\0');
    copy[at + 1] = 0x58;
    expect(() => parseBTFOrELF(copy)).toThrow(/no \.BTF section/);
  });

  it('truncated ELF section tables are a ParseError', () => {
    const { elf } = objectBTF('btf_kinds.bpfel.o');
    expect(() => findELFSection(elf.subarray(0, 40), '.BTF')).toThrow(ParseError);
    expect(() => findELFSection(elf.subarray(0, elf.length - 100), '.BTF')).toThrow(/does not fit the file|past the end of the file/);
  });

  it('searches the vmlinux locations libbpf searches', () => {
    const paths = vmlinuxSearchPaths('6.1.0-test');
    expect(paths).toContain('/boot/vmlinux-6.1.0-test');
    expect(paths).toContain('/usr/lib/debug/boot/vmlinux-6.1.0-test');
    expect(paths).toContain('/lib/modules/6.1.0-test/build/vmlinux');
  });
});

describe('the running kernel', () => {
  it('loads /sys/kernel/btf/vmlinux lazily and caches it', (ctx) => {
    if (!hasVmlinux) ctx.skip(noVmlinuxReason);
    const spec = loadKernelSpec();
    expect(loadKernelSpec()).toBe(spec);
    expect(spec.typeByName('task_struct', Struct).member('comm')).toBeDefined();
    expect(spec.decodedCount).toBeLessThan(spec.typeCount / 4);
  });

  it('module BTF is split BTF on top of vmlinux (skipped when no module exposes BTF)', (ctx) => {
    if (!hasVmlinux) ctx.skip(noVmlinuxReason);
    const modules = kernelModules();
    if (modules.length === 0) ctx.skip('no kernel module exposes BTF in /sys/kernel/btf (all built in)');
    const base = loadKernelSpec();
    const mod = loadKernelModuleSpec(modules[0]!);
    expect(mod.base).toBe(base);
    expect(mod.firstTypeId).toBe(base.typeCount);
    for (const [, t] of mod.entries()) String(t);
    expect(loadKernelModuleSpec(modules[0]!)).toBe(mod);
  });

  it('a module that does not exist is a BTFNotFoundError; bad names are rejected', (ctx) => {
    if (!hasVmlinux) ctx.skip(noVmlinuxReason);
    expect(() => loadKernelModuleSpec('no_such_module_xyz')).toThrow(BTFNotFoundError);
    expect(() => loadKernelModuleSpec('../etc/passwd')).toThrow(/invalid kernel module name/);
  });
});
