/**
 * Helper probes: can a program of a given type call a given helper on this kernel?
 *
 * The probe loads `call helper; exit` and reads the verifier log. `check_helper_call()` in
 * kernel/bpf/verifier.c distinguishes the two ways of saying no:
 * - `invalid func <name>#<id>`: the id is beyond `__BPF_FUNC_MAX_ID`, the kernel has never
 *   heard of the helper (not supported; the table below gives the version that added it);
 * - `program of this type cannot use helper <name>#<id>` (`unknown func <name>#<id>` on older
 *   kernels, 4.9 even without the `#id`): the helper exists but the program type's
 *   `get_func_proto()` does not offer it.
 * Any other outcome (the program loads, or the verifier complains about the helper's
 * arguments, R1 !read_ok and the like) means the helper was found.
 *
 * @module
 */
import { call, exit } from '../asm/builder.js';
import { Helper, helperName } from '../asm/helper.js';
import { errnoName } from '../errors.js';
import { Errno } from '../sys/errno.js';
import { kernelVersion } from '../sys/kernel-version.js';
import { ProgramType, programTypeName } from '../types.js';
import { Feature, notSupported, permissionDenied, Supported, unknown, type FeatureResult } from './feature.js';
import { probeLoad, programTypeFeature } from './prog-types.js';

/**
 * First mainline kernel with each helper, for the helpers examples and common programs use.
 * Only used in messages: probes answer from the kernel.
 */
export const helperSince: Readonly<Partial<Record<Helper, string>>> = {
  [Helper.MapLookupElem]: '3.19',
  [Helper.MapUpdateElem]: '3.19',
  [Helper.MapDeleteElem]: '3.19',
  [Helper.ProbeRead]: '4.1',
  [Helper.KtimeGetNs]: '4.1',
  [Helper.TracePrintk]: '4.1',
  [Helper.GetPrandomU32]: '4.1',
  [Helper.GetSmpProcessorId]: '4.1',
  [Helper.SkbStoreBytes]: '4.1',
  [Helper.L3CsumReplace]: '4.1',
  [Helper.L4CsumReplace]: '4.1',
  [Helper.TailCall]: '4.2',
  [Helper.CloneRedirect]: '4.2',
  [Helper.GetCurrentPidTgid]: '4.2',
  [Helper.GetCurrentUidGid]: '4.2',
  [Helper.GetCurrentComm]: '4.2',
  [Helper.PerfEventRead]: '4.3',
  [Helper.Redirect]: '4.4',
  [Helper.PerfEventOutput]: '4.4',
  [Helper.SkbLoadBytes]: '4.5',
  [Helper.GetStackid]: '4.6',
  [Helper.CsumDiff]: '4.6',
  [Helper.GetCurrentTask]: '4.8',
  [Helper.ProbeWriteUser]: '4.8',
  [Helper.XdpAdjustHead]: '4.10',
  [Helper.ProbeReadStr]: '4.11',
  [Helper.GetSocketCookie]: '4.12',
  [Helper.RedirectMap]: '4.14',
  [Helper.PerfEventReadValue]: '4.15',
  [Helper.GetStack]: '4.18',
  [Helper.GetCurrentCgroupId]: '4.18',
  [Helper.MapPushElem]: '4.20',
  [Helper.MapPopElem]: '4.20',
  [Helper.MapPeekElem]: '4.20',
  [Helper.SpinLock]: '5.1',
  [Helper.SpinUnlock]: '5.1',
  [Helper.SendSignal]: '5.3',
  [Helper.ProbeReadUser]: '5.5',
  [Helper.ProbeReadKernel]: '5.5',
  [Helper.ProbeReadUserStr]: '5.5',
  [Helper.ProbeReadKernelStr]: '5.5',
  [Helper.Jiffies64]: '5.5',
  [Helper.GetNsCurrentPidTgid]: '5.7',
  [Helper.KtimeGetBootNs]: '5.7',
  [Helper.RingbufOutput]: '5.8',
  [Helper.RingbufReserve]: '5.8',
  [Helper.RingbufSubmit]: '5.8',
  [Helper.RingbufDiscard]: '5.8',
  [Helper.RingbufQuery]: '5.8',
  [Helper.DPath]: '5.10',
  [Helper.CopyFromUser]: '5.10',
  [Helper.GetCurrentTaskBtf]: '5.11',
  [Helper.KtimeGetCoarseNs]: '5.11',
  [Helper.ForEachMapElem]: '5.13',
  [Helper.Snprintf]: '5.13',
  [Helper.GetFuncIp]: '5.15',
  [Helper.GetAttachCookie]: '5.15',
  [Helper.TraceVprintk]: '5.16',
  [Helper.Loop]: '5.17',
  [Helper.KtimeGetTaiNs]: '6.1',
  [Helper.UserRingbufDrain]: '6.1',
  [Helper.CgrpStorageGet]: '6.2',
  [Helper.CgrpStorageDelete]: '6.2',
};

/** The display name of a helper: `bpf_map_lookup_elem`, or `helper #N` for unknown ids. */
export function helperDisplayName(helper: number): string {
  return helperName(helper) ?? `helper #${helper}`;
}

// The BTF-target types need a real attach target before the verifier looks at any call
// (check_attach_btf_id() runs before do_check()), and STRUCT_OPS/EXT need another object
// (a struct_ops map, a target program) that a probe cannot create on its own.
const unprobeableTypes = new Set<ProgramType>([ProgramType.Tracing, ProgramType.LSM, ProgramType.Ext, ProgramType.StructOps]);

