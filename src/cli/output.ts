/**
 * Where a command writes, and how machine output is encoded. Commands never touch
 * `process.stdout` directly: tests run them in-process and collect what they print.
 *
 * @module
 */
import { formatTable, type Column } from './table.js';

/** The streams and environment a command runs with. */
export interface CLIContext {
  /** Writes to standard output (text as given; no newline added). */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Environment variables (`EBPF_TS_DEBUG`). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * JSON with two-space indent and a final newline. BigInts (u64 counters, map_extra) become
 * decimal strings, byte arrays hex strings, so the output always parses and never loses
 * precision. Object keys keep the order the command built them in, which is fixed per
 * command: the stable contract for scripts.
 */
export function toJSON(value: unknown): string {
  return (
    JSON.stringify(
      value,
      (_key, v: unknown) => {
        if (typeof v === 'bigint') return v.toString();
        if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
        return v;
      },
      2,
    ) + '\n'
  );
}

/**
 * Prints a list command's records: as JSON with `-j`, else one table row per record
 * (`cells` gives the row, in the order of `columns`).
 */
export function printRecords<R>(ctx: CLIContext, json: boolean, records: readonly R[], columns: readonly Column[], cells: (r: R) => string[]): void {
  ctx.out(json ? toJSON(records) : formatTable(columns, records.map(cells)));
}
