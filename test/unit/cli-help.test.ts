// The CLI's help texts and shared grammar, in-process and without a kernel: every command and
// command group answers --help with its own text and exit 0, every command has JSON output
// under -j and --json alike, and the help of a flag says what the flag does (the --no-raw and
// --no-source of disasm once described the opposite).
import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { commands, runCLI } from '../../src/cli/run.js';

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCLI(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t), env: {} });
  return { code, stdout, stderr };
}

describe('--help', () => {
  it.each(commands.map((c) => c.words.join(' ')))('ebpf-ts %s --help prints its own help and exits 0', async (words) => {
    const command = commands.find((c) => c.words.join(' ') === words)!;
    for (const spelling of [command.words, ...(command.aliases ?? [])]) {
      for (const flag of ['--help', '-h']) {
        const r = await cli([...spelling, flag]);
        expect(r.code, `${spelling.join(' ')} ${flag}`).toBe(0);
        expect(r.stderr).toBe('');
        // The canonical name heads the help, whichever spelling asked.
        expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: ebpf-ts ${command.words.join(' ')} \\[options\\]`));
        expect(r.stdout).toContain(command.summary);
        expect(r.stdout).toMatch(/^ {2}-j, --json {2,}print JSON/m);
      }
    }
  });

  it('every command has JSON output', () => {
    for (const c of commands) expect(c.options.some((o) => o.name === 'json' && o.short === 'j'), c.words.join(' ')).toBe(true);
  });

  it('every command group lists its commands on --help (exit 0) and without a command (stderr, exit 2)', async () => {
    const groups = [...new Set(commands.filter((c) => c.words.length > 1).map((c) => c.words[0]!))];
    expect(groups.length).toBeGreaterThan(1);
    for (const g of groups) {
      const help = await cli([g, '--help']);
      expect(help.code, g).toBe(0);
      if (commands.some((c) => c.words.length === 1 && c.words[0] === g)) {
        // `link` is a command (the linker) as well as a group (`link list`): its help is the
        // command's, and names the group's commands.
        expect(help.stdout).toMatch(new RegExp(`^Usage: ebpf-ts ${g} \\[options\\]`));
        for (const c of commands.filter((x) => x.words[0] === g && x.words.length > 1)) expect(help.stdout).toContain(c.words.join(' '));
        continue;
      }
      expect(help.stdout).toMatch(new RegExp(`^Usage: ebpf-ts ${g} <command>`));
      for (const c of commands.filter((x) => x.words[0] === g)) expect(help.stdout).toContain(c.words.slice(1).join(' '));
      const bare = await cli([g]);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toBe(help.stdout);
    }
  });

  it('the top-level help names every command and -j', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of commands) expect(r.stdout).toContain(c.words.join(' '));
    expect(r.stdout).toContain('-j/--json');
  });

  it('a boolean that defaults to true is listed as --no-NAME with what that form does', async () => {
    for (const c of commands) {
      for (const o of c.options.filter((x) => x.type === 'boolean' && x.default === true)) {
        const help = (await cli([...c.words, '--help'])).stdout;
        const line = help.split('\n').find((l) => l.trim().startsWith(`--no-${o.name} `));
        expect(line, `${c.words.join(' ')} --no-${o.name}`).toBeDefined();
        // Says what is left out or turned off: the negated form's effect.
        expect(line).toMatch(/leave out|do not|skip|without/);
      }
    }
  });
});

describe('disasm --no-raw and --no-source do what their help says', () => {
  const path = 'testdata/elf_patterns.bpfel.o';
  it('--no-raw leaves out the bytes, --no-source the C lines', async () => {
    const full = (await cli(['disasm', path, 'classify'])).stdout;
    expect(full).toMatch(/^\s+0:\t18 12 00 00/m);
    expect(full).toMatch(/^; /m);
    const noRaw = (await cli(['disasm', '--no-raw', path, 'classify'])).stdout;
    expect(noRaw).not.toMatch(/\t[0-9a-f]{2} [0-9a-f]{2} /);
    expect(noRaw).toMatch(/^; /m);
    const noSource = (await cli(['disasm', '--no-source', path, 'classify'])).stdout;
    expect(noSource).not.toMatch(/^; /m);
    expect(noSource).toMatch(/^\s+0:\t18 12 00 00/m);
    const help = (await cli(['disasm', '--help'])).stdout;
    expect(help).toMatch(/--no-raw +leave out the raw bytes/);
    expect(help).toMatch(/--no-source +leave out the C source lines/);
  });
});

describe('-j is --json', () => {
  it.each([
    ['inspect', 'testdata/minimal.bpfel.o'],
    ['disasm', 'testdata/minimal.bpfel.o'],
    ['btf', 'dump', 'testdata/minimal.bpfel.o'],
  ])('%s %s', async (...args) => {
    const long = await cli([...args, '--json']);
    const short = await cli([...args, '-j']);
    expect(long.code, long.stderr).toBe(0);
    expect(short.stdout).toBe(long.stdout);
    expect(() => JSON.parse(short.stdout)).not.toThrow();
  });
});

describe('argument grammar', () => {
  const options = [
    { name: 'json', short: 'j', type: 'boolean', description: '', default: false },
    { name: 'out', short: 'o', type: 'string', description: '' },
  ] as const;

  it('reads one-letter aliases, with a value for string options', () => {
    expect(parseArgs(['-j', '-o', 'f.bin'], options, []).options).toEqual({ json: true, out: 'f.bin' });
    expect(() => parseArgs(['-x'], options, [])).toThrow(UsageError);
    expect(() => parseArgs(['-o'], options, [])).toThrow(/needs a value/);
  });

  it('collects a repeatable option into a list; a plain one keeps its last value', () => {
    const repeat = [
      { name: 'type', type: 'string', description: '', repeatable: true },
      { name: 'out', type: 'string', description: '' },
    ] as const;
    const a = parseArgs(['--type', 'struct a', '--out', 'x', '--type=events=struct b', '--out', 'y'], repeat, []);
    expect(a.options).toEqual({ type: ['struct a', 'events=struct b'], out: 'y' });
    expect(parseArgs([], repeat, []).options.type).toBeUndefined();
  });

  it('gives every further word to a variadic last positional, negative numbers included', () => {
    const positionals = [{ name: 'map', required: true, description: '', variadic: true }];
    const a = parseArgs(['id', '5', 'key', '0x01', '-j', '-1', '--', '-x'], options, positionals);
    expect(a.rest).toEqual(['id', '5', 'key', '0x01', '-1', '-x']);
    expect(a.positionals.map).toBe('id');
    expect(a.options.json).toBe(true);
    expect(() => parseArgs([], options, positionals)).toThrow(/missing argument <map>/);
    // Without a variadic positional, extra words stay an error.
    expect(() => parseArgs(['a', 'b'], options, [{ name: 'x', required: true, description: '' }])).toThrow(/unexpected argument "b"/);
  });

  it('shows a variadic positional as <name...> in the usage line', async () => {
    expect((await cli(['prog', 'show', '--help'])).stdout.split('\n')[0]).toBe('Usage: ebpf-ts prog show [options] [prog...]');
    expect((await cli(['prog', 'list', '--help'])).stdout).toContain('Also spelled: ebpf-ts prog list');
  });
});