/**
 * The verifier's ways of saying "this program type may not call that helper":
 * `program of this type cannot use helper <name>#<id>` (6.2+), `unknown func <name>#<id>`
 * before, and `func <name>#<id> not supported for program type <n>` when the helper's
 * get_func_proto() answers ENOTSUPP for the type (bpf_get_func_ip in a tracepoint). Group 1 is
 * the name, group 2 the id.
 */
export const helperRefusedRe = /(?:program of this type cannot use helper |unknown func |^func )(\S+?)#(\d+)(?: not supported for program type \d+)?/m;

/** Probes one (type, helper) pair. Exported for tests; use {@link helperFeature}. */
export function probeHelper(type: ProgramType, helper: Helper | number): FeatureResult {
  const typeName = programTypeName(type);
  const name = helperDisplayName(helper);
  const typeResult = programTypeFeature(type).check();
  if (typeResult.supported !== true) {
    if (typeResult.supported === false) return { ...typeResult, reason: `program type ${typeName}: ${typeResult.reason}` };
    return unknown(`program type ${typeName}: ${typeResult.reason}`);
  }
  if (unprobeableTypes.has(type)) {
    return unknown(`${typeName} programs cannot be loaded without a BTF attach target, so helpers cannot be probed for them`);
  }
  // 64 KiB is plenty for a two-instruction program's log; in the rotating log mode of 6.4+ the
  // line that matters is near the start, so it must not be rotated out.
  const r = probeLoad({ type, instructions: [call(helper), exit()], logSize: 64 * 1024 });
  if (r.result >= 0) return Supported;
  const errno = -r.result;
  if (errno === Errno.EPERM) return permissionDenied(`loading a ${typeName} program calling ${name}`);
  if (/invalid func /.test(r.log)) {
    return notSupported(`${name} is unknown to this kernel`, helperSince[helper as Helper]);
  }
  if (helperRefusedRe.test(r.log)) {
    return notSupported(`${name} cannot be used by ${typeName} programs`);
  }
  if (r.log !== '') return Supported; // the verifier got past the call: the helper exists here
  return unknown(`loading a ${typeName} program calling ${name} failed with ${errnoName(errno)} and no verifier log`);
}

const helperFeatures = new Map<string, Feature>();

/**
 * Whether programs of `type` can call `helper` on the running kernel.
 *
 * Minimum kernel: the helper's (see {@link helperSince}); needs the program type too. The
 * result is `not supported` with the helper's first kernel version when the kernel does not know
 * the helper, `not supported` without a version when the type may not call it, and `unknown`
 * when the probe could not decide (EPERM, or TRACING/LSM/EXT/STRUCT_OPS which need an attach
 * target). Conclusive answers are cached per process, and for later processes of the boot that
 * hold CAP_SYS_ADMIN under no lockdown when this one does (`EBPF_TS_NO_PROBE_CACHE=1` turns that
 * off).
 *
 * @example
 * ```ts
 * import { asm, helperFeature, ProgramType } from 'ebpf-ts';
 * if (!helperFeature(ProgramType.Kprobe, asm.Helper.RingbufOutput).supported()) {
 *   // fall back to bpf_perf_event_output
 * }
 * ```
 *
 * @throws nothing from `check()`; `require()` throws `NotSupportedError`.
 */
export function helperFeature(type: ProgramType, helper: Helper | number): Feature {
  const key = `${type}:${helper}`;
  let f = helperFeatures.get(key);
  if (f === undefined) {
    f = new Feature(`helper ${helperDisplayName(helper)} in ${programTypeName(type)} programs`, helperSince[helper as Helper], () =>
      probeHelper(type, helper),
      // Which helpers a program may call also depends on CAP_PERFMON/CAP_BPF and on lockdown.
      { perBoot: 'privileged' },
    );
    helperFeatures.set(key, f);
  }
  return f;
}

/**
 * Why the verifier refused a call of `helper` from a program of `type` ("program of this type
 * cannot use helper", or "unknown func" before 6.2), for error messages: the helper, the
 * kernel that added it, and the program types that may call it on this kernel — asked of the
 * kernel with the helper probes (cached), since what a type may call changes between kernels
 * and no table would stay right. TRACING, LSM, EXT and STRUCT_OPS programs cannot be probed
 * without an attach target and are named as such.
 */
export function helperRefusalHint(helper: number, type: ProgramType): string {
  const since = helperSince[helper as Helper];
  const allowed: string[] = [];
  for (const t of Object.values(ProgramType)) {
    if (typeof t !== 'number' || t === ProgramType.Unspec || t === type || unprobeableTypes.has(t)) continue;
    if (helperFeature(t, helper).check().supported === true) allowed.push(programTypeName(t));
  }
  const name = helperDisplayName(helper);
  const head = `helper ${name}${since === undefined ? '' : ` (added in Linux ${since})`} cannot be called from ${programTypeName(type)} programs`;
  const unprobed = '(TRACING, LSM, EXT and STRUCT_OPS cannot be probed without a target)';
  const kernel = `this kernel (Linux ${kernelVersion()})`;
  if (allowed.length === 0) {
    return `${head}; no program type that can be probed may call it on ${kernel} ${unprobed}: do without the helper, or check whether one of those types offers it`;
  }
  return (
    `${head}; on ${kernel} it may be called from ${allowed.join(', ')} programs ${unprobed}: attach the code as one of those types ` +
    `(e.g. a kprobe or fentry on the kernel function instead of a tracepoint), or do without the helper`
  );
}
