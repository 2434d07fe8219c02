/**
 * The part of `feature probe` that reads rather than probes: the sysctls that govern BPF
 * (who may call bpf(), the JIT and its hardening) and the kernel build options BPF features
 * depend on, from the running kernel's config (/boot/config-$(uname -r) or /proc/config.gz,
 * through internal/kconfig.ts) — what `bpftool feature probe` prints first.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { kernelConfig, kernelConfigSource } from '../internal/kconfig.js';

/** One sysctl. */
export interface SysctlEntry {
  /** Its dotted name (`net.core.bpf_jit_enable`). */
  readonly name: string;
  /** Its value, null when the file is missing or unreadable. */
  readonly value: number | null;
  /** What the value means. */
  readonly meaning: string;
}

/** One kernel config option. */
export interface ConfigEntry {
  /** `CONFIG_BPF_JIT`. */
  readonly name: string;
  /** `y`, `m`, a number or string; null when not set. */
  readonly value: string | null;
  /** What depends on it. */
  readonly why: string;
}

/** What `feature probe` reports about the system before probing. */
export interface SystemConfig {
  /** The BPF sysctls. */
  readonly sysctls: readonly SysctlEntry[];
  /** The JIT in one sentence, from bpf_jit_enable and CONFIG_BPF_JIT_ALWAYS_ON. */
  readonly jit: string;
  /** The file the config was read from; null when none is readable. */
  readonly kernelConfigSource: string | null;
  /** The options (empty when no config is readable). */
  readonly kernelConfig: readonly ConfigEntry[];
}

type Meaning = (v: number) => string;

// The sysctls of Documentation/admin-guide/sysctl/{kernel,net}.rst that concern BPF.
const sysctls: readonly (readonly [string, Meaning])[] = [
  [
    'kernel.unprivileged_bpf_disabled',
    (v) => (v === 0 ? 'unprivileged users may call bpf()' : v === 1 ? 'only privileged users may call bpf(), until reboot' : 'only privileged users may call bpf(); an admin may allow others again'),
  ],
  ['net.core.bpf_jit_enable', (v) => (v === 0 ? 'JIT off: programs run in the interpreter' : v === 1 ? 'JIT on' : 'JIT on, writing debug output to the kernel log')],
  ['net.core.bpf_jit_harden', (v) => (v === 0 ? 'no constant blinding' : v === 1 ? 'constants blinded in programs of unprivileged users' : 'constants blinded in every program')],
  ['net.core.bpf_jit_kallsyms', (v) => (v === 0 ? 'JITed programs are not in /proc/kallsyms' : 'JITed programs are in /proc/kallsyms (for privileged readers)')],
  ['net.core.bpf_jit_limit', (v) => `${v} bytes of JIT memory for unprivileged users' programs`],
  ['kernel.bpf_stats_enabled', (v) => (v === 0 ? 'run time and count of programs not recorded' : 'run time and count of programs recorded (prog show RUN columns)')],
];

