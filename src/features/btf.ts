/**
 * BTF feature probes: which BTF kinds and flags the running kernel accepts, asked by loading
 * a tiny blob that uses the kind (BPF_BTF_LOAD), never guessed from the version. The answers
 * drive `btf.sanitizeSpec`: see {@link missingBTFFeatures}.
 *
 * How the kernel answers: BPF_BTF_LOAD itself is 4.18 (an older kernel answers EINVAL for the
 * unknown command, `__sys_bpf()` default case). A kernel that has the command but not the kind
 * fails btf_check_meta() with EINVAL ("Invalid kind" / "Invalid btf_info kind_flag" / "Invalid
 * func linkage" in its log). EPERM without CAP_SYS_ADMIN says only that we lack privileges:
 * unknown, not cached; with it, a security policy refused the load (see `permissionDenied`).
 *
 * @module
 */
import { Spec } from '../btf/spec.js';
import { marshalSpec } from '../btf/marshal.js';
import { btfFeatureNames, btfFeaturesUsed, type BTFFeatureName } from '../btf/sanitize.js';
import {
  Datasec,
  DeclTag,
  Enum,
  Enum64,
  Float,
  Func,
  FuncLinkage,
  FuncProto,
  Int,
  IntEncoding,
  Pointer,
  TypeTag,
  Var,
  VarLinkage,
  VarSecinfo,
  type Type,
} from '../btf/types.js';
import { errnoName } from '../errors.js';
import { encodeAttr, hostLittleEndian } from '../sys/attr.js';
import { bpfRaw } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { BtfLoad } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { Feature, notSupported, permissionDenied, Supported, unknown, type FeatureResult } from './feature.js';

/** The first mainline kernel with each BTF feature (for messages; probes decide). */
export const btfFeatureSince: Readonly<Record<BTFFeatureName | 'btf', string | undefined>> = {
  btf: '4.18', // commit 69b693f0aefa "bpf: btf: Introduce BPF Type Format (BTF)"
  func: '5.0', // commit 2667a2626f4d "bpf: btf: Add BTF_KIND_FUNC and BTF_KIND_FUNC_PROTO"
  datasec: '5.2', // commit 1dc92851849c "bpf: kernel side support for BTF Var and DataSec"
  globalFunc: '5.6', // commit 51c39bb1d5d1 "bpf: Introduce function-by-function verification"
  float: '5.13', // commit b1828f0b04 "bpf: Add BTF_KIND_FLOAT support"
  declTag: '5.16', // commit b5ea834dde6b "bpf: Support for new btf kind BTF_KIND_TAG"
  typeTag: '5.17', // commit 8c42d2fa4eea "bpf: Support BTF_KIND_TYPE_TAG for btf_type_tag attributes"
  enum64: '6.0', // commit 6089fb325cf7 "bpf: Add btf enum64 support"
  signedEnum: '6.0', // same series: kind_flag of BTF_KIND_ENUM marks signed values
  // Accepted once btf_name_valid_section() allowed a leading '?' (2024, for libbpf 1.4's
  // optional sections); we do not pin a release.
  qmarkDatasec: undefined,
};

/** Builds a spec from types (added in order, so the first gets ID 1) in host byte order. */
function blob(...types: Type[]): Uint8Array {
  const spec = new Spec({ byteOrder: hostLittleEndian ? 'little' : 'big' });
  for (const t of types) spec.add(t);
  return marshalSpec(spec);
}

const int = (): Int => new Int('int', 4, IntEncoding.Signed);

/** The probe blob for each feature: the smallest BTF that uses it. Exported for tests. */
export function btfProbeBlob(feature: BTFFeatureName | 'btf'): Uint8Array {
  switch (feature) {
    case 'btf':
      return blob(int());
    case 'func':
    case 'globalFunc': {
      const i = int();
      const proto = new FuncProto(i, [{ name: 'a', type: i }]);
      return blob(i, proto, new Func('f', proto, feature === 'func' ? FuncLinkage.Static : FuncLinkage.Global));
    }
    case 'datasec':
    case 'qmarkDatasec': {
      const i = int();
      const v = new Var('x', i, VarLinkage.Static);
      return blob(i, v, new Datasec(feature === 'datasec' ? '.data' : '?.data', 4, [new VarSecinfo(v, 0, 4)]));
    }
    case 'float':
      return blob(new Float('float', 4));
    case 'declTag': {
      const i = int();
      const v = new Var('x', i, VarLinkage.Static);
      return blob(i, v, new DeclTag('tag', v, -1));
    }
    case 'typeTag': {
      const i = int();
      const tag = new TypeTag('tag', i);
      return blob(i, tag, new Pointer(tag));
    }
    case 'enum64':
      return blob(new Enum64('e', 8, [{ name: 'v', value: 1n << 40n }]));
    case 'signedEnum':
      return blob(new Enum('e', 4, [{ name: 'v', value: -1 }], true));
  }
}

