/**
 * The errors `loadCollection` adds on top of the kernel objects' own: messages for the
 * failures people actually hit when loading an object (global data on an old kernel, a map
 * type the kernel was built without, a CO-RE relocation that found nothing, a helper the
 * program type may not call, a pinned map that does not match), each naming the program or
 * map involved.
 *
 * @module
 */
import { corePoisonHelperId, corePoisonMessage, findPoison, type CORERelocateResult, type COREPoison } from './btf/core.js';
import { ArgumentError, NotSupportedError, VerifierError } from './errors.js';
import { kernelVersion } from './sys/kernel-version.js';

/**
 * A program uses global data (`.rodata`, `.data`, `.bss`: array maps addressed with
 * `BPF_PSEUDO_MAP_VALUE`), which kernels before 5.2 cannot load (commit d8eca5bbb2be "bpf:
 * implement lookup-free direct value access for maps"). Without this check the kernel answers
 * a bare EINVAL.
 */
export class GlobalDataNotSupportedError extends NotSupportedError {
  /** The program that refers to global data. */
  readonly program: string;
  /** The data section it uses first (`.rodata`, `.bss`, …). */
  readonly section: string;

  constructor(program: string, section: string) {
    super('global data', '5.2');
    this.program = program;
    this.section = section;
    this.message = `program ${program} uses global data (${section}); needs Linux 5.2 or later`;
  }
}

/**
 * The kernel lacks a map type the object declares: older than the type, or built without the
 * option that provides it (`config`, e.g. `CONFIG_XDP_SOCKETS` for XSKMAP).
 */
export class MapTypeNotSupportedError extends NotSupportedError {
  /** The map's name in the object. */
  readonly map: string;
  /** The map type's name (`XSKMAP`). */
  readonly mapType: string;
  /** The kernel option that provides the type, when known. */
  readonly config: string | undefined;

  /**
   * @param policy The probe's reason when a security policy (lockdown, an LSM) refuses the type
   * to this privileged process: then neither a version nor a config option would help.
   */
  constructor(map: string, mapType: string, minimumVersion: string | undefined, config: string | undefined, cause: unknown, policy?: string) {
    super(`map type ${mapType}`, minimumVersion, { cause });
    this.map = map;
    this.mapType = mapType;
    this.config = config;
    const tooOld = minimumVersion !== undefined && !kernelVersion().atLeast(minimumVersion);
    const why = tooOld ? `requires Linux ${minimumVersion} or later` : config === undefined ? undefined : `check ${config}`;
    this.message =
      policy === undefined
        ? `map ${map}: map type ${mapType} is not supported by this kernel${why === undefined ? '' : ` (${why})`}`
        : `map ${map}: map type ${mapType} is not available: ${policy}`;
  }
}

/**
 * A map pinned by name (`LIBBPF_PIN_BY_NAME`) already exists at the pin path but its
 * definition differs from the object's, so it cannot be reused. `differences` lists each
 * mismatch as `"<field>: pinned <a>, object <b>"`.
 */
export class PinnedMapIncompatibleError extends ArgumentError {
  /** The map's name. */
  readonly map: string;
  /** The pin's path. */
  readonly path: string;
  /** Each field that differs. */
  readonly differences: readonly string[];

  constructor(map: string, path: string, differences: readonly string[]) {
    super(`map ${map}: the map pinned at ${path} cannot be reused, its definition differs (${differences.join('; ')})`);
    this.map = map;
    this.path = path;
    this.differences = differences;
  }
}

/**
 * The verifier stopped at an instruction a CO-RE relocation poisoned: the relocation found no
 * matching field, type or enum value in the target BTF and the code using it was not dead.
 * The message is "CO-RE relocation failed: struct X has no field Y (program P, instruction N)";
 * `log` is the verifier's.
 */
export class CORERelocationFailedError extends VerifierError {
  /** The poisoned instruction and why it was poisoned. */
  readonly poison: COREPoison;

  constructor(cause: VerifierError, poison: COREPoison) {
    super(cause.program, cause.errno ?? 22, cause.log, cause.truncated, cause.explanation);
    this.poison = poison;
    this.message = corePoisonMessage(poison, cause.program);
  }
}

/** The instruction index of the last verifier log line that calls `helper`, e.g. `13: (85) call unknown#195896080`. */
function callSite(log: readonly string[], pattern: RegExp): number | undefined {
  for (let i = log.length - 1; i >= 0; i--) {
    const m = /^(\d+): \(85\) call /.exec(log[i]!);
    if (m !== null && pattern.test(log[i]!)) return Number(m[1]);
  }
  return undefined;
}

/**
 * Turns a program's {@link VerifierError} into the most telling error: a
 * {@link CORERelocationFailedError} when the verifier stopped at a poisoned instruction, else
 * the error as Program.load explained it.
 */
export function explainLoadFailure(err: VerifierError, core: CORERelocateResult | undefined): VerifierError {
  if (core !== undefined && core.poisoned.length > 0) {
    const at = callSite(err.log, new RegExp(`#${corePoisonHelperId}\\b|call ${corePoisonHelperId}\\b|unknown#${corePoisonHelperId}`));
    const poison = at === undefined ? undefined : findPoison(core, at);
    if (poison !== undefined) return new CORERelocationFailedError(err, poison);
  }
  return err;
}
