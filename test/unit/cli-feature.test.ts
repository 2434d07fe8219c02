// The read-only part of `feature probe`: kernel config options from a given config text
// (unset and `is not set` alike print as not set, JSON null as bpftool has it), the sysctls'
// shape, and the text when no config is readable. Nothing here calls bpf().
import { afterEach, describe, expect, it } from 'vitest';
import { renderSystem } from '../../src/cli/probe.js';
import { systemConfig } from '../../src/cli/system-config.js';
import { overrideKernelConfig } from '../../src/internal/kconfig.js';

afterEach(() => overrideKernelConfig());

describe('feature probe: system configuration', () => {
  it('reports the BPF options of the config, null for those not set', () => {
    overrideKernelConfig('CONFIG_BPF=y\nCONFIG_BPF_SYSCALL=y\nCONFIG_BPF_JIT=y\nCONFIG_BPF_JIT_ALWAYS_ON=y\n# CONFIG_KPROBES is not set\nCONFIG_NET_CLS_BPF=m\nCONFIG_HZ=250\n');
    const c = systemConfig();
    expect(c.kernelConfigSource).toBe('(test config)');
    const value = (name: string): string | null | undefined => c.kernelConfig.find((e) => e.name === name)?.value;
    expect(value('CONFIG_BPF_SYSCALL')).toBe('y');
    expect(value('CONFIG_NET_CLS_BPF')).toBe('m');
    expect(value('CONFIG_HZ')).toBe('250');
    expect(value('CONFIG_KPROBES')).toBeNull();
    expect(value('CONFIG_FPROBE')).toBeNull();
    for (const name of ['CONFIG_BPF', 'CONFIG_BPF_JIT', 'CONFIG_BPF_EVENTS', 'CONFIG_DEBUG_INFO_BTF', 'CONFIG_UPROBES', 'CONFIG_BPF_LSM']) expect(value(name), name).not.toBeUndefined();
    expect(c.sysctls.map((s) => s.name)).toEqual([
      'kernel.unprivileged_bpf_disabled',
      'net.core.bpf_jit_enable',
      'net.core.bpf_jit_harden',
      'net.core.bpf_jit_kallsyms',
      'net.core.bpf_jit_limit',
      'kernel.bpf_stats_enabled',
    ]);
    for (const s of c.sysctls) expect(s.value === null || Number.isInteger(s.value)).toBe(true);
    const text = renderSystem(c);
    expect(text).toMatch(/^Kernel config \(\(test config\)\):$/m);
    expect(text).toMatch(/^ {2}CONFIG_KPROBES +not set +kprobes$/m);
    expect(text).toMatch(/^ {2}CONFIG_NET_CLS_BPF +m +tc BPF classifiers$/m);
  });

  it('says where it looked when no config is readable', () => {
    overrideKernelConfig(null);
    const c = systemConfig();
    expect(c).toMatchObject({ kernelConfigSource: null, kernelConfig: [] });
    expect(renderSystem(c)).toMatch(/^Kernel config: not readable \(looked for \/boot\/config-.+ and \/proc\/config\.gz\)$/m);
  });

  it('describes each sysctl value and the JIT in words', () => {
    const c = systemConfig();
    const text = renderSystem({ ...c, sysctls: [{ name: 'net.core.bpf_jit_enable', value: 1, meaning: 'JIT on' }], jit: 'on' });
    expect(text).toBe('System configuration:\n  SYSCTL                   VALUE  MEANING\n  net.core.bpf_jit_enable      1  JIT on\n\nJIT: on\n\n' + text.slice(text.indexOf('Kernel config')));
  });
});
