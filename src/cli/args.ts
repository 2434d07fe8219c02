/**
 * The command-line grammar every command shares: `--flag`, `--no-flag`, `--name value`,
 * `--name=value`, one-letter aliases (`-j`, `-h`), a last positional that may take several
 * words (`map update 5 key 0x01 … value …`), and `--` to end options. Written here rather than with
 * `node:util` `parseArgs` because Node 20's version has no `--no-…` negation, and the
 * CLI must run on Node 20.
 *
 * @module
 */

/** A wrong command line: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** One option a command accepts. */
export interface OptionSpec {
  /** The long name without dashes (`"json"`, `"format"`). */
  readonly name: string;
  /** `boolean` options take no value (and have a `--no-` form); `string` options take one. */
  readonly type: 'boolean' | 'string';
  /**
   * One-line description for `--help`. A boolean whose default is true is listed in its
   * `--no-NAME` form (the only form that changes anything), so describe what that form does.
   */
  readonly description: string;
  /** A one-letter alias used as `-x` (`"j"` for `--json`, as bpftool spells it). */
  readonly short?: string;
  /** The value when the option is absent. */
  readonly default?: boolean | string;
  /** The values a string option accepts; anything else is a usage error. */
  readonly choices?: readonly string[];
  /** Placeholder of the value in `--help` (`"FMT"`). */
  readonly valueName?: string;
  /** A string option that may be given several times: its value is the list, in order. */
  readonly repeatable?: boolean;
}

/** One positional argument. */
export interface PositionalSpec {
  /** Shown in usage and errors (`"file.o"`). */
  readonly name: string;
  /** Must be given. */
  readonly required: boolean;
  /** One-line description for `--help`. */
  readonly description: string;
  /** Takes this and every further word (only the last positional may); they are in {@link ParsedArgs.rest}. */
  readonly variadic?: boolean;
}

/** A parsed command line. */
export interface ParsedArgs {
  /** Option values by long name, defaults filled in; a repeatable option's is a list. */
  readonly options: Readonly<Record<string, boolean | string | readonly string[] | undefined>>;
  /** Positional arguments by name; absent optional ones are undefined. A variadic one holds its first word. */
  readonly positionals: Readonly<Record<string, string | undefined>>;
  /** Every word of the variadic positional, in order (empty without one). */
  readonly rest: readonly string[];
  /** `--help` or `-h` was given: nothing else was checked. */
  readonly help: boolean;
}

/**
 * Parses `argv` (the words after the command name) against a command's options and
 * positionals. Throws {@link UsageError} for unknown options, missing or extra arguments and
 * values outside `choices`. `--help` anywhere wins over every other check, so that a user
 * with a half-typed command line still gets help.
 */
export function parseArgs(argv: readonly string[], options: readonly OptionSpec[], positionals: readonly PositionalSpec[]): ParsedArgs {
  if (argv.some((a) => a === '--help' || a === '-h')) {
    const end = argv.indexOf('--');
    const at = argv.findIndex((a) => a === '--help' || a === '-h');
    if (end < 0 || at < end) return { options: {}, positionals: {}, rest: [], help: true };
  }
  const byName = new Map(options.map((o) => [o.name, o]));
  const byShort = new Map(options.flatMap((o) => (o.short === undefined ? [] : [[o.short, o] as const])));
  const values: Record<string, boolean | string | string[] | undefined> = {};
  for (const o of options) values[o.name] = o.default;
  const words: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    // A negative number is a word (a JSON value for `map update`), never an option.
    if (onlyPositionals || !arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      words.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    const alias = arg.startsWith('--') ? undefined : byShort.get(arg.slice(1));
    if (!arg.startsWith('--') && alias === undefined) throw new UsageError(`unknown option ${arg}`);
    const eq = alias === undefined ? arg.indexOf('=') : -1;
    const name = alias?.name ?? arg.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    let spec = alias ?? byName.get(name);
    if (spec === undefined && name.startsWith('no-')) {
      spec = byName.get(name.slice(3));
      if (spec?.type === 'boolean') {
        if (inline !== undefined) throw new UsageError(`option --${name} takes no value`);
        values[spec.name] = false;
        continue;
      }
      spec = undefined;
    }
    if (spec === undefined) throw new UsageError(`unknown option --${name}`);
    if (spec.type === 'boolean') {
      if (inline !== undefined) throw new UsageError(`option --${name} takes no value`);
      values[spec.name] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined) throw new UsageError(`option --${name} needs a value`);
      i++;
    }
    if (spec.choices !== undefined && !spec.choices.includes(value)) {
      throw new UsageError(`option --${name}: ${JSON.stringify(value)} is not one of ${spec.choices.join(', ')}`);
    }
    if (spec.repeatable === true) {
      const list = values[spec.name];
      values[spec.name] = Array.isArray(list) ? [...list, value] : [value];
    } else {
      values[spec.name] = value;
    }
  }
  const named: Record<string, string | undefined> = {};
  positionals.forEach((p, i) => {
    const word = words[i];
    if (word === undefined && p.required) throw new UsageError(`missing argument <${p.name}>`);
    named[p.name] = word;
  });
  const last = positionals[positionals.length - 1];
  const rest = last?.variadic === true ? words.slice(positionals.length - 1) : [];
  if (last?.variadic !== true && words.length > positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(words[positionals.length])}`);
  return { options: values, positionals: named, rest, help: false };
}
