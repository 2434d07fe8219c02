/**
 * Plain-text tables for the human-readable output: a header row, columns padded to their
 * widest cell, two spaces between columns, no borders (so the output greps and diffs well,
 * like `bpftool` and `ps`). Numbers are right-aligned when a column says so.
 *
 * @module
 */

/** One column of a {@link formatTable} table. */
export interface Column {
  /** The header text. */
  readonly title: string;
  /** Right-align (numbers); default left. */
  readonly right?: boolean;
}

/**
 * Formats rows under a header. The last column is not padded, so long values (types,
 * descriptions) do not leave trailing spaces. Returns lines joined by `\n` with a final
 * newline; a table without rows prints the header and `(none)`.
 */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        if (i === columns.length - 1 && c.right !== true) return cell;
        return c.right === true ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd();
  const out = [line(columns.map((c) => c.title))];
  if (rows.length === 0) out.push('(none)');
  for (const r of rows) out.push(line(r));
  return out.join('\n') + '\n';
}

/** A titled block: `Title:` then the body indented by two spaces, then a blank line. */
export function formatSection(title: string, body: string): string {
  const indented = body
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => (l === '' ? '' : `  ${l}`))
    .join('\n');
  return `${title}:\n${indented}\n\n`;
}

/** `0x1a` style hex for flags; `0` stays `0`. */
export function hex(n: number | bigint): string {
  return n === 0 || n === 0n ? '0' : `0x${n.toString(16)}`;
}

/** Bytes as space-separated hex pairs: `01 00 00 00`. */
export function hexWords(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
