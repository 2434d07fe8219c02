/**
 * Auto-attachment by section name, as libbpf's `bpf_program__attach()` does: the ELF section
 * a program came from (`SEC("kprobe/do_sys_openat2")`) says which hook it belongs to.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { parseSectionName } from '../elf/section-names.js';
import { registerAutoAttach, type AttachTargets, type Program } from '../prog.js';
import type { ProgramSpec } from '../prog-spec.js';
import { attachCgroup } from './cgroup.js';
import { attachIter, type IterLink } from './iter.js';
import { attachNetkit } from './netkit.js';
import { attachNetns } from './netns.js';
import { attachTc } from './tc.js';
import { attachTcx, tcxFeature } from './tcx.js';
import { attachUSDTSection } from './usdt.js';
import { attachXDP } from './xdp.js';
import { attachKprobe, attachKsyscall } from './kprobe.js';
import { attachKprobeMulti, type kprobeMultiFunctions } from './kprobe-multi.js';
import type { Link } from './link.js';
import { attachRawTracepoint, attachTracing } from './raw-tracepoint.js';
import { attachTracepoint } from './tracepoint.js';
import { attachUprobe } from './uprobe.js';
import { attachUprobeMulti } from './uprobe-multi.js';

/** A section name split into its kind (`kprobe`, `tp`, …) and target. */
export interface AttachPlan {
  /** The section prefix without `?` and the sleepable `.s` marker, e.g. `kretprobe`. */
  readonly kind: string;
  /** What follows the first `/`, or the spec's `attachTo`. */
  readonly target: string | undefined;
}

/**
 * Splits `sectionName` (or uses `attachTo` for the target when given) into kind and target.
 *
 * @example
 * ```ts
 * attachPlan('tracepoint/syscalls/sys_enter_execve'); // { kind: 'tracepoint', target: 'syscalls/sys_enter_execve' }
 * ```
 */
export function attachPlan(sectionName: string, attachTo?: string): AttachPlan {
  const name = sectionName.startsWith('?') ? sectionName.slice(1) : sectionName;
  // A legacy prefix name (`xdp_foo`, `socket/anything`) attaches like the row it matched, with
  // no target from the name.
  const info = parseSectionName(name);
  if (info.legacy !== undefined && info.definition !== undefined) return attachPlan(info.definition.name, attachTo);
  const slash = name.indexOf('/');
  const prefix = slash < 0 ? name : name.slice(0, slash);
  const rest = slash < 0 ? undefined : name.slice(slash + 1);
  const kind = prefix.replace(/\.s$/, '');
  const target = attachTo ?? (rest === '' ? undefined : rest);
  return { kind, target };
}

/** Section prefixes {@link attachProgram} knows how to attach. */
const autoAttachKinds = new Set([
  'tracepoint', 'tp', 'kprobe', 'kretprobe', 'ksyscall', 'kretsyscall', 'raw_tracepoint', 'raw_tp',
  'raw_tracepoint.w', 'raw_tp.w', 'fentry', 'fexit', 'fmod_ret', 'tp_btf', 'lsm', 'uprobe', 'uretprobe',
  'kprobe.multi', 'kretprobe.multi', 'uprobe.multi', 'uretprobe.multi', 'kprobe.session', 'uprobe.session', 'iter', 'usdt',
]);

/** True if `target` has glob characters; a plain name is attached as a one-name list. */
function isGlob(target: string): boolean {
  return /[*?]/.test(target);
}

/** Which {@link AttachTargets} member a section kind needs: the hook's kind is in the name, the object is not. */
function targetNeeded(kind: string, target: string | undefined): keyof AttachTargets | undefined {
  // xdp/devmap and xdp/cpumap programs run from map entries, not from an interface.
  if (kind === 'xdp' || kind === 'xdp.frags') return target === undefined ? 'interface' : undefined;
  if (kind === 'tc' || kind === 'tcx' || kind === 'netkit') return 'interface';
  if (kind === 'cgroup_skb' || kind === 'cgroup' || kind === 'sockops' || kind === 'lsm_cgroup') return 'cgroup';
  if (kind === 'sk_lookup' || kind === 'flow_dissector') return 'netns';
  return undefined;
}

