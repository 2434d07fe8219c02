// Program against the running kernel: load, testRun, verifier errors and log growth, info,
// pinning, enumeration, fd hygiene, and the program-type and helper probes as a self-check.
// Needs root. Runs on whichever backend EBPF_TS_BACKEND selects (CI runs both).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { Helper } from '../../src/asm/helper.js';
import { ArgumentError, ClosedError, NotSupportedError, SyscallError, VerifierError } from '../../src/errors.js';
import { helperFeature, helperSince } from '../../src/features/helpers.js';
import { hostByteOrder, programTypeFeature } from '../../src/features/prog-types.js';
import { findTool, missingToolReason } from '../helpers/tools.js';
import { listPrograms, Program } from '../../src/prog.js';
import type { ProgramSpec } from '../../src/prog-spec.js';
import { bpfCall } from '../../src/sys/bpf.js';
import { mapElem, objPin } from '../../src/sys/commands.js';
import { MapCreate, MapUpdateElem } from '../../src/sys/layouts.js';
import { backend } from '../../src/sys/select.js';
import { AttachType, ProgramType, programTypeName, programTypeSince } from '../../src/types.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { configHas, expectVersionedFeature } from './helpers/kernel-features.js';
import { lockdownMode } from '../../src/internal/privileges.js';
import { loadKernelSpec } from '../../src/btf/kernel.js';
import { Kind } from '../../src/btf/types.js';

const R = asm.Register;
const skip = process.getuid?.() !== 0 ? 'needs root for bpf()' : '';
if (skip !== '') console.warn(`skipping program kernel tests: ${skip}`);

const ret = (value: number): ProgramSpec => ({
  name: `ret${value}`,
  type: ProgramType.SocketFilter,
  license: 'GPL',
  instructions: [asm.mov64Imm(R.R0, value), asm.exit()],
});