// What depends on each option; the first group is bpftool's list, then the tracing, LSM and
// scheduler options a BPF user meets.
const options: readonly (readonly [string, string])[] = [
  ['CONFIG_BPF', 'BPF at all'],
  ['CONFIG_BPF_SYSCALL', 'the bpf() system call'],
  ['CONFIG_HAVE_EBPF_JIT', 'the architecture has a BPF JIT'],
  ['CONFIG_BPF_JIT', 'the JIT compiler'],
  ['CONFIG_BPF_JIT_ALWAYS_ON', 'no interpreter: every program is JITed'],
  ['CONFIG_BPF_UNPRIV_DEFAULT_OFF', 'unprivileged bpf() off at boot'],
  ['CONFIG_DEBUG_INFO_BTF', 'kernel BTF (/sys/kernel/btf/vmlinux): CO-RE, tp_btf, fentry, kfuncs'],
  ['CONFIG_DEBUG_INFO_BTF_MODULES', 'BTF of kernel modules'],
  ['CONFIG_CGROUPS', 'control groups'],
  ['CONFIG_CGROUP_BPF', 'programs attached to cgroups'],
  ['CONFIG_CGROUP_NET_CLASSID', 'bpf_get_cgroup_classid'],
  ['CONFIG_SOCK_CGROUP_DATA', 'cgroup data of sockets'],
  ['CONFIG_BPF_EVENTS', 'kprobe, uprobe and tracepoint programs'],
  ['CONFIG_KPROBES', 'kprobes'],
  ['CONFIG_KPROBE_EVENTS', 'kprobe events (perf PMU and tracefs)'],
  ['CONFIG_UPROBES', 'uprobes'],
  ['CONFIG_UPROBE_EVENTS', 'uprobe events (perf PMU and tracefs)'],
  ['CONFIG_FPROBE', 'kprobe_multi links'],
  ['CONFIG_TRACING', 'tracing infrastructure'],
  ['CONFIG_FTRACE_SYSCALLS', 'syscalls:sys_enter_*/sys_exit_* tracepoints'],
  ['CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS', 'BPF trampolines: fentry, fexit, fmod_ret, LSM programs'],
  ['CONFIG_FUNCTION_ERROR_INJECTION', 'error injection by fmod_ret and bpf_override_return'],
  ['CONFIG_BPF_KPROBE_OVERRIDE', 'bpf_override_return'],
  ['CONFIG_BPF_LSM', 'LSM programs (also needs "bpf" in the lsm= boot list)'],
  ['CONFIG_NET', 'networking'],
  ['CONFIG_XDP_SOCKETS', 'AF_XDP sockets (XSKMAP)'],
  ['CONFIG_LWTUNNEL_BPF', 'lightweight tunnel programs'],
  ['CONFIG_NET_ACT_BPF', 'tc BPF actions'],
  ['CONFIG_NET_CLS_BPF', 'tc BPF classifiers'],
  ['CONFIG_NET_CLS_ACT', 'tc actions'],
  ['CONFIG_NET_SCH_INGRESS', 'tc ingress and clsact qdiscs'],
  ['CONFIG_XFRM', 'bpf_skb_get_xfrm_state'],
  ['CONFIG_IP_ROUTE_CLASSID', 'bpf_get_route_realm'],
  ['CONFIG_IPV6_SEG6_BPF', 'seg6local BPF actions and helpers'],
  ['CONFIG_BPF_LIRC_MODE2', 'infrared decoder programs'],
  ['CONFIG_BPF_STREAM_PARSER', 'sockmap stream parsers'],
  ['CONFIG_NETFILTER_XT_MATCH_BPF', 'iptables bpf match'],
  ['CONFIG_NETFILTER_BPF_LINK', 'netfilter programs'],
  ['CONFIG_BPFILTER', 'bpfilter'],
  ['CONFIG_BPFILTER_UMH', 'bpfilter user mode helper'],
  ['CONFIG_SCHED_CLASS_EXT', 'sched_ext schedulers (struct_ops)'],
  ['CONFIG_TEST_BPF', 'the kernel\'s BPF self-test module'],
  ['CONFIG_HZ', 'timer frequency (jiffies helpers)'],
];

function readSysctl(name: string): number | null {
  try {
    const v = Number(readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim());
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** Reads the sysctls and the kernel config. */
export function systemConfig(): SystemConfig {
  const entries = sysctls.map(([name, meaning]) => {
    const value = readSysctl(name);
    return { name, value, meaning: value === null ? 'not readable (no such sysctl, or not root)' : meaning(value) };
  });
  const config = kernelConfig();
  const setting = (name: string): string | null => {
    const v = config?.get(name);
    return v === undefined || v === 'n' ? null : v;
  };
  const enable = entries.find((e) => e.name === 'net.core.bpf_jit_enable')!.value;
  const alwaysOn = setting('CONFIG_BPF_JIT_ALWAYS_ON') === 'y';
  const jit =
    enable === null
      ? 'unknown: net.core.bpf_jit_enable is not readable (a kernel without JIT has none)'
      : enable === 0
        ? 'off: programs run in the interpreter'
        : `on${alwaysOn ? ', always (CONFIG_BPF_JIT_ALWAYS_ON: there is no interpreter)' : ''}${enable === 2 ? ', with debug output' : ''}`;
  return {
    sysctls: entries,
    jit,
    kernelConfigSource: config === null ? null : (kernelConfigSource() ?? null),
    kernelConfig: config === null ? [] : options.map(([name, why]) => ({ name, value: setting(name), why })),
  };
}
