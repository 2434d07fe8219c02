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

/** The `--json` option every command has (`-j`, as bpftool spells it). */
export const jsonOption: OptionSpec = { name: 'json', short: 'j', type: 'boolean', description: 'print JSON (stable keys) instead of tables', default: false };

/** `<file>`, `[file]`, `<map>...`. */
function positionalLabel(p: PositionalSpec): string {
  const name = p.variadic === true ? `${p.name}...` : p.name;
  return p.required ? `<${name}>` : `[${name}]`;
}

/** `ebpf-ts btf dump [options] [file]`. */
export function usageLine(command: Command): string {
  return ['ebpf-ts', ...command.words, '[options]', ...command.positionals.map(positionalLabel)].join(' ');
}

/** The command-line form of an option in help: `-j, --json`, `--no-raw`, `--format FMT`. */
function optionLabel(o: OptionSpec): string {
  const long = o.type === 'boolean' ? (o.default === true ? `--no-${o.name}` : `--${o.name}`) : `--${o.name} ${o.valueName ?? 'VALUE'}`;
  return o.short === undefined ? long : `-${o.short}, ${long}`;
}

/** The full `--help` text of a command. */
export function commandHelp(command: Command): string {
  const lines = [`Usage: ${usageLine(command)}`, '', command.summary];
  if (command.details !== undefined) lines.push('', command.details);
  if (command.positionals.length > 0) {
    lines.push('', 'Arguments:');
    const width = Math.max(...command.positionals.map((p) => positionalLabel(p).length));
    for (const p of command.positionals) lines.push(`  ${positionalLabel(p).padEnd(width)}  ${p.description}${p.required ? '' : ' (optional)'}`);
  }
  const opts = [
    ...command.options.map((o) => {
      const extra = o.choices !== undefined ? ` (${o.choices.join('|')}${o.default === undefined ? '' : `, default ${String(o.default)}`})` : '';
      return [optionLabel(o), `${o.description}${extra}`] as const;
    }),
    ['-h, --help', 'show this help'] as const,
  ];
  const width = Math.max(...opts.map(([f]) => f.length));
  lines.push('', 'Options:');
  for (const [f, d] of opts) lines.push(`  ${f.padEnd(width)}  ${d}`);
  if (command.aliases !== undefined && command.aliases.length > 0) {
    lines.push('', `Also spelled: ${command.aliases.map((a) => `ebpf-ts ${a.join(' ')}`).join(', ')}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * The help of a command group (`ebpf-ts prog --help`): its sub-commands with their summaries.
 * `prefix` is the group's words, `members` the commands under it.
 */
export function groupHelp(prefix: readonly string[], members: readonly Command[]): string {
  const group = prefix.join(' ');
  const width = Math.max(...members.map((c) => c.words.slice(prefix.length).join(' ').length));
  const lines = [`Usage: ebpf-ts ${group} <command> [options] [arguments]`, '', 'Commands:'];
  for (const c of members) lines.push(`  ${c.words.slice(prefix.length).join(' ').padEnd(width)}  ${c.summary}`);
  lines.push('', `Run 'ebpf-ts ${group} <command> --help' for a command's options.`);
  return lines.join('\n') + '\n';
}
