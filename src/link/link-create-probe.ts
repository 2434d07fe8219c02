/**
 * The shape every link feature probe shares: load a trivial program of the link's program and
 * expected attach type, send BPF_LINK_CREATE with arguments chosen so that a kernel knowing
 * the link type fails at a recognisable later step (so nothing is ever attached), and read the
 * errno: one of `proves` means the kernel got past the attach-type check, EINVAL/E2BIG means it
 * predates the link type, EOPNOTSUPP means the type exists but was configured out.
 *
 * @module
 */
import { exit, mov64Imm } from '../asm/builder.js';
import { Register } from '../asm/register.js';
import { errnoName } from '../errors.js';
import { configuredOut, notSupported, Supported, unknown, type FeatureResult } from '../features/feature.js';
import { Program } from '../prog.js';
import { encodeAttr, type AttrValues } from '../sys/attr.js';
import { bpfRaw } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { kernelVersion } from '../sys/kernel-version.js';
import { LinkCreate } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import type { AttachType, ProgramType } from '../types.js';

type LinkCreateField = keyof typeof LinkCreate.fields;

/** What a link feature probe sends and how it reads the answer. */
export interface LinkCreateProbe {
  /** Name of the probe program (15 bytes at most). */
  readonly name: string;
  /** The probe program's type. */
  readonly programType: ProgramType;
  /** The link's attach type, also the program's expected attach type unless `loadAttachType` says otherwise. */
  readonly attachType: AttachType;
  /** The program's expected attach type, when it differs (perf links: none). */
  readonly loadAttachType?: AttachType;
  /** The UAPI name of the attach type, for messages (`BPF_TRACE_KPROBE_MULTI`). */
  readonly attachName: string;
  /** LINK_CREATE fields beyond prog_fd and attach_type (target_fd and flags default to 0). */
  readonly fields: AttrValues<Exclude<LinkCreateField, 'prog_fd' | 'attach_type'>>;
  /** errnos that prove the kernel knows the link type (it failed past the type check). */
  readonly proves: readonly number[];
  /** The first kernel with the link type. */
  readonly since: string;
  /** The config option whose absence makes the kernel answer EOPNOTSUPP, if any. */
  readonly config?: string;
  /**
   * errnos that prove the kernel predates the feature, besides EINVAL and E2BIG (a flag an
   * older kernel refuses with EOPNOTSUPP, as netfilter links did before 6.6).
   */
  readonly refuses?: readonly number[];
}

/** Runs `probe` against the running kernel. */
export function linkCreateProbe(probe: LinkCreateProbe): FeatureResult {
  let prog: Program;
  try {
    prog = Program.load({
      name: probe.name,
      type: probe.programType,
      attachType: probe.loadAttachType ?? probe.attachType,
      license: 'GPL',
      instructions: [mov64Imm(Register.R0, 0), exit()],
    });
  } catch (err) {
    return unknown(`cannot load a probe program: ${(err as Error).message}`);
  }
  try {
    const { attr, pointers } = encodeAttr(LinkCreate, { target_fd: 0, flags: 0, ...probe.fields, prog_fd: prog.fd, attach_type: probe.attachType });
    const r = bpfRaw(LinkCreate, attr, pointers);
    if (r >= 0) {
      backend().close(r);
      return Supported;
    }
    const errno = -r;
    if (probe.proves.includes(errno)) return Supported;
    if (errno === Errno.EOPNOTSUPP && probe.config !== undefined) {
      // A kernel older than the link type and built without the option answers EOPNOTSUPP
      // too (e.g. sessions on 6.1 without CONFIG_FPROBE): the missing version comes first.
      if (!kernelVersion().atLeast(probe.since)) {
        return notSupported(`BPF_LINK_CREATE rejects ${probe.attachName} (EOPNOTSUPP): it came in Linux ${probe.since}, and this kernel also lacks ${probe.config}`, probe.since);
      }
      return configuredOut(`BPF_LINK_CREATE answers EOPNOTSUPP: the kernel was built without ${probe.config}`, probe.config);
    }
    // bpf_check_uarg_tail_zero() answers E2BIG for attr fields the kernel does not know;
    // link_create() answers EINVAL for an attach type it does not know for the program type.
    if (errno === Errno.EINVAL || errno === Errno.E2BIG || probe.refuses?.includes(errno) === true) return notSupported(`BPF_LINK_CREATE rejects ${probe.attachName} (${errnoName(errno)})`, probe.since);
    return unknown(`BPF_LINK_CREATE answered ${errnoName(errno)}`);
  } finally {
    prog.close();
  }
}
