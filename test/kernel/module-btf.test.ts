// Kernel module BTF (testdata/module_btf.bpf.c): CO-RE against a type only veth.ko defines,
// fentry/fexit on a module function (attach_btf_obj_fd), a module kfunc (fd_array index in
// the call's off) and a module's typed per-CPU __ksym (the BTF fd in the ld_imm64).
//
// The host's kernel has no module BTF (veth and nf_conntrack are built in), so the module
// tests run in test:vm, with the modules inserted in the guest:
//   EBPF_TS_VM_EXTRA_MODULES="crc32c_generic libcrc32c nf_conntrack x_tables" \
//   EBPF_TS_VM_TESTS=test/kernel/module-btf.test.ts npm run test:vm -- 6.12
// (veth is inserted for the network tests already). The error tests run everywhere.
import { readdirSync, readlinkSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelModuleNames, loadKernelModuleSpec, loadKernelSpec } from '../../src/btf/kernel.js';
import { Struct } from '../../src/btf/types.js';
import { UnresolvedExternError } from '../../src/collection-externs.js';
import { loadCollection } from '../../src/collection.js';
import { loadCollectionSpec } from '../../src/collection-spec.js';
import { attachKprobe } from '../../src/link/kprobe.js';
import { attachTracing } from '../../src/link/raw-tracepoint.js';
import { SymbolNotFoundError } from '../../src/errors.js';
import { tracefsAvailable } from '../../src/internal/tracefs.js';
import { ensureTracefs } from './link-helpers.js';
import { TracingTargetNotFoundError } from '../../src/link/tracing-target.js';
import { openKernelModuleBTF } from '../../src/module-btf.js';
import { netnsUnavailable, TestNetns } from './helpers/netns.js';
import { trampolineRefusal } from './helpers/kernel-features.js';

const object = new URL('../../testdata/module_btf.bpfel.o', import.meta.url).pathname;
const root = process.getuid?.() === 0;
const modules = root ? kernelModuleNames() : [];

/** Why a test of `module`'s BTF cannot run here, or '' when it can. */
function needModule(module: string): string {
  if (!root) return 'needs root for bpf()';
  if (modules.length === 0) return 'runs in test:vm: no module BTF on this host';
  if (!modules.includes(module)) return `runs in test:vm: module ${module} is not loaded with BTF here (EBPF_TS_VM_EXTRA_MODULES)`;
  return '';
}

const vethSkip = needModule('veth');
const trampolineSkip = vethSkip !== '' ? vethSkip : (trampolineRefusal() ?? '');
const netSkip = trampolineSkip !== '' ? trampolineSkip : (netnsUnavailable() ?? '');
if (vethSkip === '') ensureTracefs();
const kprobeSkip = vethSkip !== '' ? vethSkip : (netnsUnavailable() ?? (tracefsAvailable() ? '' : 'tracefs is not mounted'));
const ctSkip = needModule('nf_conntrack');
const xtSkip = needModule('x_tables');
const recseqSkip = xtSkip !== '' ? xtSkip : netSkip;
for (const s of new Set([vethSkip, netSkip, ctSkip, xtSkip].filter((x) => x !== ''))) console.warn(`skipping module BTF tests: ${s}`);

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Open BTF object fds of this process. */
function btfFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:btf') n++;
    } catch {
      // the directory's own fd, closed by now
    }
  }
  return n;
}

/** The ifindex of `dev` in `ns` (`ip -o link show` prints "N: dev@peer: …"). */
function ifindexOf(ns: TestNetns, dev: string): number {
  const m = /^(\d+):/.exec(ns.ip('-o', 'link', 'show', dev));
  if (m === null) throw new Error(`no ifindex for ${dev}`);
  return Number(m[1]);
}

const namespaces: TestNetns[] = [];
afterAll(() => {
  for (const ns of namespaces) ns.close();
});

// Device names: ip reads a bare `a` after `link add` as an abbreviation of `address`.
const A = 'mbtf0';
const B = 'mbtf1';

/** A namespace with a veth pair A/B, both down: bringing A up calls veth_open(A). */
function vethNamespace(): { ns: TestNetns; a: number; b: number } {
  const ns = TestNetns.create();
  namespaces.push(ns);
  ns.ip('link', 'add', 'name', A, 'type', 'veth', 'peer', 'name', B);
  return { ns, a: ifindexOf(ns, A), b: ifindexOf(ns, B) };
}