/** What a section that auto-attach cannot serve needs instead, in words a user can act on. */
const explicitOnly: Record<string, string> = {
  socket: 'a socket filter attaches to a socket: attachSocketFilter(prog, socket)',
  sk_reuseport: 'an sk_reuseport program attaches to a socket of the reuseport group: attachReuseport(prog, socket)',
  sk_skb: 'an sk_skb program attaches to a sockmap or sockhash: attachSockmap(prog, map)',
  sk_msg: 'an sk_msg program attaches to a sockmap or sockhash: attachSockmap(prog, map)',
  netfilter: 'a netfilter program needs a family, hook and priority: attachNetfilter(prog, { family, hook, priority })',
  classifier: 'a bare classifier section names no direction: use attachTc(prog, { interface, direction }) or attachTcx, or name the section tc/ingress or tc/egress',
  action: 'a tc action runs from a tc filter (tc filter … action bpf), not from a hook of its own',
  xdp_devmap: 'an xdp/devmap or xdp/cpumap program runs from a devmap or cpumap entry: put its fd in the map value (struct bpf_devmap_val / bpf_cpumap_val)',
  perf_event: 'a perf_event program samples perf events you choose: attachPerfEventAllCPUs(prog, { type, config, frequency }) or attachPerfEvent(prog, fd)',
  syscall: 'a syscall program is run with testRun(), not attached',
  freplace: 'an freplace program replaces a function of another program: load it with freplaceTargets, then attachFreplace(prog, targetProgram, functionName)',
};

/**
 * Why {@link attachProgram} cannot attach a program of this section, or undefined when it can
 * (a known prefix with a target: `kprobe/do_sys_openat2`, not a bare `kprobe`; a network or
 * cgroup section whose interface, cgroup or netns is in `targets`).
 */
export function autoAttachRefusal(sectionName: string | undefined, attachTo?: string, targets: AttachTargets = {}): string | undefined {
  if (sectionName === undefined || sectionName === '') return 'it was loaded without a section name';
  const { kind, target } = attachPlan(sectionName, attachTo);
  const needs = targetNeeded(kind, target);
  if (needs !== undefined) {
    if (kind === 'tc' && target === undefined) return explicitOnly.classifier;
    if (targets[needs] !== undefined) return undefined;
    const example = needs === 'interface' ? `{ interface: 'eth0' }` : needs === 'cgroup' ? `{ cgroup: '/sys/fs/cgroup/…' }` : `{ netns: '/proc/self/ns/net' }`;
    return `section ${JSON.stringify(sectionName)} says the kind of hook but not which ${needs === 'netns' ? 'network namespace' : needs}: pass it, e.g. attachAll(${example}) or prog.attach(${example})`;
  }
  const explicit = explicitOnly[kind] ?? ((kind === 'xdp' || kind === 'xdp.frags') ? explicitOnly.xdp_devmap : undefined);
  if (explicit !== undefined) return explicit;
  if (!autoAttachKinds.has(kind)) {
    return `this version of ebpf-ts has no auto-attach for ${JSON.stringify(sectionName)} sections (struct_ops and lwt hooks have no auto-attach yet); testRun() works for test-runnable types`;
  }
  if (target === undefined) return `section ${JSON.stringify(sectionName)} names no target: use e.g. ${kind}/<target>, or attach it explicitly`;
  return undefined;
}

/**
 * True if {@link attachProgram} knows where a program of this section goes (a known prefix with
 * a target, or a network/cgroup section whose object is in `targets`).
 */
export function canAutoAttach(sectionName: string | undefined, attachTo?: string, targets?: AttachTargets): boolean {
  return autoAttachRefusal(sectionName, attachTo, targets) === undefined;
}

function needTarget<K extends keyof AttachTargets>(targets: AttachTargets, key: K, sectionName: string): NonNullable<AttachTargets[K]> {
  const value = targets[key];
  if (value === undefined) throw new ArgumentError(autoAttachRefusal(sectionName, undefined, targets) ?? `section ${sectionName} needs ${key}`);
  return value as NonNullable<AttachTargets[K]>;
}

