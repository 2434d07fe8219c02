/**
 * The shape of a CLI command and the `--help` text generated from it, so that usage lines,
 * option lists and the argument parser can never disagree.
 *
 * @module
 */
import type { OptionSpec, ParsedArgs, PositionalSpec } from './args.js';
import type { CLIContext } from './output.js';

/** One command (`inspect`) or sub-command (`btf dump`). */
export interface Command {
  /** The words that select it (`["btf", "dump"]`). */
  readonly words: readonly string[];
  /** Other spellings (`[["prog", "show"]]`, as bpftool accepts). */
  readonly aliases?: readonly (readonly string[])[];
  /** One line for the command list. */
  readonly summary: string;
  /** Paragraphs after the usage line in `--help`. */
  readonly details?: string;
  /** Options besides `--help`. */
  readonly options: readonly OptionSpec[];
  /** Positional arguments. */
  readonly positionals: readonly PositionalSpec[];
  /** Does the work; throws typed errors for bad input, `UsageError` for a wrong command line. */
  run(args: ParsedArgs, ctx: CLIContext): Promise<void> | void;
}

/** The `--json` option every command has. */
export const jsonOption: OptionSpec = { name: 'json', type: 'boolean', description: 'print JSON (stable keys) instead of tables', default: false };

/** `ebpf-ts btf dump [options] [file]`. */
export function usageLine(command: Command): string {
  const args = command.positionals.map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`));
  return ['ebpf-ts', ...command.words, '[options]', ...args].join(' ');
}

/** The full `--help` text of a command. */
export function commandHelp(command: Command): string {
  const lines = [`Usage: ${usageLine(command)}`, '', command.summary];
  if (command.details !== undefined) lines.push('', command.details);
  if (command.positionals.length > 0) {
    lines.push('', 'Arguments:');
    const width = Math.max(...command.positionals.map((p) => p.name.length + 2));
    for (const p of command.positionals) lines.push(`  ${`<${p.name}>`.padEnd(width)}  ${p.description}${p.required ? '' : ' (optional)'}`);
  }
  const opts = [
    ...command.options.map((o) => {
      const flag = o.type === 'boolean' ? (o.default === true ? `--no-${o.name}` : `--${o.name}`) : `--${o.name} ${o.valueName ?? 'VALUE'}`;
      const extra = o.choices !== undefined ? ` (${o.choices.join('|')}${o.default === undefined ? '' : `, default ${String(o.default)}`})` : '';
      return [flag, `${o.description}${extra}`] as const;
    }),
    ['-h, --help', 'show this help'] as const,
  ];
  const width = Math.max(...opts.map(([f]) => f.length));
  lines.push('', 'Options:');
  for (const [f, d] of opts) lines.push(`  ${f.padEnd(width)}  ${d}`);
  return lines.join('\n') + '\n';
}