/** Loads `bytes` with BPF_BTF_LOAD, no log; returns the fd or `-errno`. */
function rawLoad(bytes: Uint8Array): number {
  const { attr, pointers } = encodeAttr(BtfLoad, { btf: bytes, btf_size: bytes.byteLength });
  return bpfRaw(BtfLoad, attr, pointers);
}

/** Interprets the answer to a probe load. Exported for unit tests of the errno reasoning. */
export function interpretBTFProbe(feature: BTFFeatureName | 'btf', result: number): FeatureResult {
  if (result >= 0) return Supported;
  const errno = -result;
  if (errno === Errno.EPERM) return permissionDenied('BPF_BTF_LOAD');
  if (errno === Errno.EACCES) return unknown('BPF_BTF_LOAD answered EACCES: no privileges to probe');
  if (errno === Errno.EINVAL) {
    return notSupported(`BPF_BTF_LOAD rejected the ${feature} probe blob (EINVAL)`, btfFeatureSince[feature]);
  }
  // ENOMEM, EFAULT, …: nothing learnt about the feature.
  return unknown(`BPF_BTF_LOAD answered ${errnoName(errno)}`);
}

function probe(feature: BTFFeatureName | 'btf'): FeatureResult {
  if (feature !== 'btf') {
    // Without BPF_BTF_LOAD every kind probe would fail the same way; say why.
    const base = btfFeature.check();
    if (base.supported !== true) return base;
  }
  const fd = rawLoad(btfProbeBlob(feature));
  if (fd >= 0) backend().close(fd);
  return interpretBTFProbe(feature, fd);
}

/** BPF_BTF_LOAD itself (Linux 4.18). */
export const btfFeature = new Feature('BTF (BPF_BTF_LOAD)', btfFeatureSince.btf, () => probe('btf'), { perBoot: 'kernel', versionSuffices: true });

const labels: Record<BTFFeatureName, string> = {
  func: 'BTF kinds FUNC and FUNC_PROTO',
  datasec: 'BTF kinds VAR and DATASEC',
  globalFunc: 'BTF global FUNC linkage',
  float: 'BTF kind FLOAT',
  declTag: 'BTF kind DECL_TAG',
  typeTag: 'BTF kind TYPE_TAG',
  enum64: 'BTF kind ENUM64',
  signedEnum: 'BTF signed ENUM (kind_flag)',
  qmarkDatasec: "BTF DATASEC names starting with '?'",
};

/** One {@link Feature} per BTF kind or flag that sanitising can hide. */
export const btfKindFeatures: Readonly<Record<BTFFeatureName, Feature>> = Object.fromEntries(
  btfFeatureNames.map((name) => [name, new Feature(labels[name], btfFeatureSince[name], () => probe(name), { perBoot: 'kernel', versionSuffices: true })]),
) as Record<BTFFeatureName, Feature>;

/**
 * The BTF features the running kernel lacks, by probing (answers are cached per process).
 * An inconclusive probe (no privileges) counts as present: the load that follows will fail
 * with the real reason rather than with a blob sanitised for nothing. With `spec`, only the
 * features sanitising it could hinge on are asked about: the kinds and flags its own types use.
 */
export function missingBTFFeatures(spec?: Spec): Set<BTFFeatureName> {
  const missing = new Set<BTFFeatureName>();
  const asked = spec === undefined ? btfFeatureNames : btfFeaturesUsed(spec);
  for (const name of asked) if (btfKindFeatures[name].check().supported === false) missing.add(name);
  return missing;
}
