// BTF sanitising as a pure transform: each missing feature's rewrite, stable type IDs, the
// input left alone, and the extra steps that keep the result valid for current kernels. The
// kernel test (test/kernel/btf.test.ts) loads every variant.
import { describe, expect, it } from 'vitest';
import { marshalSpec } from '../../src/btf/marshal.js';
import { Capability, overrideCapabilities } from '../../src/internal/privileges.js';
import { btfFeatureNames, btfFeaturesUsed, enum64PlaceholderName, sanitizeSpec, type BTFFeatureName } from '../../src/btf/sanitize.js';
import { parseSpec, Spec } from '../../src/btf/spec.js';
import {
  Const,
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
  Kind,
  Pointer,
  Struct,
  TypeTag,
  Typedef,
  Union,
  Var,
  type Type,
} from '../../src/btf/types.js';
import { allKindsSpec } from './helpers/btf-fixture.js';

function kinds(spec: Spec): Map<number, Type> {
  return new Map(spec.entries());
}

function idsOf(spec: Spec, cls: abstract new (...a: never[]) => Type): number[] {
  return [...spec.entries()].filter(([, t]) => t instanceof cls).map(([id]) => id);
}

describe('sanitizeSpec', () => {
  it('with nothing missing returns an equal copy (same bytes) and never edits its input', () => {
    const spec = allKindsSpec();
    const bytes = marshalSpec(spec);
    expect(marshalSpec(sanitizeSpec(spec, []))).toEqual(bytes);
    sanitizeSpec(spec, btfFeatureNames);
    expect(marshalSpec(spec)).toEqual(bytes);
  });

  it.each(btfFeatureNames.map((n) => [n]))('without %s: IDs of all input types are unchanged', (name) => {
    const spec = allKindsSpec();
    const out = sanitizeSpec(spec, [name as BTFFeatureName]);
    expect(out.typeCount).toBeGreaterThanOrEqual(spec.typeCount);
    expect(out.typeCount - spec.typeCount).toBeLessThanOrEqual(1);
    // Re-parsing the marshalled output gives the same count: nothing dangling was appended.
    expect(parseSpec(marshalSpec(out)).typeCount).toBe(out.typeCount);
  });

  it('datasec: VAR → 1-byte INT, DATASEC → STRUCT with members at the variables (name without dots)', () => {
    const spec = allKindsSpec();
    const varIds = idsOf(spec, Var);
    const secIds = idsOf(spec, Datasec);
    const out = sanitizeSpec(spec, ['datasec']);
    for (const id of varIds) {
      const t = out.typeById(id);
      expect(t).toBeInstanceOf(Int);
      expect([(t as Int).size, (t as Int).bits, t.name]).toEqual([1, 8, spec.typeById(id).name]);
    }
    const data = out.typeById(secIds[0]!) as Struct;
    expect(data).toBeInstanceOf(Struct);
    expect(data.name).toBe('_data');
    const original = spec.typeById(secIds[0]!) as Datasec;
    expect(data.size).toBe(original.size);
    expect(data.members.map((m) => [m.name, m.offset, out.typeId(m.type)])).toEqual(
      original.vars.map((v) => [v.type.name, v.offset * 8, spec.typeId(v.type)]),
    );
    expect(out.typeById(secIds[1]!).name).toBe('__data_opt');
  });

  it('func: FUNC_PROTO → ENUM of parameters (type IDs as values, names for the unnamed), FUNC → TYPEDEF', () => {
    const spec = allKindsSpec();
    const protoIds = idsOf(spec, FuncProto);
    const funcIds = idsOf(spec, Func);
    const out = sanitizeSpec(spec, ['func']);
    for (const id of protoIds) {
      const before = spec.typeById(id) as FuncProto;
      const e = out.typeById(id) as Enum;
      expect(e).toBeInstanceOf(Enum);
      expect(e.size).toBe(4);
      expect(e.values.map((v) => v.value)).toEqual([...before.params.map((p) => spec.typeId(p.type)), ...(before.variadic ? [0] : [])]);
      for (const v of e.values) expect(v.name).toMatch(/^[A-Za-z_]\w*$/);
    }
    for (const id of funcIds) {
      const td = out.typeById(id) as Typedef;
      expect(td).toBeInstanceOf(Typedef);
      expect(td.name).toBe(spec.typeById(id).name);
      expect(out.typeId(td.type)).toBe(spec.typeId((spec.typeById(id) as Func).type));
    }
    // Tags on the former FUNC's parameter cannot stay: the kernel only allows components of
    // structs, unions and funcs.
    const onParam = idsOf(spec, DeclTag).find((id) => spec.typeById(id).name === 'on_param')!;
    expect(out.typeById(onParam)).toBeInstanceOf(Int);
    const onFunc = idsOf(spec, DeclTag).find((id) => spec.typeById(id).name === 'on_func')!;
    expect(out.typeById(onFunc)).toBeInstanceOf(DeclTag);
  });

  it('globalFunc: global FUNCs become static, nothing else changes', () => {
    const spec = allKindsSpec();
    const out = sanitizeSpec(spec, ['globalFunc']);
    for (const id of idsOf(out, Func)) expect((out.typeById(id) as Func).linkage).toBe(FuncLinkage.Static);
    expect(marshalSpec(out).byteLength).toBe(marshalSpec(spec).byteLength);
  });

  it('float: FLOAT → anonymous STRUCT of the same size', () => {
    const spec = allKindsSpec();
    const out = sanitizeSpec(spec, ['float']);
    for (const id of idsOf(spec, Float)) {
      const s = out.typeById(id) as Struct;
      expect(s).toBeInstanceOf(Struct);
      expect([s.name, s.size, s.members.length]).toEqual(['', (spec.typeById(id) as Float).size, 0]);
    }
  });

  it('declTag: DECL_TAG → 1-byte INT named like the tag', () => {
    const spec = allKindsSpec();
    const out = sanitizeSpec(spec, ['declTag']);
    for (const id of idsOf(spec, DeclTag)) {
      expect(out.typeById(id).kind).toBe(Kind.Int);
      expect(out.typeById(id).name).toBe(spec.typeById(id).name);
    }
  });

  it('typeTag: TYPE_TAG → anonymous CONST of the same target; pointers to it still point at the ID', () => {
    const spec = allKindsSpec();
    const tagId = idsOf(spec, TypeTag)[0]!;
    const out = sanitizeSpec(spec, ['typeTag']);
    const c = out.typeById(tagId) as Const;
    expect(c).toBeInstanceOf(Const);
    expect(c.name).toBe('');
    expect(out.typeId(c.type)).toBe(spec.typeId((spec.typeById(tagId) as TypeTag).type));
    const ptr = [...out.entries()].find(([, t]) => t instanceof Pointer && t.type === c);
    expect(ptr).toBeDefined();
  });

  it('enum64: ENUM64 → UNION of 1-byte placeholder members, same size; signed ENUMs lose the flag too', () => {
    const spec = allKindsSpec();
    const id = idsOf(spec, Enum64)[0]!;
    const out = sanitizeSpec(spec, ['enum64']);
    const u = out.typeById(id) as Union;
    expect(u).toBeInstanceOf(Union);
    expect(u.size).toBe(8);
    expect(u.members.map((m) => m.name)).toEqual(['BIG_A', 'BIG_B']);
    expect(u.members.every((m) => m.offset === 0 && m.type.name === enum64PlaceholderName && (m.type as Int).size === 1)).toBe(true);
    expect(out.typeCount).toBe(spec.typeCount + 1);
    for (const eid of idsOf(out, Enum)) expect((out.typeById(eid) as Enum).signed).toBe(false);
  });

  it('signedEnum: the flag is cleared and values keep their bits', () => {
    const spec = allKindsSpec();
    const id = idsOf(spec, Enum).find((i) => (spec.typeById(i) as Enum).signed)!;
    const out = sanitizeSpec(spec, ['signedEnum']);
    const e = out.typeById(id) as Enum;
    expect(e.signed).toBe(false);
    expect(e.values).toEqual([
      { name: 'NEG', value: 0xffffffff },
      { name: 'POS', value: 7 },
    ]);
    expect((spec.typeById(id) as Enum).signed).toBe(true);
  });

  it('qmarkDatasec: a leading ? becomes _', () => {
    const out = sanitizeSpec(allKindsSpec(), ['qmarkDatasec']);
    const names = idsOf(out, Datasec).map((id) => out.typeById(id).name);
    expect(names).toEqual(['.data', '_.data.opt']);
  });

  it('everything missing: every kind newer than 4.18 is gone from the output', () => {
    const out = sanitizeSpec(allKindsSpec(), btfFeatureNames);
    const reparsed = parseSpec(marshalSpec(out));
    const seen = new Set([...reparsed].map((t) => t.kind));
    for (const k of [Kind.Func, Kind.FuncProto, Kind.Var, Kind.Datasec, Kind.Float, Kind.DeclTag, Kind.TypeTag, Kind.Enum64]) {
      expect(seen.has(k)).toBe(false);
    }
    expect([...reparsed].some((t) => t instanceof Enum && t.signed)).toBe(false);
  });

  it('asks only about the features a spec uses: sanitising for any other changes nothing', () => {
    expect([...btfFeaturesUsed(allKindsSpec())].sort()).toEqual([...btfFeatureNames].sort());
    const plain = new Spec();
    plain.add(new Int('int', 4, IntEncoding.Signed));
    expect(btfFeaturesUsed(plain).size).toBe(0);
    // A spec's unused features make no difference to its sanitised bytes.
    for (const name of btfFeatureNames) {
      const bytes = marshalSpec(sanitizeSpec(plain, [name]));
      expect(bytes).toEqual(marshalSpec(plain));
    }
  });

  it('every reference in the output resolves to a type of the output (nothing refers to replaced objects)', () => {
    for (const missing of [...btfFeatureNames.map((n) => [n]), btfFeatureNames] as BTFFeatureName[][]) {
      const out = sanitizeSpec(allKindsSpec(), missing);
      const count = out.typeCount;
      marshalSpec(out); // would append (and so grow) for a dangling reference
      expect(out.typeCount).toBe(count);
      for (const [id] of out.entries()) expect(kinds(out).get(id)).toBeDefined();
    }
  });
});

