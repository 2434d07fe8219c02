// Program against the fake backend: the exact attrs of BPF_PROG_LOAD and PROG_TEST_RUN, the
// verifier-log protocol (no log first, then a log that grows until it fits), error mapping,
// name sanitising and info(). No kernel needed.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { ClosedError, NotSupportedError, SyscallError, VerifierError } from '../../src/errors.js';
import { programNameDotFeature, programNameFeature, programTypeFeature } from '../../src/features/prog-types.js';
import { explainVerifierLog, Program, sanitizeName } from '../../src/prog.js';
import type { ProgramSpec } from '../../src/prog-spec.js';
import { FakeBackend, type FakeBpfCall } from '../../src/sys/backend-fake.js';
import { PROG_LOAD_ATTEMPTS } from '../../src/sys/bpf.js';
import { Errno } from '../../src/sys/errno.js';
import { overrideKernelVersion } from '../../src/sys/kernel-version.js';
import { Cmd, ProgInfo, ProgLoad, ProgTestRun } from '../../src/sys/layouts.js';
import { setBackend } from '../../src/sys/select.js';
import { ProgramType } from '../../src/types.js';

const R = asm.Register;
const F = ProgLoad.fields;
const T = ProgTestRun.fields;

let fake: FakeBackend;

function u32(bytes: Uint8Array, offset: number): number {
  return offset + 4 > bytes.byteLength ? 0 : new DataView(bytes.buffer, bytes.byteOffset).getUint32(offset, true);
}
function setU32(bytes: Uint8Array, offset: number, v: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(offset, v, true);
}
function nameOf(call: FakeBpfCall): string {
  const raw = call.attr.subarray(F.prog_name.offset, F.prog_name.offset + 16);
  const nul = raw.indexOf(0);
  return new TextDecoder().decode(raw.subarray(0, nul < 0 ? raw.length : nul));
}
// The name probes of src/features load programs called ebpf_ts_probe / ebpf_ts.probe.
const isProbe = (call: FakeBpfCall) => nameOf(call).startsWith('ebpf_ts');
function loads(): FakeBpfCall[] {
  return fake.callsOf(Cmd.ProgLoad).filter((c) => !isProbe(c));
}

/** Answers name probes with success and every other load with `handler`. */
function onLoad(handler: (call: FakeBpfCall, n: number) => number): void {
  let n = 0;
  fake.alwaysBpf(Cmd.ProgLoad, (call) => (isProbe(call) ? fake.allocFd() : handler(call, n++)));
}

/** Writes `text` (NUL-terminated, cut to the buffer) into the call's log buffer. */
function writeLog(call: FakeBpfCall, text: string): { fits: boolean } {
  const buf = call.pointers.get(F.log_buf.offset);
  if (buf == null) return { fits: true };
  const bytes = new TextEncoder().encode(text);
  const n = Math.min(bytes.length, buf.byteLength - 1);
  buf.set(bytes.subarray(0, n));
  buf[n] = 0;
  return { fits: bytes.length + 1 <= buf.byteLength };
}

const spec = (over: Partial<ProgramSpec> = {}): ProgramSpec => ({
  type: ProgramType.SocketFilter,
  license: 'GPL',
  instructions: [asm.mov64Imm(R.R0, 0), asm.exit()],
  ...over,
});

const longLog = Array.from({ length: 300 }, (_, i) => `${i}: (b7) r0 = ${i}`).concat(['300: (61) r0 = *(u32 *)(r2 +0)', 'R2 !read_ok', 'processed 301 insns (limit 1000000)']);

