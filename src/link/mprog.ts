/**
 * What tcx and netkit share: both keep an ordered list of programs per hook (the kernel's
 * bpf_mprog, kernel/bpf/mprog.c, Linux 6.6), where a new program goes first, last, or just
 * before or after one already there (an anchor), and where every change bumps the hook's
 * revision so that an attach can be made conditional on nothing having changed since the
 * caller looked (`expected_revision`).
 *
 * The placement options and the explanations of bpf_mprog_attach()'s errnos are in
 * mprog-placement.ts; this file holds the feature probes, the argument checks and
 * {@link attachMprog}: a bpf_link, or an attachment without one (BPF_PROG_ATTACH through
 * raw.ts's `attachProgram`, which detaches exactly the program and can update it in place).
 *
 * @module
 */
import { ArgumentError, NotSupportedError } from '../errors.js';
import { Feature, notSupportedUnlessConfigured, type FeatureResult } from '../features/feature.js';
import type { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { LinkCreate } from '../sys/layouts.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { attachMode, keptInterface } from './attach-target.js';
import { Link } from './link.js';
import { linkCreateProbe } from './link-create-probe.js';
import { explainMprog, type EncodedPlacement, type MprogAttempt } from './mprog-placement.js';
import { attachProgram } from './raw.js';

export {
  encodePlacement,
  explainMprog,
  MPROG_MAX,
  queryMprog,
  rememberAttachedProgram,
  type Anchor,
  type EncodedPlacement,
  type MprogAttempt,
  type MprogPlacement,
  type MprogState,
} from './mprog-placement.js';

/**
 * A link feature probe's answer, with the config option behind its attach type: a kernel
 * built without it has a stub answering EINVAL (tcx_link_attach() without CONFIG_NET_XGRESS,
 * netkit_link_attach() without CONFIG_NETKIT), which reads like a kernel that predates the
 * type. When the running kernel is new enough and its config says the option is off, that
 * option is the answer instead of a version.
 */
export function withConfigGate(r: FeatureResult, option: string): FeatureResult {
  if (r.supported !== false || r.minimumVersion === undefined) return r;
  return notSupportedUnlessConfigured(r.reason, r.minimumVersion, option);
}

/**
 * The feature of a tcx or netkit link type (`what`), probed with ifindex 0, which no interface
 * has: a kernel with the type looks the device up and answers ENODEV; older kernels do not
 * know the attach type (EINVAL from link_create()), nor does one built without `config`.
 */
export function mprogLinkFeature(what: string, attachType: AttachType, attachName: string, since: string, config: string): Feature {
  return new Feature(`${what} (BPF_LINK_CREATE with ${attachName})`, since, () =>
    withConfigGate(
      linkCreateProbe({
        name: `probe_${what}`,
        programType: ProgramType.SchedCls,
        attachType,
        loadAttachType: AttachType.None,
        attachName,
        fields: { target_fd: 0 },
        proves: [Errno.ENODEV],
        since,
      }),
      config,
    ),
    { perBoot: 'kernel' },
  );
}

/**
 * Throws the {@link NotSupportedError} that fits when the kernel lacks `feature`, saying what
 * to use `instead`; an inconclusive probe lets the attach answer.
 */
export function requireMprogFeature(feature: Feature, what: string, instead: string): void {
  const r = feature.check();
  if (r.supported !== false) return;
  if (r.minimumVersion !== undefined) throw new NotSupportedError(what, r.minimumVersion, { errno: Errno.EINVAL, detail: instead });
  throw new NotSupportedError(what, undefined, { errno: Errno.EINVAL, detail: `${r.reason}; ${instead}` });
}

/**
 * What attachTcx and attachNetkit check first: a SCHED_CLS program (`sections` names where
 * one comes from) and options with an interface (`usage` spells them).
 */
export function checkMprogArgs(prog: Program, options: { readonly interface?: unknown } | null | undefined, fn: string, sections: string, usage: string): void {
  if (prog.type !== ProgramType.SchedCls) throw new ArgumentError(`${fn} needs a SCHED_CLS program (${sections}); ${prog.name} is ${programTypeName(prog.type)}`);
  if (options === null || typeof options !== 'object' || (typeof options.interface !== 'string' && typeof options.interface !== 'number')) {
    throw new ArgumentError(`${fn} needs options: ${usage}`);
  }
}

/** The `mode` option of attachTcx and attachNetkit, checked: a bpf_link unless `attachment`. */
export function mprogMode(mode: unknown, fn: string): 'bpf-link' | 'attachment' {
  return attachMode(mode, fn) ?? 'bpf-link';
}

/** What {@link attachMprog} attaches, where and how. */
export interface MprogRequest {
  /** The program. */
  readonly prog: Program;
  /** A bpf_link, or BPF_PROG_ATTACH. */
  readonly mode: 'bpf-link' | 'attachment';
  /** The interface's index. */
  readonly ifindex: number;
  /** The hook's attach type (tcx ingress/egress, netkit primary/peer). */
  readonly attachType: AttachType;
  /** The hook, for messages: `tcx ingress of eth0`. */
  readonly hook: string;
  /** The encoded placement options. */
  readonly placement: EncodedPlacement;
  /** Explains the errnos particular to the device (ENODEV, …) before the list's own. */
  readonly explainDevice?: (errno: number) => string | undefined;
}

/**
 * Attaches a program to a tcx or netkit hook: BPF_LINK_CREATE with the placement in the link
 * type's own attr fields, or BPF_PROG_ATTACH (raw.ts's `attachProgram`: the attachment keeps
 * fds of its own and of the interface's namespace, detaches exactly its program, and updates
 * in place with BPF_F_REPLACE); errnos explained with what the hook holds.
 */
export function attachMprog(req: MprogRequest): Link {
  const { prog, ifindex, attachType, hook, placement } = req;
  const attempt: MprogAttempt = { prog, hook, ifindex, attachType, placement };
  const explain = (errno: number): string | undefined => req.explainDevice?.(errno) ?? explainMprog(errno, attempt);
  const context = `attach ${prog.name} to ${hook}${placement.anchor === undefined ? '' : ` ${placement.anchor}`}`;
  const what = `${hook} (ifindex ${ifindex})`;
  if (req.mode === 'attachment') {
    return attachProgram({ program: prog, target: keptInterface(ifindex, `ifindex ${ifindex}`), attachType, flags: 0, placement, hook, what, context, explain: req.explainDevice });
  }
  const relative = placement.relative === 0 ? undefined : placement.relative;
  const revision = placement.revision === 0n ? undefined : placement.revision;
  // The same union bytes under each link type's own names (and first kernels).
  const fields =
    attachType === AttachType.TCXIngress || attachType === AttachType.TCXEgress
      ? { tcx_relative_fd: relative, tcx_expected_revision: revision }
      : { netkit_relative_fd: relative, netkit_expected_revision: revision };
  const fd = bpfCall(LinkCreate, { prog_fd: prog.fd, target_fd: ifindex, attach_type: attachType, flags: placement.flags, ...fields }, { context, explain });
  return Link.adopt({ fd, mode: 'bpf-link', what });
}
