// USDT attachment up to the kernel, without one: usdtProbes of a binary and of a running
// process (its executable and the shared libraries in /proc/PID/maps), the probe lookup with
// its USDTNotFoundError listing the probes there are, option checks, section targets
// (usdt/<binary>:<provider>:<name>), and argument specs refused before anything is created.
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ArgumentError, SymbolNotFoundError } from '../../src/errors.js';
import type { Program } from '../../src/prog.js';
import { ProgramType } from '../../src/types.js';
import { USDTArgumentError } from '../../src/link/usdt-args.js';
import { attachUSDT, attachUSDTSection, usdtProbes, USDTNotFoundError } from '../../src/link/usdt.js';
import { recordedNotes, usdtFixture } from '../helpers/readelf-notes.js';

const recorded = recordedNotes();
/** Enough of a Program for the checks that run before any syscall. */
const fakeProgram = (type = ProgramType.Kprobe, sectionName = 'usdt'): Program => ({ name: 'p', type, attachment: { sectionName } }) as unknown as Program;

describe('usdtProbes', () => {
  it('usdtProbes(pid): the executable and every shared library it maps', async () => {
    const child = spawn(usdtFixture('target'), [], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.stdout.once('data', () => resolve());
      });
      const probes = usdtProbes(child.pid!);
      const target = realpathSync(usdtFixture('target'));
      const lib = realpathSync(usdtFixture('libusdtfixture.so'));
      expect(probes.filter((p) => p.binary === target).map((p) => p.name)).toEqual(recorded.get('target')!.map((p) => p.name));
      expect(probes.filter((p) => p.binary === lib).map((p) => `${p.provider}:${p.name}`)).toEqual(['ebpf_ts_lib:hello']);
      expect(usdtProbes(usdtFixture('target'))).toEqual(probes.filter((p) => p.binary === target));
    } finally {
      child.kill();
    }
  });

  it('usdtProbes of a process that does not exist is an ArgumentError', () => {
    expect(() => usdtProbes(0x7ffffffe)).toThrow(/cannot read \/proc\/2147483646\/maps: no such process/);
  });

});

describe('attachUSDT before the kernel', () => {
  const prog = fakeProgram();
  const target = usdtFixture('target');

  it('a missing probe: USDTNotFoundError (a SymbolNotFoundError) with the probes there are and near names', () => {
    let caught: unknown;
    try {
      attachUSDT(prog, { binary: target, provider: 'ebpf_ts', name: 'gaurded' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(USDTNotFoundError);
    expect(caught).toBeInstanceOf(SymbolNotFoundError);
    const err = caught as USDTNotFoundError;
    expect(err.symbol).toBe('ebpf_ts:gaurded');
    expect(err.source).toBe(realpathSync(target));
    expect(err.probes).toHaveLength(8);
    expect(err.nearMatches[0]).toBe('ebpf_ts:consts');
    expect(err.message).toContain('its probes: ebpf_ts:consts, ebpf_ts:global, ebpf_ts:guarded,');
    expect(() => attachUSDT(prog, { binary: usdtFixture('libusdtfixture.so'), provider: 'x', name: 'y' })).toThrow(/its probes: ebpf_ts_lib:hello/);
    expect(() => attachUSDT(prog, { binary: '/bin/true', provider: 'x', name: 'y' })).toThrow(/it has no USDT probes \(no \.note\.stapsdt\)/);
  });

  it('options are checked first', () => {
    expect(() => attachUSDT(fakeProgram(ProgramType.Tracepoint), { binary: target, provider: 'a', name: 'b' })).toThrow(/needs a KPROBE program \(SEC\("usdt"\)\); p is/);
    expect(() => attachUSDT(prog, { provider: 'a', name: 'b' })).toThrow(/needs a binary, a pid, or both/);
    expect(() => attachUSDT(prog, { binary: target, provider: '', name: 'b' })).toThrow(/provider must be a non-empty string/);
    expect(() => attachUSDT(prog, { binary: target, provider: 'a', name: 'x:y' })).toThrow(/name must be a non-empty string without ':'/);
    expect(() => attachUSDT(prog, { pid: 0, provider: 'a', name: 'b' })).toThrow(/pid must be a process id/);
    expect(() => attachUSDT(prog, { binary: target, provider: 'a', name: 'b', cookie: 0.5 })).toThrow(/cookie must be an integer/);
    expect(() => attachUSDT(prog, { binary: usdtFixture('nope'), provider: 'a', name: 'b' })).toThrow(ArgumentError);
  });

  it('a probe of another architecture is refused before anything is created', () => {
    const other = process.arch === 'arm64' ? 'target' : 'target-arm64';
    expect(() => attachUSDT(prog, { binary: usdtFixture(other), provider: 'ebpf_ts', name: 'regs' })).toThrow(/binary; this machine is/);
  });

  it('an argument spec usdt.bpf.h cannot fetch is a USDTArgumentError naming the probe (arm64 fixture)', (ctx) => {
    if (process.arch !== 'arm64') ctx.skip(`runs on arm64 only: on ${process.arch} an arm64 binary is refused before its specs are read (the test above)`);
    expect(() => attachUSDT(prog, { binary: usdtFixture('target-arm64'), provider: 'ebpf_ts', name: 'global' })).toThrow(USDTArgumentError);
  });

  it('section targets: <binary>:<provider>:<name>, the binary may hold colons', () => {
    expect(() => attachUSDTSection(prog, undefined)).toThrow(/section usdt names no probe: auto-attach needs usdt\/<binary>:<provider>:<name>/);
    expect(() => attachUSDTSection(prog, 'target:regs')).toThrow(/a usdt target is <binary>:<provider>:<name>, got "target:regs"/);
    expect(() => attachUSDTSection(prog, 'a::b')).toThrow(/<binary>:<provider>:<name>/);
    // Parsed, then looked up: the error names the file and the probe asked for.
    expect(() => attachUSDTSection(prog, `${target}:ebpf_ts:nope`)).toThrow(/symbol ebpf_ts:nope not found in .*testdata\/usdt\/target/);
    expect(() => attachUSDTSection(prog, '/no/such:dir/file:p:n')).toThrow(/\/no\/such:dir\/file not found/);
  });
});