function need(target: string | undefined, sectionName: string, form: string): string {
  if (target === undefined) {
    throw new ArgumentError(`section ${sectionName} names no attach target: auto-attach needs ${form}; attach it explicitly instead`);
  }
  return target;
}

/**
 * Attaches `prog` where its section name says (libbpf's auto-attach conventions):
 * `tracepoint/<group>/<name>` and `tp/…`, `kprobe/<function>[+<offset>]`,
 * `kretprobe/<function>`, `ksyscall/<syscall>`, `kretsyscall/<syscall>`,
 * `raw_tracepoint/<name>` and `raw_tp/…`, `uprobe/<binary>:<function>[+<offset>]` and
 * `uretprobe/<binary>:<function>` (also `.s`; the binary a path or a name such as
 * `libc.so.6`), `kprobe.multi/<pattern>` and `kretprobe.multi/<pattern>` (a glob over
 * {@link kprobeMultiFunctions}, or one function name), `uprobe.multi/<binary>:<pattern>` and
 * `uretprobe.multi/<binary>:<pattern>` (also `.s`; a glob over the binary's functions, or one
 * name), the sessions `kprobe.session/<pattern>` and `uprobe.session/<binary>:<pattern>` (also
 * `.s`), the BTF-attached `fentry/`, `fexit/`, `fmod_ret/`, `tp_btf/`, `lsm/` (whose target
 * was fixed at load time), `iter/<target>` (an iterator over every object of the kind,
 * read through the returned {@link IterLink}), `usdt/<binary>:<provider>:<name>`, and the
 * network and cgroup sections (`xdp`, `tc/ingress`, `tcx/…`, `netkit/…`, `cgroup_skb/…`,
 * `cgroup/…`, `sockops`, `lsm_cgroup/…`, `sk_lookup`, `flow_dissector`) on the interface,
 * cgroup or network namespace in `targets`.
 *
 * Minimum kernel: that of the attachment (see each attach function).
 *
 * @example
 * ```ts
 * const spec = collectionSpec.programs.handle_execve; // sectionName 'tracepoint/syscalls/sys_enter_execve'
 * using link = attachProgram(coll.programs.handle_execve, spec);
 * ```
 * @throws {@link ArgumentError} when the section has no target or is not one auto-attach
 * knows or whose interface, cgroup or netns `targets` lacks, and the errors of the attach
 * function used.
 */