describe('kernel module BTF', () => {
  it.skipIf(vethSkip !== '')('CO-RE relocates a type only a module defines to the module layout (struct veth_priv)', async () => {
    const veth = loadKernelModuleSpec('veth');
    // The premise: vmlinux has no veth_priv, so only the module can be the candidate.
    expect(loadKernelSpec().idsByName('veth_priv')).toEqual([]);
    const priv = veth.typeByName('veth_priv', Struct);
    const offset = (name: string): number => priv.members.find((m) => m.name === name)!.offset / 8;

    const before = openFds();
    const coll = await loadCollection(object, { programs: ['core_veth'] });
    try {
      expect(coll.programs.core_veth!.testRun({ data: new Uint8Array(64) }).retval).toBe(0);
      const v = (name: string): unknown => coll.variables[name]!.get();
      expect(v('peer_offset')).toBe(offset('peer'));
      expect(v('rq_offset')).toBe(offset('rq'));
      expect(v('headroom_offset')).toBe(offset('requested_headroom'));
      expect(v('priv_size')).toBe(priv.size);
      expect(v('priv_exists')).toBe(1);
      expect(v('missing_field_exists')).toBe(0);
      // The local layout differs: the values are veth.ko's, not the compiler's.
      expect(offset('peer')).not.toBe(16);
    } finally {
      coll.close();
    }
    expect(openFds()).toBe(before);
  });

  it.skipIf(netSkip !== '')('fentry and fexit (veth:veth_open) on a module function load with its BTF object and run', async () => {
    const { ns, a, b } = vethNamespace();
    const before = openFds();
    const btfBefore = btfFds();
    const coll = await loadCollection(object, { programs: ['veth_open_entry', 'veth_open_exit'], constants: { watch_ifindex: a } });
    try {
      // The module's BTF fd (attach_btf_obj_fd) was only needed during the load.
      expect(btfFds()).toBe(btfBefore + 1); // the object's BTF
      using entry = attachTracing(coll.programs.veth_open_entry!);
      using exit = attachTracing(coll.programs.veth_open_exit!);
      ns.ip('link', 'set', B, 'up');
      ns.ip('link', 'set', A, 'up');
      const v = (name: string): unknown => coll.variables[name]!.get();
      expect(v('open_entries')).toBe(1n);
      expect(v('open_exits')).toBe(1n);
      expect(v('open_ret')).toBe(0);
      // Read through struct veth_priv at veth.ko's offsets: a's peer is b.
      expect(v('peer_ifindex')).toBe(b);
      expect(v('headroom')).toBe(0);
      void entry;
      void exit;
    } finally {
      coll.close();
    }
    expect(openFds()).toBe(before);
  });

  it.skipIf(kprobeSkip !== '')('kprobes attach to a module function by name and as veth:veth_open (PMU and tracefs)', async () => {
    const { ns } = vethNamespace();
    const coll = await loadCollection(object, { programs: ['veth_open_kprobe'] });
    try {
      const prog = coll.programs.veth_open_kprobe!;
      const hits = (): unknown => coll.variables.kprobe_hits!.get();
      const cycle = (): void => {
        ns.ip('link', 'set', A, 'up');
        ns.ip('link', 'set', A, 'down');
      };
      const ways: Array<[string, 'auto' | 'tracefs']> = [
        ['veth_open', 'auto'],
        ['veth:veth_open', 'auto'],
        ['veth:veth_open', 'tracefs'],
      ];
      let expected = 0n;
      for (const [symbol, via] of ways) {
        {
          using link = attachKprobe(prog, symbol, { via });
          cycle();
          void link;
        }
        expected += 1n;
        expect(hits(), `${symbol} via ${via}`).toBe(expected);
      }
      cycle(); // detached: no more hits
      expect(hits()).toBe(expected);
      expect(() => attachKprobe(prog, 'ebpf_ts_no_such_module:veth_open')).toThrow(SymbolNotFoundError);
      expect(() => attachKprobe(prog, 'veth:veth_open_no_such')).toThrow(/is module veth loaded/);
    } finally {
      coll.close();
    }
  });

  it.skipIf(ctSkip !== '')('a kfunc a module defines (nf_conntrack bpf_xdp_ct_lookup) is called through fd_array', async () => {
    const before = openFds();
    const btfBefore = btfFds();
    const coll = await loadCollection(object, { programs: ['ct_lookup'] });
    try {
      // The verifier accepted both calls: their off named nf_conntrack's BTF in fd_array.
      expect(btfFds()).toBe(btfBefore + 1); // the object's BTF; the module's was closed
      const r = coll.programs.ct_lookup!.testRun({ data: new Uint8Array(64) });
      expect(r.retval).toBe(2); // XDP_PASS
      expect(coll.variables.ct_found!.get()).toBe(0);
      expect(coll.variables.ct_error!.get()).toBe(-2); // -ENOENT: no such connection
    } finally {
      coll.close();
    }
    expect(openFds()).toBe(before);
  });

  it.skipIf(recseqSkip !== '')('a typed __ksym a module defines (x_tables xt_recseq) carries its BTF fd', async () => {
    const { ns } = vethNamespace();
    const before = openFds();
    const btfBefore = btfFds();
    const coll = await loadCollection(object, { programs: ['read_recseq'] });
    try {
      expect(btfFds()).toBe(btfBefore + 1); // the object's BTF; x_tables' was closed
      using link = attachTracing(coll.programs.read_recseq!);
      ns.ip('link', 'set', A, 'up');
      expect((coll.variables.recseq_read!.get() as number) >>> 31).toBe(1);
      void link;
    } finally {
      coll.close();
    }
    expect(openFds()).toBe(before);
  });

  it.skipIf(vethSkip !== '')('openKernelModuleBTF opens the module BTF object by name', () => {
    using handle = openKernelModuleBTF('veth');
    const info = handle.info();
    expect(info.name).toBe('veth');
    expect(info.kernelBTF).toBe(true);
    // Cached id: a second open finds the same object.
    using again = openKernelModuleBTF('veth');
    expect(again.info().id).toBe(info.id);
  });
});

