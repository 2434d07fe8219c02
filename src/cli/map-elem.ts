/**
 * `ebpf-ts map lookup|update|delete MAP key K… [value V…]`: one entry of a loaded map, the
 * key and value given as bytes or, with BTF, as JSON (see map-input.ts), like bpftool's
 * commands of the same names. Program arrays and maps of maps take the inner object as
 * `value id N` / `value name N` / `value pinned PATH`. Needs CAP_SYS_ADMIN.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import { UpdateFlags, BpfMap, type MapValue } from '../map.js';
import { Program } from '../prog.js';
import { possibleCPUs } from '../sys/cpus.js';
import { dataView, hostLittleEndian } from '../internal/bytes.js';
import { MapType } from '../types.js';
import { UsageError, type ParsedArgs } from './args.js';
import { entryRecord, entryText, openMap, type OpenedMap } from './map-entries.js';
import { elementBytes, splitElementWords } from './map-input.js';
import { mapCandidates } from './map-show.js';
import { toJSON, type CLIContext } from './output.js';
import { programCandidates } from './prog-show.js';
import { parseSelector, selectOne, type SelectableKind } from './selector.js';
import { hexWords } from './table.js';

/** Opens the map and reads `key …`; `value` is only allowed when `withValue`. */
function element(words: readonly string[], withValue: boolean): { m: OpenedMap; key: Uint8Array; value: string[] | undefined; flag: ReturnType<typeof splitElementWords>['flag'] } {
  const m = openMap(words);
  try {
    const split = splitElementWords(m.rest);
    if (!withValue && split.value !== undefined) throw new UsageError('this command takes no value');
    if (withValue && split.value === undefined) throw new UsageError('missing "value" and the value');
    return { m, key: elementBytes(split.key, m.info.keySize, m.keyType, 'key'), value: split.value, flag: split.flag };
  } catch (err) {
    m.map.close();
    throw err;
  }
}

/** Runs `ebpf-ts map lookup` (its help text and options are in commands.ts). */
export function runMapLookup(args: ParsedArgs, ctx: CLIContext): void {
  const { m, key } = element(args.rest, false);
  try {
    const value = m.map.lookup(key);
    if (value === undefined) throw new ArgumentError(`key ${hexWords(key)} is not in ${m.label}`);
    const r = entryRecord(m, key, value);
    ctx.out(args.options.json === true ? toJSON(r) : entryText(r));
  } finally {
    m.map.close();
  }
}

// Maps whose values are other objects: user space writes an fd, the kernel stores the object.
const objectValues: Partial<Record<MapType, SelectableKind>> = {
  [MapType.ProgArray]: 'prog',
  [MapType.ArrayOfMaps]: 'map',
  [MapType.HashOfMaps]: 'map',
};

/** `n` as a host-order u32 value. */
function u32Bytes(n: number): Uint8Array {
  const bytes = new Uint8Array(4);
  dataView(bytes).setUint32(0, n, hostLittleEndian);
  return bytes;
}

/** Runs `update` with the value's bytes; an object value is opened for the call and closed after. */
function withValue(m: OpenedMap, words: readonly string[], update: (value: MapValue) => void): Uint8Array {
  const kind = objectValues[m.info.type as MapType];
  if (kind === undefined) {
    const bytes = elementBytes(words, m.info.valueSize, m.valueType, 'value');
    // A per-CPU map gets the same value on every CPU.
    update(m.map.perCPU ? Array.from({ length: possibleCPUs() }, () => bytes) : bytes);
    return bytes;
  }
  const { selector, rest } = parseSelector(words, kind);
  if (rest.length > 0) throw new UsageError(`unexpected words after the value: ${rest.join(' ')}`);
  const id = selectOne(selector, kind, kind === 'prog' ? programCandidates : mapCandidates);
  const object = kind === 'prog' ? Program.fromId(id) : BpfMap.fromId(id);
  try {
    update(u32Bytes(object.fd));
  } finally {
    object.close();
  }
  // What the kernel keeps, and lookups return, is the object's id.
  return u32Bytes(id);
}

const updateFlags = { any: UpdateFlags.Any, exist: UpdateFlags.Exist, noexist: UpdateFlags.NoExist } as const;

/** Runs `ebpf-ts map update` (its help text and options are in commands.ts). */
export function runMapUpdate(args: ParsedArgs, ctx: CLIContext): void {
  const { m, key, value, flag } = element(args.rest, true);
  try {
    const stored = withValue(m, value!, (v) => m.map.update(key, v, updateFlags[flag ?? 'any']));
    ctx.out(args.options.json === true ? toJSON({ map: m.info.id, key, value: stored, updated: true }) : `updated key ${hexWords(key)} of ${m.label}\n`);
  } finally {
    m.map.close();
  }
}

/** Runs `ebpf-ts map delete` (its help text and options are in commands.ts). */
export function runMapDelete(args: ParsedArgs, ctx: CLIContext): void {
  const { m, key } = element(args.rest, false);
  try {
    if (!m.map.delete(key)) throw new ArgumentError(`key ${hexWords(key)} is not in ${m.label}`);
    ctx.out(args.options.json === true ? toJSON({ map: m.info.id, key, deleted: true }) : `deleted key ${hexWords(key)} of ${m.label}\n`);
  } finally {
    m.map.close();
  }
}
