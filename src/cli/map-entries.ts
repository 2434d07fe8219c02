/**
 * A loaded map opened for its entries, with the key and value types of its BTF when it has
 * them, and one entry in the forms the element commands print: hex bytes always, and the
 * value decoded through BTF (`formatted`, as bpftool calls it) when the types allow.
 *
 * @module
 */
import { decodeValue, type DecodedValue } from '../btf/decode.js';
import type { Spec } from '../btf/spec.js';
import type { Type } from '../btf/types.js';
import { BpfMap, type MapInfo, type MapValue } from '../map.js';
import { mapTypeName } from '../types.js';
import { UsageError } from './args.js';
import { btfSpecById } from '../btf-by-id.js';
import { mapCandidates } from './map-show.js';
import { parseSelector, selectOne } from './selector.js';
import { hexWords } from './table.js';
import { hostByteOrder } from './xlated.js';

/** A map opened by a command. `close()` it when done. */
export interface OpenedMap {
  /** The map. */
  readonly map: BpfMap<MapValue>;
  /** Its info. */
  readonly info: MapInfo;
  /** The key's BTF type, when the map has BTF. */
  readonly keyType: Type | undefined;
  /** The value's BTF type, when the map has BTF. */
  readonly valueType: Type | undefined;
  /** The words after the map's selector. */
  readonly rest: string[];
  /** `map 5 (counts, HASH)`, for messages. */
  readonly label: string;
}

function btfType(spec: Spec | undefined, id: number): Type | undefined {
  if (spec === undefined || id === 0) return undefined;
  try {
    return spec.typeById(id);
  } catch {
    return undefined;
  }
}

/** Opens the map the first words name; the caller closes `map`. */
export function openMap(words: readonly string[]): OpenedMap {
  if (words.length === 0) throw new UsageError('missing map: give an id, "name NAME" or "pinned PATH"');
  const { selector, rest } = parseSelector(words, 'map');
  const map = BpfMap.fromId<MapValue>(selectOne(selector, 'map', mapCandidates));
  try {
    const info = map.info();
    let spec: Spec | undefined;
    try {
      spec = info.btfId === 0 ? undefined : btfSpecById(info.btfId);
    } catch {
      spec = undefined; // without its BTF the map is still readable as bytes
    }
    const label = `map ${info.id} (${info.name === '' ? '' : `${info.name}, `}${mapTypeName(info.type)})`;
    return { map, info, keyType: btfType(spec, info.btfKeyTypeId), valueType: btfType(spec, info.btfValueTypeId), rest, label };
  } catch (err) {
    map.close();
    throw err;
  }
}

/** One entry as the element commands print it with `-j`. */
export interface EntryRecord {
  /** The key's bytes (hex in JSON). */
  readonly key: Uint8Array;
  /** The value's bytes; one per possible CPU for per-CPU maps; null when it could not be read. */
  readonly value: Uint8Array | Uint8Array[] | null;
  /** Key and value decoded through the map's BTF, when it has types for them. */
  readonly formatted?: { readonly key: DecodedValue | null; readonly value: DecodedValue | (DecodedValue | null)[] | null };
  /** Why the value could not be read. */
  readonly error?: string;
}

function decoded(type: Type | undefined, bytes: Uint8Array): DecodedValue | null {
  if (type === undefined) return null;
  try {
    return decodeValue(type, bytes, { byteOrder: hostByteOrder, charArraysAsStrings: true });
  } catch {
    return null; // a type the decoder cannot read: the bytes are still printed
  }
}

/** The record of one entry of `m`; `value` undefined with `error` when the lookup failed. */
export function entryRecord(m: OpenedMap, key: Uint8Array, value: MapValue | undefined, error?: string): EntryRecord {
  const base = { key, value: value ?? null, ...(error === undefined ? {} : { error }) };
  if (m.keyType === undefined && m.valueType === undefined) return base;
  const formattedValue = value === undefined ? null : Array.isArray(value) ? value.map((v) => decoded(m.valueType, v)) : decoded(m.valueType, value);
  return { ...base, formatted: { key: decoded(m.keyType, key), value: formattedValue } };
}

/** A decoded value as one line of JSON, big integers exact (unquoted). */
export function decodedText(v: DecodedValue | null): string {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return `[${v.map(decodedText).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${decodedText(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

/**
 * The text form of an entry: `key: K  value: V` on one line, where K and V are decoded JSON
 * when the map has BTF for them, else hex bytes; per-CPU values one line per CPU.
 */
export function entryText(r: EntryRecord): string {
  const key = r.formatted?.key != null ? decodedText(r.formatted.key) : hexWords(r.key);
  if (r.value === null) return `key: ${key}  value: (${r.error ?? 'none'})\n`;
  const one = (bytes: Uint8Array, v: DecodedValue | null | undefined): string => (v != null ? decodedText(v) : hexWords(bytes));
  if (!Array.isArray(r.value)) return `key: ${key}  value: ${one(r.value, r.formatted?.value as DecodedValue | null | undefined)}\n`;
  const perCPU = r.formatted?.value as (DecodedValue | null)[] | undefined;
  return `key: ${key}\n${r.value.map((bytes, cpu) => `  cpu ${cpu}: ${one(bytes, perCPU?.[cpu])}\n`).join('')}`;
}