beforeEach(() => {
  fake = new FakeBackend();
  setBackend(fake);
  overrideKernelVersion('6.18.0');
  programNameFeature.reset();
  programNameDotFeature.reset();
});
afterEach(() => {
  setBackend(undefined);
  overrideKernelVersion(undefined);
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('Program.load attrs', () => {
  it('the first load carries no log fields and ends at the last field used', () => {
    onLoad(() => 42);
    const prog = Program.load(spec());
    expect(prog.fd).toBe(42);
    const [c] = loads();
    expect(c!.attr.byteLength).toBe(F.license.offset + 8); // prog_type, insn_cnt, insns, license
    expect(u32(c!.attr, F.log_level.offset)).toBe(0);
    expect(c!.pointers.has(F.log_buf.offset)).toBe(false);
    expect(new TextDecoder().decode(c!.pointers.get(F.license.offset)!)).toBe('GPL\0');
    expect(c!.pointers.get(F.insns.offset)!.byteLength).toBe(16);
    expect(u32(c!.attr, F.insn_cnt.offset)).toBe(2);
  });

  it('a named program ends at prog_name; a kprobe program gets kern_version', () => {
    overrideKernelVersion('4.19.3');
    onLoad(() => 7);
    Program.load(spec({ name: 'probe', type: ProgramType.Kprobe }));
    const [c] = loads();
    expect(c!.attr.byteLength).toBe(F.prog_name.offset + 16);
    expect(nameOf(c!)).toBe('probe');
    expect(u32(c!.attr, F.kern_version.offset)).toBe((4 << 16) | (19 << 8) | 3);
  });

  it('an explicit kernelVersion wins over the running one', () => {
    onLoad(() => 7);
    Program.load(spec({ type: ProgramType.Kprobe, kernelVersion: 0x050400 }));
    expect(u32(loads()[0]!.attr, F.kern_version.offset)).toBe(0x050400);
  });

  it('sends expected_attach_type, flags, attach_btf_id and fd_array only when set', () => {
    onLoad(() => 7);
    Program.load(spec({ type: ProgramType.Tracing, attachType: 24, attachBtfId: 1234, flags: 4, fdArray: [5, 6] }));
    const c = loads()[0]!;
    expect(c.attr.byteLength).toBe(F.fd_array.offset + 8);
    expect(u32(c.attr, F.expected_attach_type.offset)).toBe(24);
    expect(u32(c.attr, F.attach_btf_id.offset)).toBe(1234);
    expect(u32(c.attr, F.prog_flags.offset)).toBe(4);
    expect(Array.from(new Int32Array(c.pointers.get(F.fd_array.offset)!.slice().buffer))).toEqual([5, 6]);
  });
});

describe('name sanitising', () => {
  it('keeps [A-Za-z0-9_.], replaces the rest, cuts to 15 bytes', () => {
    expect(sanitizeName('tc/ingress-filter.main', true)).toBe('tc_ingress_filt');
    expect(sanitizeName('a.b', false)).toBe('a_b');
    expect(sanitizeName('ok_name', true)).toBe('ok_name');
  });

  it('replaces dots where the kernel rejects them (before 5.2)', () => {
    fake.alwaysBpf(Cmd.ProgLoad, (call) => (nameOf(call) === 'ebpf_ts.probe' ? -Errno.EINVAL : fake.allocFd()));
    Program.load(spec({ name: 'my.prog' }));
    expect(nameOf(loads()[0]!)).toBe('my_prog');
  });

  it('omits the name where the kernel rejects names (before 4.15)', () => {
    fake.alwaysBpf(Cmd.ProgLoad, (call) => (isProbe(call) ? -Errno.E2BIG : fake.allocFd()));
    Program.load(spec({ name: 'named' }));
    const c = loads()[0]!;
    expect(c.attr.byteLength).toBe(F.license.offset + 8);
  });

  it('probes the name support once per process', () => {
    onLoad(() => fake.allocFd());
    Program.load(spec({ name: 'a' }));
    Program.load(spec({ name: 'b.c' }));
    expect(fake.callsOf(Cmd.ProgLoad).filter(isProbe)).toHaveLength(2); // prog_name, then dots
  });
});

describe('verifier log', () => {
  it('reloads with log_level 1 and a 64 KiB buffer after a failure; VerifierError keeps every line', () => {
    onLoad((call, n) => {
      if (n === 0) return -Errno.EACCES;
      writeLog(call, longLog.join('\n') + '\n');
      return -Errno.EACCES;
    });
    const err = catchError(() => Program.load(spec({ name: 'bad' }))) as VerifierError;
    expect(err).toBeInstanceOf(VerifierError);
    expect(err.errno).toBe(Errno.EACCES);
    expect(err.log).toEqual(longLog);
    expect(err.truncated).toBe(false);
    expect(err.program).toBe('bad');
    expect(err.explanation).toMatch(/R2 is read before it is written/);
    expect(err.message).toMatch(/R2 !read_ok/);
    const [, second] = loads();
    expect(u32(second!.attr, F.log_level.offset)).toBe(1);
    expect(u32(second!.attr, F.log_size.offset)).toBe(64 * 1024);
    expect(second!.pointers.get(F.log_buf.offset)!.byteLength).toBe(64 * 1024);
    // 6.4+: the attr reaches log_true_size so the kernel can report the size it needed.
    expect(second!.attr.byteLength).toBe(F.log_true_size.offset + 4);
  });

  it('honours logLevel and logSize (clamped to the kernel minimum of 128)', () => {
    onLoad((call, n) => (n === 0 ? -Errno.EACCES : (writeLog(call, 'x\n'), -Errno.EACCES)));
    catchError(() => Program.load(spec(), { logLevel: 2, logSize: 64 }));
    const second = loads()[1]!;
    expect(u32(second.attr, F.log_level.offset)).toBe(2);
    expect(u32(second.attr, F.log_size.offset)).toBe(128);
  });

  it('grows the buffer to log_true_size (6.4+) until the log fits', () => {
    const text = longLog.join('\n') + '\n';
    const need = new TextEncoder().encode(text).length + 1;
    onLoad((call, n) => {
      if (n === 0) return -Errno.EACCES;
      const { fits } = writeLog(call, text);
      return fits ? -Errno.EACCES : -Errno.ENOSPC;
    });
    // The kernel writes the size it needed (NUL included) back through the user's attr; the
    // fake records a copy, so a wrapper around bpf() patches the caller's buffer.
    const orig = fake.bpf.bind(fake);
    fake.bpf = (cmd, attr, pointers) => {
      const r = orig(cmd, attr, pointers);
      if (cmd === Cmd.ProgLoad && attr.byteLength >= F.log_true_size.offset + 4) setU32(attr, F.log_true_size.offset, need);
      return r;
    };
    const err = catchError(() => Program.load(spec(), { logSize: 200 })) as VerifierError;
    expect(err).toBeInstanceOf(VerifierError);
    expect(err.log).toEqual(longLog);
    expect(err.truncated).toBe(false);
    expect(err.errno).toBe(Errno.EACCES);
    expect(loads().map((c) => u32(c.attr, F.log_size.offset))).toEqual([0, 200, need]);
  });

  it('grows ×4 on ENOSPC where there is no log_true_size (before 6.4), without sending that field', () => {
    overrideKernelVersion('5.10.0');
    const text = longLog.join('\n') + '\n'; // ~5.6 KB
    onLoad((call, n) => {
      if (n === 0) return -Errno.EACCES;
      return writeLog(call, text).fits ? -Errno.EACCES : -Errno.ENOSPC;
    });
    const err = catchError(() => Program.load(spec(), { logSize: 128 })) as VerifierError;
    expect(err.log).toEqual(longLog);
    expect(err.truncated).toBe(false);
    const sizes = loads().slice(1).map((c) => u32(c.attr, F.log_size.offset));
    expect(sizes).toEqual([128, 512, 2048, 8192]);
    for (const c of loads().slice(1)) expect(c.attr.byteLength).toBe(F.log_buf.offset + 8);
  });

  it('marks the log truncated when even the kernel maximum (16 MiB before 5.2) is too small', () => {
    overrideKernelVersion('5.1.0');
    onLoad((call, n) => {
      if (n === 0) return -Errno.EACCES;
      writeLog(call, 'line\n'.repeat(10));
      return -Errno.ENOSPC;
    });
    const err = catchError(() => Program.load(spec(), { logSize: 4 * 1024 * 1024 })) as VerifierError;
    expect(err).toBeInstanceOf(VerifierError);
    expect(err.truncated).toBe(true);
    expect(err.errno).toBe(Errno.EACCES); // the program's verdict, not the log's ENOSPC
    const sizes = loads().slice(1).map((c) => u32(c.attr, F.log_size.offset));
    expect(sizes).toEqual([4 * 1024 * 1024, 0xffffffff >>> 8]);
    expect(err.message).toMatch(/truncated/);
  });

  it('takes the program if the reload with a log succeeds', () => {
    onLoad((_call, n) => (n === 0 ? -Errno.EACCES : 55));
    expect(Program.load(spec()).fd).toBe(55);
  });
});

describe('errors that are not verifier rejections', () => {
  it('EAGAIN is retried a bounded number of times, then a SyscallError (no log reload)', () => {
    onLoad(() => -Errno.EAGAIN);
    const err = catchError(() => Program.load(spec()));
    expect(err).toBeInstanceOf(SyscallError);
    expect(err).not.toBeInstanceOf(VerifierError);
    expect((err as SyscallError).errno).toBe(Errno.EAGAIN);
    expect(loads()).toHaveLength(PROG_LOAD_ATTEMPTS);
  });

  it('EAGAIN followed by success loads', () => {
    onLoad((_c, n) => (n < 2 ? -Errno.EAGAIN : 9));
    expect(Program.load(spec()).fd).toBe(9);
  });

  it('EPERM is a SyscallError with the permission hint, not a VerifierError', () => {
    onLoad(() => -Errno.EPERM);
    const err = catchError(() => Program.load(spec())) as SyscallError;
    expect(err).toBeInstanceOf(SyscallError);
    expect(err).not.toBeInstanceOf(VerifierError);
    expect(err.errno).toBe(Errno.EPERM);
    expect(err.hint).toBeDefined();
    expect(loads()).toHaveLength(1);
  });

  it('E2BIG for a field the kernel predates is a NotSupportedError naming it', () => {
    overrideKernelVersion('5.4.0');
    onLoad(() => -Errno.E2BIG);
    const err = catchError(() => Program.load(spec({ fdArray: [3] }))) as NotSupportedError;
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.feature).toMatch(/fd_array/);
    expect(err.minimumVersion).toBe('5.17');
  });

  it('EINVAL for a program type newer than the kernel is a NotSupportedError with its version', () => {
    overrideKernelVersion('4.19.0');
    onLoad(() => -Errno.EINVAL); // no log either time
    const err = catchError(() => Program.load(spec({ type: ProgramType.SKLookup }))) as NotSupportedError;
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.minimumVersion).toBe('5.9');
    expect(err.feature).toMatch(/SK_LOOKUP/);
  });

  it('EINVAL without a log on a kernel that should have the type asks the type probe', () => {
    programTypeFeature(ProgramType.LIRCMode2).reset();
    onLoad(() => -Errno.EINVAL);
    const err = catchError(() => Program.load(spec({ type: ProgramType.LIRCMode2 }))) as NotSupportedError;
    expect(err).toBeInstanceOf(NotSupportedError);
    expect(err.message).toMatch(/LIRC_MODE2/);
    programTypeFeature(ProgramType.LIRCMode2).reset();
  });

  it('EINVAL without a log for a type the kernel has is a SyscallError about the attr', () => {
    programTypeFeature(ProgramType.CgroupSockAddr).reset();
    // The probe (which sends the right attach type) loads; the user's spec without one does not.
    onLoad((call) => (u32(call.attr, F.expected_attach_type.offset) !== 0 ? fake.allocFd() : -Errno.EINVAL));
    const err = catchError(() => Program.load(spec({ type: ProgramType.CgroupSockAddr }))) as SyscallError;
    expect(err).toBeInstanceOf(SyscallError);
    expect(err).not.toBeInstanceOf(VerifierError);
    expect(err.hint).toMatch(/expected attach type/);
    programTypeFeature(ProgramType.CgroupSockAddr).reset();
  });

  it('an unresolved map reference is an ArgumentError before any syscall', () => {
    onLoad(() => 1);
    expect(() => Program.load(spec({ instructions: [asm.loadMapByName(R.R1, 'counts'), asm.mov64Imm(R.R0, 0), asm.exit()] }))).toThrow(
      /map counts/,
    );
    expect(loads()).toHaveLength(0);
  });
});