describe('BTF feature probes: what an answer means (no kernel needed)', () => {
  it('a loaded blob is supported; EINVAL is "not supported" with the first kernel; EPERM is unknown without privileges and a policy refusal with them, others unknown', async () => {
    const { interpretBTFProbe, btfFeatureSince } = await import('../../src/features/btf.js');
    expect(interpretBTFProbe('float', 5)).toEqual({ supported: true });
    expect(interpretBTFProbe('float', -22)).toMatchObject({ supported: false, minimumVersion: '5.13' });
    expect(interpretBTFProbe('enum64', -22)).toMatchObject({ supported: false, minimumVersion: btfFeatureSince.enum64 });
    overrideCapabilities(0n);
    expect(interpretBTFProbe('btf', -1).supported).toBe('unknown');
    overrideCapabilities(1n << BigInt(Capability.CAP_SYS_ADMIN));
    expect(interpretBTFProbe('btf', -1)).toMatchObject({ supported: false, refusedByPolicy: true });
    overrideCapabilities();
    expect(interpretBTFProbe('typeTag', -12).supported).toBe('unknown');
  });

  it('each probe blob parses and uses exactly the feature it probes', async () => {
    const { btfProbeBlob } = await import('../../src/features/btf.js');
    const kindsOf = (b: Uint8Array): Set<number> => new Set([...parseSpec(b)].map((t) => t.kind));
    expect(kindsOf(btfProbeBlob('btf'))).toEqual(new Set([Kind.Int]));
    expect(kindsOf(btfProbeBlob('float')).has(Kind.Float)).toBe(true);
    expect(kindsOf(btfProbeBlob('declTag')).has(Kind.DeclTag)).toBe(true);
    expect(kindsOf(btfProbeBlob('typeTag')).has(Kind.TypeTag)).toBe(true);
    expect(kindsOf(btfProbeBlob('enum64')).has(Kind.Enum64)).toBe(true);
    expect(kindsOf(btfProbeBlob('datasec')).has(Kind.Datasec)).toBe(true);
    const globalFunc = [...parseSpec(btfProbeBlob('globalFunc'))].find((t) => t instanceof Func) as Func;
    expect(globalFunc.linkage).toBe(FuncLinkage.Global);
    const signed = [...parseSpec(btfProbeBlob('signedEnum'))].find((t) => t instanceof Enum) as Enum;
    expect(signed.signed).toBe(true);
    const qmark = [...parseSpec(btfProbeBlob('qmarkDatasec'))].find((t) => t instanceof Datasec)!;
    expect(qmark.name.startsWith('?')).toBe(true);
  });
});