// Where veth and nf_conntrack are built in (the host), the same object resolves everything in
// vmlinux: no module BTF is opened and kfunc calls keep off = 0.
const builtinSkip = !root
  ? 'needs root for bpf()'
  : modules.includes('veth') || loadKernelSpec().idsByName('veth_priv').length === 0
    ? 'veth is a module here (the tests above cover it)'
    : '';

describe('the same object with veth and nf_conntrack built in', () => {
  it.skipIf(builtinSkip !== '')('CO-RE and the kfuncs resolve in vmlinux', async () => {
    const priv = loadKernelSpec().typeByName('veth_priv', Struct);
    const btfBefore = btfFds();
    const programs = ['core_veth', ...(loadKernelSpec().idsByName('bpf_xdp_ct_lookup').length > 0 ? ['ct_lookup'] : [])];
    const coll = await loadCollection(object, { programs });
    try {
      expect(btfFds()).toBe(btfBefore + 1);
      coll.programs.core_veth!.testRun({ data: new Uint8Array(64) });
      expect(coll.variables.peer_offset!.get()).toBe(priv.members.find((m) => m.name === 'peer')!.offset / 8);
      expect(coll.variables.priv_size!.get()).toBe(priv.size);
      if (coll.programs.ct_lookup !== undefined) {
        expect(coll.programs.ct_lookup.testRun({ data: new Uint8Array(64) }).retval).toBe(2);
        expect(coll.variables.ct_error!.get()).toBe(-2);
      }
    } finally {
      coll.close();
    }
  });
});

describe('kernel module BTF: errors', () => {
  const skip = root ? '' : 'needs root';

  it.skipIf(skip !== '')('a tracing target in no BTF says whether modules were searched', async () => {
    const spec = await loadCollectionSpec(object);
    spec.programs.veth_open_entry!.attachTo = 'ebpf_ts_no_such_function';
    const err = await loadCollection(spec, { programs: ['veth_open_entry'] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TracingTargetNotFoundError);
    const msg = (err as Error).message;
    expect(msg).toContain('ebpf_ts_no_such_function');
    expect(msg).toMatch(modules.length === 0 ? /no kernel module BTF is loaded/ : /loaded modules? with BTF/);
  });

  it.skipIf(skip !== '')('module:function names a module that has no BTF loaded', async () => {
    const spec = await loadCollectionSpec(object);
    spec.programs.veth_open_exit!.attachTo = 'ebpf_ts_no_such_module:veth_open';
    await expect(loadCollection(spec, { programs: ['veth_open_exit'] })).rejects.toThrow(/module ebpf_ts_no_such_module has no BTF loaded/);
  });

  it.skipIf(skip !== '')('a kfunc in no BTF names itself and the modules searched', async () => {
    const spec = await loadCollectionSpec(object);
    // Rename the extern (and the instructions referring to it) to a kfunc no kernel has.
    const ext = spec.externs.bpf_ct_release!;
    delete spec.externs.bpf_ct_release;
    spec.externs.ebpf_ts_no_such_kfunc = { ...ext, name: 'ebpf_ts_no_such_kfunc' };
    for (const insn of spec.programs.ct_lookup!.instructions) if (insn.reference === 'bpf_ct_release') insn.reference = 'ebpf_ts_no_such_kfunc';
    const err = await loadCollection(spec, { programs: ['ct_lookup'] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnresolvedExternError);
    expect((err as Error).message).toMatch(/ebpf_ts_no_such_kfunc.*(no kernel module BTF is loaded|loaded modules? with BTF)/);
  });
});
