// The ebpf-ts CLI against the running kernel: `prog list`/`map list` show objects this test
// created (cross-checked with bpftool where installed), `feature probe` reports this kernel
// (its sysctls and config cross-checked with bpftool), and
// `btf dump` of the host's BTF gives a plausible vmlinux.h. Needs root.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { BpfMap } from '../../src/map.js';
import { Program } from '../../src/prog.js';
import { kernelConfig, kernelConfigSource } from '../../src/internal/kconfig.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { MapType, ProgramType } from '../../src/types.js';
import { cli } from '../helpers/cli.js';
import { findTool, missingToolReason } from '../helpers/tools.js';

const skip = process.getuid?.() !== 0 ? 'needs root for bpf()' : '';
if (skip !== '') console.warn(`skipping CLI kernel tests: ${skip}`);
let vmlinuxHeader: string | undefined;
const tmp = mkdtempSync(join(tmpdir(), 'ebpf-ts-cli-kernel-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const bpftool = findTool('bpftool');

describe.skipIf(skip !== '')('CLI on the running kernel', () => {
  it('prog list and map list include a program and a map this test loaded', async () => {
    const map = BpfMap.create({ name: 'cli_test_map', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 17 });
    const prog = Program.load({
      name: 'cli_test_prog',
      type: ProgramType.SocketFilter,
      license: 'GPL',
      instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()],
    });
    try {
      const mapId = map.info().id;
      const progInfo = prog.info();

      const maps = await cli(['map', 'list', '--json']);
      expect(maps.code, maps.stderr).toBe(0);
      const m = JSON.parse(maps.stdout).find((x: { id: number }) => x.id === mapId);
      expect(m).toMatchObject({ id: mapId, type: 'HASH', name: 'cli_test_map', keySize: 4, valueSize: 8, maxEntries: 17, flags: 0 });

      const progs = await cli(['prog', 'list', '--json']);
      expect(progs.code, progs.stderr).toBe(0);
      const p = JSON.parse(progs.stdout).find((x: { id: number }) => x.id === progInfo.id);
      expect(p).toMatchObject({ id: progInfo.id, type: 'SOCKET_FILTER', name: 'cli_test_prog', tag: progInfo.tag, gplCompatible: true, uid: 0 });
      // Loaded a moment ago: the boot-time conversion must land near now.
      expect(Math.abs(Date.parse(p.loadedAt) - Date.now())).toBeLessThan(60_000);

      const text = await cli(['prog', 'show']);
      expect(text.stdout).toMatch(new RegExp(`^\\s*${progInfo.id}\\s+SOCKET_FILTER\\s+cli_test_prog\\s+${progInfo.tag}\\s`, 'm'));
      const mapText = await cli(['map', 'list']);
      expect(mapText.stdout).toMatch(new RegExp(`^\\s*${mapId}\\s+HASH\\s+cli_test_map\\s+4B\\s+8B\\s+17\\s`, 'm'));
    } finally {
      prog.close();
      map.close();
    }
  });

  it.skipIf(bpftool === undefined)(`prog list agrees with bpftool prog show${bpftool === undefined ? ` (skipped: ${missingToolReason('bpftool')})` : ''}`, async () => {
    using prog = Program.load({ name: 'cli_test_prog', type: ProgramType.SocketFilter, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });
    const id = prog.info().id;
    const progs = await cli(['prog', 'list', '--json']);
    const p = JSON.parse(progs.stdout).find((x: { id: number }) => x.id === id);
    const bp = JSON.parse(execFileSync(bpftool!, ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8' }));
    expect(p).toMatchObject({ tag: bp.tag, name: bp.name, xlatedBytes: bp.bytes_xlated });
  });

  it("feature probe reports this kernel's version, its BPF sysctls and config, and the basics every BPF kernel has", async () => {
    const r = await cli(['feature', 'probe', '--json', '--helpers', 'SOCKET_FILTER']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(['kernelVersion', 'system', 'programTypes', 'mapTypes', 'helpers', 'btf']);
    expect(j.kernelVersion).toBe(kernelVersion().toString());
    expect(release().startsWith(`${kernelVersion().major}.${kernelVersion().minor}`)).toBe(true);
    const find = (list: { name: string; status: string }[], name: string) => list.find((e) => e.name === name);
    expect(find(j.programTypes, 'SOCKET_FILTER')?.status).toBe('supported');
    expect(find(j.mapTypes, 'HASH')?.status).toBe('supported');
    expect(find(j.helpers.SOCKET_FILTER, 'bpf_map_lookup_elem')?.status).toBe('supported');
    for (const e of [...j.programTypes, ...j.mapTypes, ...j.helpers.SOCKET_FILTER, ...j.btf]) {
      expect(e.status).toMatch(/^(supported|not supported \(.+\)|unknown \(.+\))$/);
    }
    // The sysctls are the /proc/sys files; the config options are what internal/kconfig.ts reads.
    for (const e of j.system.sysctls) {
      const path = `/proc/sys/${e.name.replace(/\./g, '/')}`;
      expect(e.value, e.name).toBe(existsSync(path) ? Number(readFileSync(path, 'utf8')) : null);
    }
    expect(j.system.sysctls.map((e: { name: string }) => e.name)).toEqual(expect.arrayContaining(['kernel.unprivileged_bpf_disabled', 'net.core.bpf_jit_enable', 'net.core.bpf_jit_harden', 'net.core.bpf_jit_kallsyms', 'net.core.bpf_jit_limit']));
    const config = kernelConfig();
    if (config !== null) {
      expect(j.system.kernelConfigSource).toBe(kernelConfigSource());
      for (const e of j.system.kernelConfig) expect(e.value, e.name).toBe(config.get(e.name) === undefined || config.get(e.name) === 'n' ? null : config.get(e.name));
      expect(j.system.kernelConfig.find((e: { name: string }) => e.name === 'CONFIG_BPF_SYSCALL').value).toBe('y');
    } else expect(j.system).toMatchObject({ kernelConfigSource: null, kernelConfig: [] });
    const text = await cli(['probe', '--helpers', 'none']);
    expect(text.stdout.split('\n')[0]).toBe(`Kernel version: ${kernelVersion().toString()}`);
    expect(text.stdout).toMatch(/^System configuration:\n {2}SYSCTL +VALUE +MEANING\n/m);
    expect(text.stdout).toMatch(/^JIT: (on|off|unknown)/m);
    expect(text.stdout).not.toContain('Helpers for');
  });

  it.skipIf(bpftool === undefined)(`feature probe's sysctls and kernel config agree with bpftool feature probe${bpftool === undefined ? ` (skipped: ${missingToolReason('bpftool')})` : ''}`, async () => {
    const ours = JSON.parse((await cli(['feature', 'probe', '-j', '--helpers', 'none'])).stdout).system;
    const theirs = JSON.parse(execFileSync(bpftool!, ['-j', 'feature', 'probe', 'kernel'], { encoding: 'utf8' })).system_config;
    let compared = 0;
    for (const e of ours.sysctls) {
      const key = e.name.split('.').pop();
      if (key in theirs) {
        expect(e.value, e.name).toBe(theirs[key]);
        compared++;
      }
    }
    // Without a readable kernel config (the test:vm guests) only the sysctls can be compared.
    const configReadable = kernelConfig() !== null;
    for (const e of configReadable ? ours.kernelConfig : []) {
      if (e.name in theirs) {
        expect(e.value, e.name).toBe(theirs[e.name]);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(configReadable ? 30 : 2);
  });

  it('btf dump --format c of the running kernel is a plausible vmlinux.h that clang compiles', async (t) => {
    const r = await cli(['btf', 'dump', '--format', 'c']);
    if (r.code !== 0 && /kernelBTF|no kernel BTF|vmlinux/i.test(r.stderr)) {
      t.skip(`this kernel has no BTF (${r.stderr.trim()})`);
      return;
    }
    expect(r.code, r.stderr).toBe(0);
    // Every BTF-enabled kernel since 5.4 gives a header of megabytes; far less means lost types.
    expect(r.stdout.length).toBeGreaterThan(1_000_000);
    expect(r.stdout.length).toBeLessThan(100_000_000);
    expect(r.stdout).toMatch(/^struct task_struct \{$/m);
    expect(r.stdout).toMatch(/^#endif \/\* __VMLINUX_H__ \*\/$/m);
    vmlinuxHeader = r.stdout;
  });

  const clang = findTool('clang');
  it.skipIf(clang === undefined)(`that vmlinux.h compiles with clang${clang === undefined ? ` (skipped: ${missingToolReason('clang')})` : ''}`, async (t) => {
    if (vmlinuxHeader === undefined) t.skip('btf dump gave no header (see the test above)');
    writeFileSync(join(tmp, 'vmlinux.h'), vmlinuxHeader!);
    writeFileSync(join(tmp, 'use.c'), '#include "vmlinux.h"\nint pid(struct task_struct *t) { return t->pid; }\n');
    const cc = spawnSync(clang!, ['-target', 'bpf', '-O2', '-c', join(tmp, 'use.c'), '-o', join(tmp, 'use.o')], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
  });
});