// Reads R2 before anything wrote it: the verifier stops at instruction `pad` with "R2 !read_ok".
function rejected(pad = 0): ProgramSpec {
  const insns: asm.Instruction[] = [];
  for (let i = 0; i < pad; i++) insns.push(asm.mov64Imm(R.R0, i));
  insns.push(asm.loadMem(asm.Size.W, R.R0, R.R2, 0), asm.exit());
  return { name: 'bad_read', type: ProgramType.SocketFilter, license: 'GPL', instructions: insns };
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

// securityfs's mode, else the boot mode (lockdown= or CONFIG_LOCK_DOWN_KERNEL_FORCE_*).
const lockedDown = (): boolean => ['integrity', 'confidentiality'].includes(lockdownMode() ?? 'none');

describe.skipIf(skip !== '')(`Program (backend ${skip === '' ? backend().kind : 'none'})`, () => {
  it('loads a program built with the asm builder and testRun returns its constant', () => {
    using prog = Program.load(ret(42));
    const r = prog.testRun({ data: new Uint8Array(64) });
    expect(r.retval).toBe(42);
    expect(prog.fd).toBeGreaterThan(2);
    expect(prog.type).toBe(ProgramType.SocketFilter);
  });

  it('testRun of an XDP program returns the verdict and the packet, with repeat', () => {
    using prog = Program.load({
      name: 'xdp_pass',
      type: ProgramType.XDP,
      license: 'GPL',
      instructions: [asm.mov64Imm(R.R0, 2 /* XDP_PASS */), asm.exit()],
    });
    const data = new Uint8Array(64).map((_, i) => i);
    const r = prog.testRun({ data, repeat: 100 });
    expect(r.retval).toBe(2);
    expect(Array.from(r.dataOut)).toEqual(Array.from(data));
    expect(r.duration).toBeGreaterThanOrEqual(0);
  });

  it('testRun grows data_out when the kernel answers ENOSPC', () => {
    using prog = Program.load({
      name: 'xdp_pass',
      type: ProgramType.XDP,
      license: 'GPL',
      instructions: [asm.mov64Imm(R.R0, 2), asm.exit()],
    });
    const data = new Uint8Array(200).fill(7);
    const r = prog.testRun({ data, dataSizeOut: 16 });
    expect(r.dataOut.byteLength).toBe(200);
    expect(r.dataOut.every((b) => b === 7)).toBe(true);
  });

  it('a program reading a map value through ld_imm64 BPF_PSEUDO_MAP_FD returns that value', () => {
    const mapFd = bpfCall(MapCreate, { map_type: 2 /* ARRAY */, key_size: 4, value_size: 4, max_entries: 1 });
    try {
      const key = new Uint8Array(4);
      const value = new Uint8Array(new Uint32Array([0xc0ffee]).buffer);
      expect(mapElem(MapUpdateElem, mapFd, key, value, 0)).toBe(0);
      const insns = asm.assemble([
        asm.storeImm(asm.Size.W, R.R10, -4, 0),
        asm.mov64Reg(R.R2, R.R10),
        asm.alu64Imm(asm.ALUOp.Add, R.R2, -4),
        asm.loadMapPtr(R.R1, mapFd),
        asm.call(Helper.MapLookupElem),
        asm.jumpImm(asm.JumpOp.JEq, R.R0, 0, 'none'),
        asm.loadMem(asm.Size.W, R.R0, R.R0, 0),
        asm.exit(),
        asm.mov64Imm(R.R0, 0).withSymbol('none'),
        asm.exit(),
      ]);
      using prog = Program.load({ name: 'read_map', type: ProgramType.SocketFilter, license: 'GPL', instructions: insns });
      expect(prog.testRun({ data: new Uint8Array(64) }).retval).toBe(0xc0ffee);
      const info = prog.info();
      expect(info.mapIds).toHaveLength(1);
      expect(info.mapIds[0]).toBeGreaterThan(0);
    } finally {
      backend().close(mapFd);
    }
  });

  it('a program the verifier rejects gives a VerifierError whose log names the failing instruction', () => {
    let err: unknown;
    try {
      Program.load(rejected());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerifierError);
    const v = err as VerifierError;
    expect(v.errno).toBe(13); // EACCES from check_reg_arg()
    expect(v.truncated).toBe(false);
    expect(v.log.join('\n')).toMatch(/0: \(61\) r0 = \*\(u32 \*\)\(r2 \+0\)/);
    expect(v.log.join('\n')).toMatch(/R2 !read_ok/);
    expect(v.explanation).toMatch(/R2 is read before it is written/);
    expect(v.message).toMatch(/bad_read/);
  });

  it('a forced tiny log (logSize 64) still yields the full log after growth', () => {
    const full = (() => {
      try {
        Program.load(rejected(200));
      } catch (e) {
        return e as VerifierError;
      }
      throw new Error('loaded');
    })();
    const tiny = (() => {
      try {
        Program.load(rejected(200), { logSize: 64 });
      } catch (e) {
        return e as VerifierError;
      }
      throw new Error('loaded');
    })();
    expect(tiny).toBeInstanceOf(VerifierError);
    expect(tiny.truncated).toBe(false);
    expect(tiny.log.join('\n').length).toBeGreaterThan(2000);
    // Same lines, except the timing line the kernel prints at the end.
    const strip = (l: readonly string[]) => l.filter((x) => !/^verification time/.test(x));
    expect(strip(tiny.log)).toEqual(strip(full.log));
    expect(tiny.log.join('\n')).toMatch(/200: \(61\) r0 = \*\(u32 \*\)\(r2 \+0\)/);
  });

  it('a helper the program type may not call is explained', () => {
    let err: unknown;
    try {
      Program.load({
        name: 'bad_helper',
        type: ProgramType.SocketFilter,
        license: 'GPL',
        instructions: [asm.call(Helper.XdpAdjustHead), asm.exit()],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VerifierError);
    expect((err as VerifierError).explanation).toMatch(/helper bpf_xdp_adjust_head \(added in Linux 4\.10\) cannot be called from SOCKET_FILTER programs; on this kernel \(Linux [\d.]+\) it may be called from [A-Z_, ]*\bXDP\b/);
  });

  it('an attach-type mismatch is not reported as a VerifierError', () => {
    expect(() =>
      Program.load({
        name: 'no_attach',
        type: ProgramType.CgroupSockAddr,
        license: 'GPL',
        instructions: [asm.mov64Imm(R.R0, 1), asm.exit()],
      }),
    ).toThrow(SyscallError);
    try {
      Program.load({ type: ProgramType.CgroupSockAddr, license: 'GPL', instructions: [asm.mov64Imm(R.R0, 1), asm.exit()] });
    } catch (e) {
      expect(e).not.toBeInstanceOf(VerifierError);
      expect((e as SyscallError).errno).toBe(22);
    }
    // The same program with the attach type the kernel wants loads.
    Program.load({
      type: ProgramType.CgroupSockAddr,
      attachType: AttachType.CgroupInet4Connect,
      license: 'GPL',
      instructions: [asm.mov64Imm(R.R0, 1), asm.exit()],
    }).close();
  });

  it('an unknown program type is a NotSupportedError, not a VerifierError', () => {
    expect(() => Program.load({ type: 999 as ProgramType, license: 'GPL', instructions: [asm.mov64Imm(R.R0, 0), asm.exit()] })).toThrow(
      NotSupportedError,
    );
  });

  it('fentry with a real BTF target: loads, or on this lockdown host EPERM as a SyscallError (never a VerifierError)', () => {
    const btf = loadKernelSpec();
    const id = btf.idsByName('bpf_fentry_test1').find((i) => btf.typeById(i).kind === Kind.Func);
    expect(id).toBeDefined();
    const fentry: ProgramSpec = {
      name: 'fentry_test',
      type: ProgramType.Tracing,
      attachType: AttachType.TraceFentry,
      attachBtfId: id,
      license: 'GPL',
      instructions: [asm.mov64Imm(R.R0, 0), asm.exit()],
    };
    const lockdown = lockedDown();
    if (!lockdown) {
      Program.load(fentry).close();
      return;
    }
    // Stated reason: this host runs under kernel lockdown (forced by its config), and
    // the kernel refuses BTF-attached tracing loads with EPERM without writing a verifier log.
    const err = (() => {
      try {
        Program.load(fentry);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SyscallError);
    expect(err).not.toBeInstanceOf(VerifierError);
    expect((err as SyscallError).errno).toBe(1);
  });

  it('info() reports tag, name, type, lengths and load time', () => {
    using prog = Program.load({ ...ret(7), name: 'info-test.prog_with_long_name' });
    const info = prog.info();
    expect(info.id).toBeGreaterThan(0);
    expect(info.tag).toMatch(/^[0-9a-f]{16}$/);
    expect(info.name).toBe('info_test.prog_'); // '-' replaced, 15 bytes kept, '.' allowed on 5.2+
    expect(prog.kernelName).toBe(info.name);
    expect(prog.name).toBe('info-test.prog_with_long_name');
    expect(String(prog)).toMatch(/^Program\(info-test\.prog_with_long_name \(kernel name info_test\.prog_\), SOCKET_FILTER, fd \d+\)$/);
    expect(info.type).toBe(ProgramType.SocketFilter);
    expect(info.xlatedLength).toBe(16);
    expect(info.jitedLength).toBeGreaterThan(0);
    expect(info.mapIds).toEqual([]);
    expect(info.loadTime).toBeGreaterThan(0n);
    expect(info.createdByUid).toBe(0);
    expect(info.gplCompatible).toBe(true);
    // bpf_prog_info.verified_insns arrived in 5.16; older kernels leave it zero.
    if (kernelVersion().atLeast('5.16')) expect(info.verifiedInstructions).toBeGreaterThan(0);
    else expect(info.verifiedInstructions).toBe(0);
    // The tag is the first 8 bytes of a hash of the instructions as loaded (a map-free program:
    // nothing zeroed): SHA-1 in bpf_prog_calc_tag() until the kernel moved to SHA-256 (6.18).
    const bytes = asm.encode(ret(7).instructions, hostByteOrder);
    const digests = ['sha1', 'sha256'].map((h) => createHash(h).update(bytes).digest('hex').slice(0, 16));
    expect(digests).toContain(info.tag);
  });

  it.skipIf(findTool('bpftool') === undefined)(`bpftool prog show agrees on tag and name${findTool('bpftool') === undefined ? ` (skipped: ${missingToolReason('bpftool')})` : ''}`, () => {
    using prog = Program.load({ ...ret(7), name: 'info-test.prog_with_long_name' });
    const info = prog.info();
    const shown = JSON.parse(execFileSync(findTool('bpftool')!, ['-j', 'prog', 'show', 'id', String(info.id)], { encoding: 'utf8' }));
    expect(shown.tag).toBe(info.tag);
    expect(shown.name).toBe(info.name);
  });

  describe('pinning', () => {
    let mounted = false;
    const dir = `/sys/fs/bpf/ebpf-ts-prog-test-${process.pid}`;
    beforeAll(() => {
      const mounts = readFileSync('/proc/mounts', 'utf8');
      if (!/ \/sys\/fs\/bpf bpf /.test(mounts)) {
        execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
        mounted = true;
      }
      mkdirSync(dir, { recursive: true });
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
      if (mounted && readdirSync('/sys/fs/bpf').length === 0) {
        try {
          execFileSync('umount', ['/sys/fs/bpf']);
        } catch {
          // another test process may be using it; leaving an empty bpffs mounted is harmless
        }
      }
    });

    it('pin/fromPin on bpffs gives the same program', () => {
      using prog = Program.load(ret(5));
      const path = `${dir}/ret5`;
      prog.pin(path);
      expect(existsSync(path)).toBe(true);
      using again = Program.fromPin(path);
      expect(again.info().id).toBe(prog.info().id);
      expect(again.type).toBe(ProgramType.SocketFilter);
      expect(again.testRun({ data: new Uint8Array(64) }).retval).toBe(5);
      rmSync(path);
    });

    it('fromPin of a pinned map is an ArgumentError and leaks no fd', () => {
      const mapFd = bpfCall(MapCreate, { map_type: 2, key_size: 4, value_size: 4, max_entries: 1 });
      const path = `${dir}/a_map`;
      try {
        objPin(mapFd, path);
        const before = openFds();
        expect(() => Program.fromPin(path)).toThrow(ArgumentError);
        expect(openFds()).toBe(before);
      } finally {
        backend().close(mapFd);
        rmSync(path, { force: true });
      }
    });

    it('fromPin of a missing path is ENOENT', () => {
      expect(() => Program.fromPin(`${dir}/missing`)).toThrow(/ENOENT/);
    });
  });

  it('fromId opens a program by id; listPrograms() finds ours and closes its fds', () => {
    using prog = Program.load({ ...ret(9), name: 'listed_prog' });
    const id = prog.info().id;
    using byId = Program.fromId(id);
    expect(byId.name).toBe('listed_prog');
    const before = openFds();
    const all = listPrograms();
    expect(openFds()).toBe(before);
    const ours = all.find((p) => p.id === id);
    expect(ours).toBeDefined();
    expect(ours!.name).toBe('listed_prog');
    expect(ours!.tag).toBe(prog.info().tag);
  });

  it('close() is idempotent and the program is unusable afterwards', () => {
    const prog = Program.load(ret(1));
    prog.close();
    prog.close();
    expect(prog.closed).toBe(true);
    expect(() => prog.fd).toThrow(ClosedError);
    expect(() => prog.testRun()).toThrow(ClosedError);
    expect(() => prog.info()).toThrow(ClosedError);
  });

  it('fd count (/proc/self/fd) is unchanged after 1,000 failed loads and 200 load/close cycles', () => {
    const bad = rejected();
    // Warm up the name probes and lazy module state before counting.
    try {
      Program.load(bad);
    } catch {
      // expected
    }
    Program.load(ret(0)).close();
    const before = openFds();
    let failures = 0;
    for (let i = 0; i < 1000; i++) {
      try {
        Program.load(bad, { logSize: 4096 });
      } catch (e) {
        if (e instanceof VerifierError) failures++;
      }
    }
    for (let i = 0; i < 200; i++) Program.load(ret(i)).close();
    expect(failures).toBe(1000);
    expect(openFds()).toBe(before);
  });

  describe('probes answer from the kernel (self-check on this host)', () => {
    const lockdownForced = lockedDown();
    // Types this host may lack, each with the reason; anything else must be supported.
    type Expectation = { kind: 'supported' } | { kind: 'config'; option: string } | { kind: 'policy'; why: string } | { kind: 'not'; why: string };
    function expectation(type: ProgramType): Expectation {
      if (type === ProgramType.Unspec) return { kind: 'not', why: 'UNSPEC is not loadable' };
      if (type === ProgramType.LIRCMode2 && configHas('CONFIG_BPF_LIRC_MODE2') === false) return { kind: 'config', option: 'CONFIG_BPF_LIRC_MODE2' };
      // Without a readable config (the test:vm guests) the probe cannot name the option; the
      // Debian kernels there lack the type all the same.
      if (type === ProgramType.LIRCMode2 && configHas('CONFIG_BPF_LIRC_MODE2') === undefined) return { kind: 'not', why: 'no readable kernel config, and CONFIG_BPF_LIRC_MODE2 is off in the kernels tested' };
      if ((type === ProgramType.Tracing || type === ProgramType.Ext || type === ProgramType.LSM) && lockdownForced) {
        return { kind: 'policy', why: 'kernel lockdown (integrity or stricter) refuses BTF-attached tracing loads with EPERM' };
      }
      return { kind: 'supported' };
    }
    const labels = (e: Expectation): string =>
      e.kind === 'supported' ? 'supported' : e.kind === 'config' ? `not supported, naming ${e.option} (off in this kernel's config)` : `${e.kind === 'not' ? 'not supported' : 'refused by policy'} because ${e.why}`;
    const types = Object.values(ProgramType).filter((v): v is ProgramType => typeof v === 'number');
    for (const type of types) {
      // A type newer than the running kernel (test:vm guests) must say so, with its version.
      if (type !== ProgramType.Unspec && !kernelVersion().atLeast(programTypeSince[type])) {
        it(`program type ${programTypeName(type)}: not supported before ${programTypeSince[type]} (kernel ${kernelVersion()})`, () => {
          expectVersionedFeature(programTypeFeature(type).check(), programTypeSince[type]);
        });
        continue;
      }
      const exp = expectation(type);
      it(`program type ${programTypeName(type)}: ${labels(exp)}`, () => {
        const r = programTypeFeature(type).check();
        if (exp.kind === 'supported') expect(r).toEqual({ supported: true });
        else if (exp.kind === 'not') expect(r.supported).toBe(false);
        else if (exp.kind === 'config') {
          expect(r).toMatchObject({ supported: false, minimumVersion: undefined, missingConfig: exp.option });
          expect(() => programTypeFeature(type).require()).toThrow(new RegExp(`${exp.option} is not set in this kernel's config`));
        } else {
          expect(r).toMatchObject({ supported: false, refusedByPolicy: true });
          expect((r as { reason: string }).reason).toMatch(/EPERM: refused by the kernel's security policy/);
        }
      });
    }

    const present: Array<[ProgramType, Helper]> = [
      [ProgramType.SocketFilter, Helper.MapLookupElem],
      [ProgramType.SocketFilter, Helper.MapUpdateElem],
      [ProgramType.SocketFilter, Helper.MapDeleteElem],
      [ProgramType.SocketFilter, Helper.KtimeGetNs],
      [ProgramType.SocketFilter, Helper.PerfEventOutput],
      [ProgramType.SocketFilter, Helper.RingbufOutput],
      [ProgramType.XDP, Helper.RedirectMap],
      [ProgramType.XDP, Helper.XdpAdjustHead],
      [ProgramType.SchedCls, Helper.SkbLoadBytes],
      [ProgramType.Kprobe, Helper.ProbeRead],
      [ProgramType.Kprobe, Helper.ProbeReadKernel],
      [ProgramType.Kprobe, Helper.ProbeReadUser],
      [ProgramType.Kprobe, Helper.ProbeReadKernelStr],
      [ProgramType.Kprobe, Helper.GetCurrentPidTgid],
      [ProgramType.Kprobe, Helper.GetCurrentUidGid],
      [ProgramType.Kprobe, Helper.GetCurrentComm],
      [ProgramType.Kprobe, Helper.GetCurrentTask],
      [ProgramType.Kprobe, Helper.GetCurrentTaskBtf],
      [ProgramType.Kprobe, Helper.PerfEventOutput],
      [ProgramType.Kprobe, Helper.RingbufOutput],
      [ProgramType.Kprobe, Helper.RingbufReserve],
      [ProgramType.Kprobe, Helper.RingbufSubmit],
      [ProgramType.Kprobe, Helper.RingbufDiscard],
      [ProgramType.Kprobe, Helper.KtimeGetNs],
      [ProgramType.Kprobe, Helper.KtimeGetBootNs],
      [ProgramType.Kprobe, Helper.TracePrintk],
      [ProgramType.Tracepoint, Helper.GetCurrentPidTgid],
      [ProgramType.Tracepoint, Helper.PerfEventOutput],
      [ProgramType.Tracepoint, Helper.RingbufOutput],
      [ProgramType.RawTracepoint, Helper.GetCurrentTaskBtf],
    ];
    for (const [type, helper] of present) {
      const since = helperSince[helper];
      it(`helper ${asm.helperName(helper)} in ${programTypeName(type)}: ${since !== undefined && !kernelVersion().atLeast(since) ? `not supported before ${since}` : 'supported'}`, () => {
        expectVersionedFeature(helperFeature(type, helper).check(), since);
      });
    }

    it('a helper the type may not call is not supported, without a version', () => {
      const r = helperFeature(ProgramType.SocketFilter, Helper.XdpAdjustHead).check();
      expect(r.supported).toBe(false);
      expect((r as { reason: string }).reason).toMatch(/cannot be used by SOCKET_FILTER/);
      expect((r as { minimumVersion?: string }).minimumVersion).toBeUndefined();
    });

    it('a helper id beyond the kernel\'s list is not supported ("invalid func")', () => {
      const r = helperFeature(ProgramType.SocketFilter, 5000).check();
      expect(r.supported).toBe(false);
      expect((r as { reason: string }).reason).toMatch(/unknown to this kernel/);
    });

    it('helpers of BTF-target types answer unknown with the reason, or carry the type\'s own refusal', () => {
      const r = helperFeature(ProgramType.StructOps, Helper.GetCurrentTaskBtf).check();
      expect(r).toMatchObject({ supported: 'unknown', reason: expect.stringMatching(/without a BTF attach target/) });
      const lsm = programTypeFeature(ProgramType.LSM).check();
      const helper = helperFeature(ProgramType.LSM, Helper.GetCurrentTaskBtf).check();
      if (lsm.supported === true) expect(helper.supported).toBe('unknown');
      else expect(helper).toMatchObject({ ...lsm, reason: `program type LSM: ${lsm.reason}` });
    });
  });
});