describe('explainVerifierLog', () => {
  const t = ProgramType.SocketFilter;
  it.each([
    ['BPF program is too large. Processed 1000001 insn', /instruction/],
    ['combined stack size of 2 calls is 544. Too large', /512 bytes/],
    ['R1 unbounded memory access, make sure to bounds check any such access', /bounds/],
    ['R2 min value is negative, either use unsigned index or do a if (index >=0) check.', /bounds/],
    ['invalid indirect read from stack R2 off -16+4 size 8', /padding/],
    ['invalid func unknown#300', /helper #300 \(id 300\) does not exist/],
    ['program of this type cannot use helper bpf_xdp_adjust_head#44', /^helper bpf_xdp_adjust_head \(added in Linux 4\.10\) cannot be called from SOCKET_FILTER programs; /],
    ['unknown func bpf_probe_read#4', /^helper bpf_probe_read \(added in Linux 4\.1\) cannot be called from SOCKET_FILTER programs; /],
    ['func bpf_get_func_ip#173 not supported for program type 1', /^helper bpf_get_func_ip \(added in Linux 5\.15\) cannot be called from SOCKET_FILTER programs; /],
    ['R0 !read_ok', /R0/],
    ["R1 invalid mem access 'scalar'", /plain number/],
    ["R1 invalid mem access 'inv'", /plain number/],
    ["R0 invalid mem access 'map_value_or_null'", /NULL check/],
    ['cannot call GPL-restricted function from non-GPL compatible program', /GPL-compatible license/],
  ])('%s', (line, expected) => {
    expect(explainVerifierLog(['0: (85) call', line], t)).toMatch(expected);
  });

  it('names the helper version for a helper the kernel lacks', () => {
    expect(explainVerifierLog(['invalid func unknown#130'], t)).toMatch(/bpf_ringbuf_output.*5\.8/);
  });

  it('gives nothing for an unrecognised failure', () => {
    expect(explainVerifierLog(['something new'], t)).toBeUndefined();
  });
});

describe('testRun', () => {
  it('sends only the fields used (at least up to duration) and returns the outputs', () => {
    onLoad(() => 30);
    const prog = Program.load(spec());
    fake.alwaysBpf(Cmd.ProgTestRun, (call) => {
      const out = call.pointers.get(T.data_out.offset)!;
      out.set([1, 2, 3]);
      return 0;
    });
    const orig = fake.bpf.bind(fake);
    fake.bpf = (cmd, attr, pointers) => {
      const r = orig(cmd, attr, pointers);
      if (cmd === Cmd.ProgTestRun) {
        setU32(attr, T.retval.offset, 42);
        setU32(attr, T.duration.offset, 17);
        setU32(attr, T.data_size_out.offset, 3);
      }
      return r;
    };
    const r = prog.testRun({ data: new Uint8Array(8), repeat: 10 });
    expect(r).toEqual({ retval: 42, duration: 17, dataOut: new Uint8Array([1, 2, 3]), ctxOut: new Uint8Array(0) });
    const c = fake.callsOf(Cmd.ProgTestRun)[0]!;
    expect(c.attr.byteLength).toBe(T.duration.offset + 4);
    expect(u32(c.attr, T.prog_fd.offset)).toBe(30);
    expect(u32(c.attr, T.data_size_in.offset)).toBe(8);
    expect(u32(c.attr, T.data_size_out.offset)).toBe(8 + 256);
    expect(u32(c.attr, T.repeat.offset)).toBe(10);
    expect(c.pointers.get(T.data_in.offset)!.byteLength).toBe(8);
  });

  it('without data still sends an attr that reaches duration', () => {
    onLoad(() => 30);
    const prog = Program.load(spec());
    fake.alwaysBpf(Cmd.ProgTestRun, 0);
    prog.testRun();
    const c = fake.callsOf(Cmd.ProgTestRun)[0]!;
    expect(c.attr.byteLength).toBe(T.duration.offset + 4);
    expect(c.pointers.size).toBe(0);
  });

  it('retries with the size the kernel reports after ENOSPC', () => {
    onLoad(() => 30);
    const prog = Program.load(spec());
    let n = 0;
    fake.alwaysBpf(Cmd.ProgTestRun, (call) => {
      const out = call.pointers.get(T.data_out.offset)!;
      out.fill(9, 0, Math.min(out.byteLength, 300));
      return n++ === 0 ? -Errno.ENOSPC : 0;
    });
    const orig = fake.bpf.bind(fake);
    fake.bpf = (cmd, attr, pointers) => {
      const r = orig(cmd, attr, pointers);
      if (cmd === Cmd.ProgTestRun) setU32(attr, T.data_size_out.offset, 300);
      return r;
    };
    const r = prog.testRun({ data: new Uint8Array(4), dataSizeOut: 16 });
    expect(r.dataOut.byteLength).toBe(300);
    expect(fake.callsOf(Cmd.ProgTestRun).map((c) => u32(c.attr, T.data_size_out.offset))).toEqual([16, 300]);
  });

  it('sends ctx_in/ctx_out when a context is given', () => {
    onLoad(() => 30);
    const prog = Program.load(spec());
    fake.alwaysBpf(Cmd.ProgTestRun, 0);
    prog.testRun({ ctx: new Uint8Array(24) });
    const c = fake.callsOf(Cmd.ProgTestRun)[0]!;
    expect(c.attr.byteLength).toBe(T.ctx_out.offset + 8);
    expect(u32(c.attr, T.ctx_size_in.offset)).toBe(24);
    expect(u32(c.attr, T.ctx_size_out.offset)).toBe(24);
    expect(c.pointers.get(T.ctx_in.offset)!.byteLength).toBe(24);
  });

  it('maps ENOTSUPP to a SyscallError naming the program type', () => {
    onLoad(() => 30);
    const prog = Program.load(spec({ type: ProgramType.Kprobe }));
    fake.alwaysBpf(Cmd.ProgTestRun, -Errno.ENOTSUPP);
    expect(() => prog.testRun()).toThrow(/KPROBE programs cannot be test-run/);
  });
});

describe('info, close', () => {
  it('info() reads nr_map_ids first, then fetches map_ids through the info pointer', () => {
    onLoad(() => 30);
    const prog = Program.load(spec());
    const attrSize = 16;
    fake.alwaysBpf(Cmd.ObjGetInfoByFd, (call) => {
      const info = call.pointers.get(8)!;
      const requested = u32(info, ProgInfo.fields.nr_map_ids.offset);
      setU32(info, ProgInfo.fields.id.offset, 77);
      setU32(info, ProgInfo.fields.type.offset, 1);
      info.set([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3], ProgInfo.fields.tag.offset);
      info.set(new TextEncoder().encode('prog'), ProgInfo.fields.name.offset);
      setU32(info, ProgInfo.fields.nr_map_ids.offset, 2);
      const ids = call.pointers.get(attrSize + ProgInfo.fields.map_ids.offset);
      if (requested > 0 && ids != null) {
        setU32(ids, 0, 11);
        setU32(ids, 4, 12);
      }
      return 0;
    });
    const info = prog.info();
    expect(info.id).toBe(77);
    expect(info.tag).toBe('deadbeef00010203');
    expect(info.name).toBe('prog');
    expect(info.type).toBe(ProgramType.SocketFilter);
    expect(info.mapIds).toEqual([11, 12]);
    const calls = fake.callsOf(Cmd.ObjGetInfoByFd);
    expect(calls).toHaveLength(2);
    expect(u32(calls[0]!.attr, 4)).toBe(ProgInfo.size);
  });

  it('close() is idempotent, closes the fd once, and later use throws ClosedError', () => {
    onLoad(() => 31);
    const prog = Program.load(spec());
    prog.close();
    prog.close();
    expect(fake.closed.filter((fd) => fd === 31)).toHaveLength(1);
    expect(() => prog.fd).toThrow(ClosedError);
    expect(() => prog.testRun()).toThrow(ClosedError);
    expect(() => prog.pin('/sys/fs/bpf/x')).toThrow(ClosedError);
  });

  it('Symbol.dispose closes', () => {
    onLoad(() => 32);
    {
      using prog = Program.load(spec());
      expect(prog.fd).toBe(32);
    }
    expect(fake.closed).toContain(32);
  });
});
