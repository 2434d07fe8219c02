/**
 * The CLI's entry point as a function: picks the command from the first words of argv,
 * parses the rest, runs it, and turns every failure into an exit code and one line on
 * stderr. `main.ts` only wires it to the process, so tests can run commands in-process.
 *
 * Exit codes: 0 success, 1 the command failed (bad input file, kernel refused, …), 2 the
 * command line was wrong.
 *
 * @module
 */
import { parseArgs, UsageError } from './args.js';
import { commandHelp, groupHelp, type Command } from './command.js';
import { commands } from './commands.js';
import type { CLIContext } from './output.js';
import { formatTable } from './table.js';

export { commands };

/** The top-level `ebpf-ts --help`. */
export function globalHelp(): string {
  const rows = commands.map((c) => [c.words.join(' '), c.summary]);
  return (
    'Usage: ebpf-ts <command> [options] [arguments]\n\n' +
    'Inspect BPF objects and the BPF state of the running kernel.\n\nCommands:\n' +
    formatTable([{ title: '' }, { title: '' }], rows)
      .split('\n')
      .slice(1)
      .map((l) => (l === '' ? l : `  ${l}`))
      .join('\n') +
    "\nRun 'ebpf-ts <command> --help' for a command's options. Every command takes -j/--json.\n" +
    'Set EBPF_TS_DEBUG=1 to see stack traces of errors.\n'
  );
}

function findCommand(argv: readonly string[]): { command: Command; rest: readonly string[] } | undefined {
  let best: { command: Command; rest: readonly string[]; length: number } | undefined;
  for (const command of commands) {
    for (const words of [command.words, ...(command.aliases ?? [])]) {
      // The longest spelling wins, so that `prog dump xlated` is never read as `prog dump`.
      if (words.every((w, i) => argv[i] === w) && (best === undefined || words.length > best.length)) best = { command, rest: argv.slice(words.length), length: words.length };
    }
  }
  return best;
}

/** The command group `argv` starts with (`prog`, `prog dump`): the longest prefix some commands share. */
function findGroup(argv: readonly string[]): { prefix: readonly string[]; members: readonly Command[] } | undefined {
  for (let n = Math.min(argv.length, Math.max(...commands.map((c) => c.words.length)) - 1); n >= 1; n--) {
    const prefix = argv.slice(0, n);
    const members = commands.filter((c) => c.words.length > n && prefix.every((w, i) => c.words[i] === w));
    if (members.length > 0) return { prefix, members };
  }
  return undefined;
}

/**
 * The one line printed for an error: the first line of a typed error's message (a
 * `VerifierError`'s first line is its summary; the full log is for `EBPF_TS_DEBUG`), Node's
 * message for system errors.
 */
function errorLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0]!;
}

/**
 * Runs the CLI with `argv` (the words after `ebpf-ts`) and returns the exit code. Never
 * throws: errors are printed to `ctx.err`, with the stack only when `EBPF_TS_DEBUG` is set.
 */
export async function runCLI(argv: readonly string[], ctx: CLIContext): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    (argv.length === 0 ? ctx.err : ctx.out)(globalHelp());
    return argv.length === 0 ? 2 : 0;
  }
  const found = findCommand(argv);
  if (found === undefined) {
    const group = findGroup(argv);
    if (group !== undefined) {
      const next = argv[group.prefix.length];
      if (next === '--help' || next === '-h' || next === 'help') {
        ctx.out(groupHelp(group.prefix, group.members));
        return 0;
      }
      if (next === undefined) {
        ctx.err(groupHelp(group.prefix, group.members));
        return 2;
      }
    }
    const members = group?.members ?? [];
    const hint = members.length > 0 ? ` (try: ${members.map((c) => `ebpf-ts ${c.words.join(' ')}`).join(', ')})` : '';
    ctx.err(`ebpf-ts: unknown command ${JSON.stringify(argv.slice(0, (group?.prefix.length ?? 0) + 1).join(' '))}${hint}\nRun 'ebpf-ts --help' for the list of commands.\n`);
    return 2;
  }
  const { command, rest } = found;
  try {
    const args = parseArgs(rest, command.options, command.positionals);
    if (args.help) {
      ctx.out(commandHelp(command));
      return 0;
    }
    await command.run(args, ctx);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      ctx.err(`ebpf-ts ${command.words.join(' ')}: ${e.message}\nRun 'ebpf-ts ${command.words.join(' ')} --help' for usage.\n`);
      return 2;
    }
    const debug = ctx.env.EBPF_TS_DEBUG !== undefined && ctx.env.EBPF_TS_DEBUG !== '' && ctx.env.EBPF_TS_DEBUG !== '0';
    ctx.err(`ebpf-ts ${command.words.join(' ')}: ${errorLine(e)}\n`);
    if (debug && e instanceof Error && e.stack !== undefined) ctx.err(`${e.stack}\n`);
    return 1;
  }
}
