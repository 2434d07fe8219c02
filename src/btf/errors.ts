/**
 * Errors specific to BTF: a missing kernel BTF, and type lookups that find nothing or too much.
 * Malformed input is reported with the library-wide {@link ParseError}.
 *
 * @module
 */
import { BpfError } from '../errors.js';

/**
 * No BTF describing the running kernel was found. Loading CO-RE programs needs it: the message
 * lists the places searched and the two ways out (a kernel built with
 * `CONFIG_DEBUG_INFO_BTF=y`, or a BTF file for this exact kernel passed as the `kernelBTF`
 * option of `loadCollection`, e.g. one from BTFHub).
 */
export class BTFNotFoundError extends BpfError {
  /** Every path that was tried, in order. */
  readonly searched: readonly string[];

  constructor(searched: readonly string[], cause?: unknown) {
    super(
      `no kernel BTF found (searched ${searched.join(', ')}). ` +
        'Use a kernel built with CONFIG_DEBUG_INFO_BTF=y (it provides /sys/kernel/btf/vmlinux), ' +
        'or pass the path of a BTF file for this kernel (raw BTF or an ELF file with a .BTF section, ' +
        'such as the BTFHub archives) as the `kernelBTF` option of loadCollection, or to loadKernelSpec(path)',
      { errno: 2, cause },
    );
    this.searched = searched;
  }
}

/** `typeByName` found no type with that name (and kind). */
export class TypeNotFoundError extends BpfError {
  /** The name that was looked up. */
  readonly typeName: string;
  /** The requested kind, if any (`"struct"`). */
  readonly kindName: string | undefined;

  constructor(name: string, kindName?: string, detail?: string) {
    super(`BTF type ${kindName === undefined ? '' : `${kindName} `}${name} not found${detail === undefined ? '' : `: ${detail}`}`);
    this.typeName = name;
    this.kindName = kindName;
  }
}

/** `typeByName` found more than one type with that name (and kind); `candidates` lists them. */
export class AmbiguousTypeError extends BpfError {
  /** The name that was looked up. */
  readonly typeName: string;
  /** The type IDs that matched. */
  readonly candidates: readonly number[];

  constructor(name: string, candidates: readonly number[], descriptions: readonly string[]) {
    super(
      `BTF type name ${name} is ambiguous: ${descriptions.map((d, i) => `[${candidates[i]}] ${d}`).join(', ')}; ` +
        'pass a kind to typeByName or use anyTypesByName',
    );
    this.typeName = name;
    this.candidates = candidates;
  }
}