export function attachProgram(prog: Program, spec?: Pick<ProgramSpec, 'sectionName' | 'attachTo' | 'attachType'>, targets: AttachTargets = {}): Link {
  const sectionName = spec?.sectionName;
  if (sectionName === undefined || sectionName === '') {
    throw new ArgumentError(`program ${prog.name} has no section name: auto-attach cannot tell where it goes; attach it explicitly`);
  }
  const { kind, target } = attachPlan(sectionName, spec?.attachTo);
  switch (kind) {
    case 'tracepoint':
    case 'tp': {
      const t = need(target, sectionName, '<group>/<name>');
      const slash = t.indexOf('/');
      if (slash <= 0) throw new ArgumentError(`section ${sectionName}: a tracepoint target is <group>/<name>, got ${JSON.stringify(t)}`);
      return attachTracepoint(prog, t.slice(0, slash), t.slice(slash + 1));
    }
    case 'kprobe':
    case 'kretprobe': {
      const t = need(target, sectionName, '<function>[+<offset>]');
      const m = /^([^+]+)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(t);
      if (m === null) throw new ArgumentError(`section ${sectionName}: expected <function>[+<offset>], got ${JSON.stringify(t)}`);
      const offset = m[2] === undefined ? undefined : BigInt(m[2]);
      return attachKprobe(prog, m[1]!, { retprobe: kind === 'kretprobe', offset });
    }
    case 'ksyscall':
    case 'kretsyscall':
      return attachKsyscall(prog, need(target, sectionName, '<syscall>'), { retprobe: kind === 'kretsyscall' });
    case 'raw_tracepoint':
    case 'raw_tp':
    case 'raw_tracepoint.w':
    case 'raw_tp.w':
      return attachRawTracepoint(prog, need(target, sectionName, '<tracepoint>'));
    case 'uprobe':
    case 'uretprobe': {
      const t = need(target, sectionName, '<binary>:<function>[+<offset>]');
      const colon = t.indexOf(':');
      if (colon <= 0 || colon === t.length - 1) {
        throw new ArgumentError(`section ${sectionName}: a uprobe target is <binary>:<function>[+<offset>], got ${JSON.stringify(t)}`);
      }
      const fn = t.slice(colon + 1);
      // A bare number is a file offset, as in `uprobe//usr/bin/app:0x1234`.
      const where = /^(0x[0-9a-fA-F]+|\d+)$/.test(fn) ? BigInt(fn) : fn;
      return attachUprobe(prog, t.slice(0, colon), where, { retprobe: kind === 'uretprobe' });
    }
    case 'kprobe.multi':
    case 'kretprobe.multi':
    case 'kprobe.session': {
      const t = need(target, sectionName, '<pattern>');
      // A plain name also works for functions that are attachable only under an alias
      // (__x64_sys_* on x86-64), which a pattern over available_filter_functions misses.
      const which = isGlob(t) ? { pattern: t } : { symbols: [t] };
      return attachKprobeMulti(prog, { ...which, retprobe: kind === 'kretprobe.multi', session: kind === 'kprobe.session' });
    }
    case 'uprobe.multi':
    case 'uretprobe.multi':
    case 'uprobe.session': {
      const t = need(target, sectionName, '<binary>:<pattern>');
      const colon = t.indexOf(':');
      if (colon <= 0 || colon === t.length - 1) {
        throw new ArgumentError(`section ${sectionName}: a ${kind} target is <binary>:<pattern>, got ${JSON.stringify(t)}`);
      }
      const fn = t.slice(colon + 1);
      const which = isGlob(fn) ? { pattern: fn } : { symbols: [fn] };
      return attachUprobeMulti(prog, t.slice(0, colon), { ...which, retprobe: kind === 'uretprobe.multi', session: kind === 'uprobe.session' });
    }
    case 'xdp':
    case 'xdp.frags':
      if (target !== undefined) throw new ArgumentError(`section ${sectionName}: ${explicitOnly.xdp_devmap}`);
      return attachXDP(prog, { interface: needTarget(targets, 'interface', sectionName) });
    case 'tc':
    case 'tcx': {
      const direction = target === 'ingress' || target === 'egress' ? target : undefined;
      if (direction === undefined) throw new ArgumentError(`section ${sectionName}: ${explicitOnly.classifier}`);
      const iface = needTarget(targets, 'interface', sectionName);
      // libbpf's tc/ingress is a tcx link; kernels before 6.6 get the clsact + cls_bpf filter.
      if (kind === 'tcx' || tcxFeature.supported()) return attachTcx(prog, { interface: iface, direction });
      return attachTc(prog, { interface: iface, direction });
    }
    case 'netkit':
      return attachNetkit(prog, { interface: needTarget(targets, 'interface', sectionName), peer: target === 'peer' });
    case 'cgroup_skb':
    case 'cgroup':
    case 'sockops':
    case 'lsm_cgroup':
      return attachCgroup(prog, { cgroup: needTarget(targets, 'cgroup', sectionName) });
    case 'sk_lookup':
    case 'flow_dissector':
      return attachNetns(prog, { netns: needTarget(targets, 'netns', sectionName) });
    case 'usdt':
      return attachUSDTSection(prog, target);
    case 'iter':
      // No parameter from a section name: a walk over every object of the kind.
      return attachIter(prog);
    case 'fentry':
    case 'fexit':
    case 'fmod_ret':
    case 'tp_btf':
    case 'lsm':
      return attachTracing(prog, { attachType: spec?.attachType });
    default: {
      const explicit = explicitOnly[kind];
      if (explicit !== undefined) throw new ArgumentError(`section ${sectionName}: ${explicit}`);
      throw new ArgumentError(`section ${sectionName} (${kind}) has no auto-attach rule; attach program ${prog.name} explicitly`);
    }
  }
}

registerAutoAttach(attachProgram);
