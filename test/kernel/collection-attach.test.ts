// Auto-attach from section names: Program.attach() and Collection.attachAll(), on the
// tp/raw_syscalls programs of testdata/elf_patterns.bpf.c (filtered to this process's tgid).
import { describe, expect, it } from 'vitest';
import { loadCollection } from '../../src/collection.js';
import { ArgumentError, ClosedError } from '../../src/errors.js';
import { callGetppid, ensureTracefs } from './link-helpers.js';

const object = new URL('../../testdata/elf_patterns.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;

describe.skipIf(!root)('auto-attach (root: loads and attaches programs)', () => {
  it('attachAll() attaches every tracepoint program; the programs run; close() detaches', async () => {
    ensureTracefs();
    const coll = await loadCollection(object, { constants: { filter_tgid: process.pid } });
    try {
      const warnings: Error[] = [];
      const onWarning = (w: Error): void => void warnings.push(w);
      process.on('warning', onWarning);
      const links = coll.attachAll();
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      process.off('warning', onWarning);
      expect(Object.keys(links).sort()).toEqual(['on_enter', 'on_exit']);
      // Socket filters, XDP, … have no auto-attach target and are left alone, but not silently.
      expect(Object.keys(coll.links).sort()).toEqual(['on_enter', 'on_exit']);
      const others = Object.keys(coll.programs).filter((n) => n !== 'on_enter' && n !== 'on_exit');
      expect(others.length).toBeGreaterThan(0);
      expect(Object.keys(coll.notAttached).sort()).toEqual(others.sort());
      // Each reason says what to do: the function to call, or the target to pass.
      for (const why of Object.values(coll.notAttached)) {
        expect(why).toMatch(/no auto-attach for|names no target|without a section name|attaches to .*: attach\w+\(|says the kind of hook but not which|names no direction|runs from a devmap|samples perf events|run with testRun/);
      }
      const warning = warnings.find((w) => (w as { code?: string }).code === 'EBPF_TS_NOT_ATTACHED');
      expect(warning?.message).toContain(`attachAll() left ${others.length} program(s) unattached`);
      for (const n of others) expect(warning?.message).toContain(`\n  ${n}: `);
      callGetppid(50);
      const entered = coll.variables.enter_count!.get() as bigint;
      expect(entered).toBeGreaterThanOrEqual(50n);
      // A second attachAll() attaches nothing new; quiet: no warning, the list stays.
      process.on('warning', onWarning);
      expect(coll.attachAll({ quiet: true })).toEqual({});
      await new Promise((r) => setImmediate(r));
      process.off('warning', onWarning);
      expect(warnings.filter((w) => (w as { code?: string }).code === 'EBPF_TS_NOT_ATTACHED')).toHaveLength(1);
      expect(Object.keys(coll.notAttached).sort()).toEqual(others.sort());
    } finally {
      coll.close();
    }
    expect(Object.values(coll.links).every((l) => l.closed)).toBe(true);
    expect(() => coll.attachAll()).toThrow(ClosedError);
  });

  it('Program.attach() uses the section name the program was loaded from', async () => {
    ensureTracefs();
    const coll = await loadCollection(object, { constants: { filter_tgid: process.pid }, programs: ['on_enter'] });
    try {
      expect(coll.programs.on_enter!.attachment.sectionName).toBe('tp/raw_syscalls/sys_enter');
      const link = coll.programs.on_enter!.attach();
      const before = coll.variables.enter_count!.get() as bigint;
      callGetppid(20);
      expect((coll.variables.enter_count!.get() as bigint) - before).toBeGreaterThanOrEqual(20n);
      link.close();
      const after = coll.variables.enter_count!.get() as bigint;
      callGetppid(20);
      expect(coll.variables.enter_count!.get()).toBe(after);
    } finally {
      coll.close();
    }
  });

  it('a program loaded without a section name cannot auto-attach', async () => {
    const coll = await loadCollection(object, { programs: ['on_enter'] });
    try {
      const { Program } = await import('../../src/prog.js');
      const { asm } = await import('../../src/index.js');
      using bare = Program.load({
        type: coll.programs.on_enter!.type,
        license: 'GPL',
        instructions: asm.assemble([asm.mov64Imm(asm.Register.R0, 0), asm.exit()]),
      });
      expect(() => bare.attach()).toThrow(ArgumentError);
    } finally {
      coll.close();
    }
  });
});
