/**
 * The CLI's command table: each command's words, summary, help text, options and
 * positionals — everything `--help`, the command lists and the argument parser need — and a
 * `run()` that imports the command's own module (`prog-show.ts`, …) on first use. Nothing here
 * imports the library: `ebpf-ts --help` loads this file and run.ts only, and each command loads
 * its module and the library parts it uses when it runs (in dist/, one chunk per `import()`).
 *
 * A new command: its options here, its `run…()` in a file of its own, an entry in `commands`.
 *
 * @module
 */
import type { OptionSpec } from './args.js';
import { jsonOption, type Command } from './command.js';

/** The `--netns NS` option of a listing that names interfaces. */
function netnsOption(description: string): OptionSpec {
  return { name: 'netns', type: 'string', valueName: 'NS', description };
}

/** `cgroup tree` and `cgroup show`: inherited programs too. */
const effectiveOption: OptionSpec = {
  name: 'effective',
  type: 'boolean',
  description: 'list the programs that run for each cgroup, those inherited from its ancestors included',
  default: false,
};

/** The help of `map lookup`, `map update` and `map delete`: how MAP, K and V are written, then `more`. */
const elementDetails = (more: string): string =>
  'MAP: an id ("5" or "id 5"), "name NAME" or "pinned PATH". K and V: one word per byte (0x01 or 1, as bpftool\n' +
  'takes them), "hex" and hex digits ("hex 01000000"), or for a map with BTF one JSON word (key 1,\n' +
  `value '{"x": 1}'); integers beyond 2^53 may be written in full. A negative number needs "--" before it.\n${more}`;

const elementPositionals = [{ name: 'map', required: true, variadic: true, description: 'the map, then "key" K…' }] as const;

/** `--out FILE` of the program dumps. */
const outOption: OptionSpec = { name: 'out', type: 'string', valueName: 'FILE', description: 'write the raw code to FILE instead of printing it' };

/** The program types whose helpers `feature probe` probes unless `--helpers` says otherwise. */
const defaultHelperTypes = ['KPROBE', 'TRACEPOINT', 'XDP', 'SCHED_CLS'];

/** `ebpf-ts inspect`: inspect.ts. */
const inspectCommand: Command = {
  words: ['inspect'],
  summary: 'Show what a BPF object contains: sections, programs, maps, variables, BTF, relocations.',
  details: 'Parses the object like loadCollectionSpec does; nothing is loaded into the kernel and no privileges are needed.',
  options: [jsonOption],
  positionals: [{ name: 'file.o', required: true, description: 'a clang-compiled BPF object (either byte order)' }],
  run: async (args, ctx) => (await import('./inspect.js')).runInspect(args, ctx),
};

/** `ebpf-ts disasm`: disasm.ts. */
const disasmCommand: Command = {
  words: ['disasm'],
  summary: 'Disassemble the programs of a BPF object, with C source lines from line_info.',
  details:
    'Each program is listed as it would be loaded: with its .text subprograms appended and calls fixed up.\nInstruction numbers are 8-byte slots from the start of the program (ld_imm64 takes two).',
  options: [
    { name: 'raw', type: 'boolean', default: true, description: 'leave out the raw bytes of each instruction' },
    { name: 'source', type: 'boolean', default: true, description: 'leave out the C source lines (printed by default when the object was compiled with -g)' },
    jsonOption,
  ],
  positionals: [
    { name: 'file.o', required: true, description: 'a clang-compiled BPF object' },
    { name: 'program', required: false, description: 'only this program (the C function name)' },
  ],
  run: async (args, ctx) => (await import('./disasm.js')).runDisasm(args, ctx),
};

/** `ebpf-ts btf dump`: btf-dump.ts. */
const btfDumpCommand: Command = {
  words: ['btf', 'dump'],
  summary: "Print BTF types as a C header or as bpftool's raw list (default: the running kernel's BTF).",
  details:
    'ebpf-ts btf dump --format c > vmlinux.h   writes the header CO-RE programs include.\n' +
    'Without a file, /sys/kernel/btf/vmlinux is read (or a vmlinux image libbpf would also search);\n' +
    '"id N" dumps the loaded BTF object N (see btf list; needs CAP_SYS_ADMIN).\n' +
    '--json prints the raw records as objects; it ignores --format.',
  options: [
    { name: 'format', type: 'string', default: 'raw', choices: ['raw', 'c'], valueName: 'FMT', description: 'output format' },
    jsonOption,
  ],
  positionals: [{ name: 'file', required: false, variadic: true, description: 'raw BTF, an ELF object with a .BTF section, or "id N"' }],
  run: async (args, ctx) => (await import('./btf-dump.js')).runBtfDump(args, ctx),
};

/** `ebpf-ts btf list`: btf-list.ts. */
const btfListCommand: Command = {
  words: ['btf', 'list'],
  aliases: [['btf', 'show']],
  summary: 'List the BTF objects in the kernel with the programs and maps using them (like bpftool btf show).',
  details:
    "KERNEL marks the kernel's own BTF (vmlinux, modules); the others were loaded with programs and maps.\n" +
    "'ebpf-ts btf dump' prints the types of vmlinux or of a file. Needs CAP_SYS_ADMIN.",
  options: [jsonOption],
  positionals: [],
  run: async (args, ctx) => (await import('./btf-list.js')).runBtfList(args, ctx),
};

/** `ebpf-ts prog show`: prog-show.ts. */
const progShowCommand: Command = {
  words: ['prog', 'show'],
  aliases: [['prog', 'list']],
  summary: 'List the BPF programs loaded in the kernel (like bpftool prog show). Needs CAP_SYS_ADMIN.',
  details:
    'PROG picks programs: an id ("5" or "id 5"), "name NAME", "tag TAG" or "pinned PATH" (or just a path).\n' +
    'PIDS are the processes holding the program open (found in /proc/*/fdinfo), PINNED its paths on bpffs.\n' +
    'MEMLOCK is what the kernel reports in the fdinfo of the program. LOADED AT is UTC.',
  options: [jsonOption],
  positionals: [{ name: 'prog', required: false, variadic: true, description: 'which programs (default: all)' }],
  run: async (args, ctx) => (await import('./prog-show.js')).runProgShow(args, ctx),
};

/** `ebpf-ts prog dump xlated`: prog-dump.ts. */
const progDumpXlatedCommand: Command = {
  words: ['prog', 'dump', 'xlated'],
  summary: 'Disassemble the instructions of a loaded program as the verifier left them, with names and source lines.',
  details:
    'PROG: an id ("5" or "id 5"), "name NAME", "tag TAG" or "pinned PATH".\n' +
    'Map loads show the map\'s id and name, calls the helper or kernel function they reach (from /proc/kallsyms)\n' +
    'or the BPF function they call, and the C source lines come from the program\'s BTF line_info when it was\n' +
    'loaded with it. Instruction numbers are 8-byte slots, as in the verifier log and bpftool.',
  options: [
    { name: 'raw', type: 'boolean', default: true, description: 'leave out the raw bytes of each instruction' },
    { name: 'source', type: 'boolean', default: true, description: 'leave out the C source lines' },
    outOption,
    jsonOption,
  ],
  positionals: [{ name: 'prog', required: true, variadic: true, description: 'which program' }],
  run: async (args, ctx) => (await import('./prog-dump.js')).runProgDumpXlated(args, ctx),
};

/** `ebpf-ts prog dump jited`: prog-dump.ts. */
const progDumpJitedCommand: Command = {
  words: ['prog', 'dump', 'jited'],
  summary: "Print a loaded program's JITed machine code under the C source lines it came from.",
  details:
    'PROG: an id ("5" or "id 5"), "name NAME", "tag TAG" or "pinned PATH".\n' +
    'ebpf-ts has no x86-64 or arm64 disassembler of its own: where GNU objdump is installed it disassembles\n' +
    'the code (call targets named from /proc/kallsyms); without it, or with --no-objdump, the code is printed\n' +
    'as hex bytes, at most 16 a row, a row ending where the next source line starts. --out FILE writes the\n' +
    'raw code for other tools, e.g. objdump -D -b binary -m i386:x86-64 FILE (arm64: -m aarch64).\n' +
    'The kernel hands out JITed code only to processes it shows kernel addresses to (kernel.kptr_restrict).',
  options: [
    { name: 'source', type: 'boolean', default: true, description: 'leave out the C source lines' },
    { name: 'objdump', type: 'boolean', default: true, description: 'do not disassemble with objdump: print hex bytes even where it is installed' },
    outOption,
    jsonOption,
  ],
  positionals: [{ name: 'prog', required: true, variadic: true, description: 'which program' }],
  run: async (args, ctx) => (await import('./prog-dump.js')).runProgDumpJited(args, ctx),
};

/** `ebpf-ts map show`: map-show.ts. */
const mapShowCommand: Command = {
  words: ['map', 'show'],
  aliases: [['map', 'list']],
  summary: 'List the BPF maps in the kernel (like bpftool map show). Needs CAP_SYS_ADMIN.',
  details:
    'MAP picks maps: an id ("5" or "id 5"), "name NAME" or "pinned PATH" (or just a path).\n' +
    'PIDS are the processes holding the map open (found in /proc/*/fdinfo), PINNED its paths on bpffs.\n' +
    'MEMLOCK is what the kernel reports in the fdinfo of the map; FLAGS says "frozen" after BPF_MAP_FREEZE.',
  options: [jsonOption],
  positionals: [{ name: 'map', required: false, variadic: true, description: 'which maps (default: all)' }],
  run: async (args, ctx) => (await import('./map-show.js')).runMapShow(args, ctx),
};

/** `ebpf-ts map dump`: map-dump.ts. */
const mapDumpCommand: Command = {
  words: ['map', 'dump'],
  summary: 'Print every entry of a loaded map, decoded through its BTF when it has types (like bpftool map dump).',
  details:
    'MAP: an id ("5" or "id 5"), "name NAME" or "pinned PATH" (or just a path).\n' +
    'With BTF, keys and values print as JSON (integers beyond 2^53 exact, char arrays as strings); without it,\n' +
    'as hex bytes. Per-CPU maps print one value per possible CPU. --json gives "key" and "value" as hex and,\n' +
    'with BTF, "formatted": {"key", "value"}. Entries are walked with BPF_MAP_GET_NEXT_KEY: a map changing\n' +
    'meanwhile can show an entry twice or miss one.',
  options: [jsonOption],
  positionals: [{ name: 'map', required: true, variadic: true, description: 'which map' }],
  run: async (args, ctx) => (await import('./map-dump.js')).runMapDump(args, ctx),
};

/** `ebpf-ts map lookup`: map-elem.ts. */
const mapLookupCommand: Command = {
  words: ['map', 'lookup'],
  summary: 'Print the value of one key of a loaded map (like bpftool map lookup).',
  details: elementDetails('The entry prints as `map dump` prints entries; a missing key is an error (exit 1).'),
  options: [jsonOption],
  positionals: elementPositionals,
  run: async (args, ctx) => (await import('./map-elem.js')).runMapLookup(args, ctx),
};

/** `ebpf-ts map update`: map-elem.ts. */
const mapUpdateCommand: Command = {
  words: ['map', 'update'],
  summary: 'Create or replace one entry of a loaded map (like bpftool map update).',
  details: elementDetails(
    'A last word "noexist" only creates, "exist" only replaces, "any" (the default) does either. Per-CPU maps\n' +
      'get the value on every CPU. Program arrays take "value id N" (or name, tag, pinned), maps of maps the same\n' +
      'for the inner map.',
  ),
  options: [jsonOption],
  positionals: elementPositionals,
  run: async (args, ctx) => (await import('./map-elem.js')).runMapUpdate(args, ctx),
};

/** `ebpf-ts map delete`: map-elem.ts. */
const mapDeleteCommand: Command = {
  words: ['map', 'delete'],
  summary: 'Delete one entry of a loaded map (like bpftool map delete).',
  details: elementDetails('A missing key is an error (exit 1).'),
  options: [jsonOption],
  positionals: elementPositionals,
  run: async (args, ctx) => (await import('./map-elem.js')).runMapDelete(args, ctx),
};

/** `ebpf-ts link list`: link-list.ts. */
const linkListCommand: Command = {
  words: ['link', 'list'],
  aliases: [['link', 'show']],
  summary: 'List the BPF links in the kernel (like bpftool link show). Needs CAP_SYS_ADMIN and Linux 5.8.',
  details:
    'ATTACHED says where: the tracepoint, function (tracing targets named from their BTF), probe, cgroup\n' +
    '(its directory), network interface and direction, network namespace (with processes in it), netfilter\n' +
    'hook, iterator or map. Interfaces are named in this network namespace (or --netns NS); an index whose\n' +
    'interface here does not run the program is another namespace\'s. PIDS are the processes holding the\n' +
    'link (/proc/*/fdinfo), PINNED its paths on bpffs. Attachments made without a link (perf event ioctl,\n' +
    'BPF_PROG_ATTACH, tc and XDP through netlink) are not links: ebpf-ts cgroup tree and ebpf-ts net show them.',
  options: [jsonOption, netnsOption('name interfaces as this network namespace has them (a name from ip netns add, or a path)')],
  positionals: [{ name: 'link', required: false, description: 'only the link with this id' }],
  run: async (args, ctx) => (await import('./link-list.js')).runLinkList(args, ctx),
};

/** `ebpf-ts cgroup tree`: cgroup-tree.ts. */
const cgroupTreeCommand: Command = {
  words: ['cgroup', 'tree'],
  summary: 'List the cgroups with BPF programs attached, from the cgroup v2 root or a given cgroup down (like bpftool cgroup tree).',
  details:
    'One row per program: the cgroup directory, program id, hook, attach flags (multi, override or none), name, and\n' +
    'the cgroup link holding it (- when it was attached with BPF_PROG_ATTACH). The root is found in\n' +
    '/proc/self/mountinfo (e.g. /sys/fs/cgroup/unified in a hybrid layout); a relative path is taken from it.\n' +
    'Needs CAP_SYS_ADMIN (BPF_PROG_QUERY needs CAP_NET_ADMIN).',
  options: [jsonOption, effectiveOption],
  positionals: [{ name: 'root', required: false, description: 'the cgroup to start from (default: the cgroup v2 root)' }],
  run: async (args, ctx) => (await import('./cgroup-tree.js')).runCgroupTree(args, ctx),
};

/** `ebpf-ts cgroup show`: cgroup-tree.ts. */
const cgroupShowCommand: Command = {
  words: ['cgroup', 'show'],
  aliases: [['cgroup', 'list']],
  summary: 'List the BPF programs attached to one cgroup (like bpftool cgroup show).',
  details: 'The columns of cgroup tree. A relative path is taken from the cgroup v2 root. Needs CAP_SYS_ADMIN.',
  options: [jsonOption, effectiveOption],
  positionals: [{ name: 'cgroup', required: true, description: 'the cgroup directory (absolute, or relative to the cgroup v2 root)' }],
  run: async (args, ctx) => (await import('./cgroup-tree.js')).runCgroupShow(args, ctx),
};

/** `ebpf-ts net`: net.ts. */
const netCommand: Command = {
  words: ['net'],
  aliases: [['net', 'show'], ['net', 'list']],
  summary: 'List the BPF programs on network interfaces: XDP, tc (cls_bpf), tcx, netkit, and the flow dissector, sk_lookup and netfilter hooks (like bpftool net show).',
  details:
    'One row per program: INTERFACE (- for the namespace-wide hooks), HOOK, WHERE (XDP mode generic/driver/offload,\n' +
    'ingress/egress (tc: with the filter priority and handle), primary/peer, the netfilter family, hook and\n' +
    'priority), the program and the link holding it\n' +
    '(- when attached without a link: netlink XDP, tc filters, BPF_PROG_ATTACH). Netfilter links are listed for every\n' +
    'namespace: the kernel does not say which one a netfilter link is in. --netns reads another network\n' +
    'namespace (a name from ip netns add, or a path such as /proc/PID/ns/net). Needs CAP_NET_ADMIN and\n' +
    'CAP_SYS_ADMIN (BPF_PROG_QUERY, program names).',
  options: [jsonOption, netnsOption("the network namespace to list (default: this process's)")],
  positionals: [{ name: 'interface', required: false, description: 'only this interface (name or index)' }],
  run: async (args, ctx) => (await import('./net.js')).runNet(args, ctx),
};

/** `ebpf-ts feature probe`: probe.ts. */
const probeCommand: Command = {
  words: ['feature', 'probe'],
  aliases: [['probe']],
  summary: "Report the BPF sysctls, JIT and kernel config, and which program types, map types, helpers and BTF kinds the kernel supports.",
  details:
    'The sysctls and config are read (config from /boot/config-$(uname -r) or /proc/config.gz); every other\n' +
    'answer comes from asking the kernel (loading a tiny program, creating a tiny map), so it needs CAP_BPF or\n' +
    'root; without privileges answers are "unknown". --json: kernelVersion, system (sysctls, jit,\n' +
    'kernelConfigSource, kernelConfig: values as the config has them, null when not set), programTypes, mapTypes,\n' +
    'helpers, btf.',
  options: [
    {
      name: 'helpers',
      type: 'string',
      valueName: 'TYPES',
      default: defaultHelperTypes.join(','),
      description: `program types whose helpers to probe, comma-separated, or "none" (default ${defaultHelperTypes.join(',')})`,
    },
    jsonOption,
  ],
  positionals: [],
  run: async (args, ctx) => (await import('./probe.js')).runProbe(args, ctx),
};

/** `ebpf-ts cleanup`: cleanup.ts. */
const cleanupCommand: Command = {
  words: ['cleanup'],
  summary: 'Remove tracefs kprobe/uprobe events left behind by ebpf-ts processes that are gone. Needs root.',
  details: 'Only events in ebpf_ts_<pid>_<n> groups whose process no longer exists are removed; other tools\' events and\nthose of running ebpf-ts processes are left alone.',
  options: [jsonOption],
  positionals: [],
  run: async (args, ctx) => (await import('./cleanup.js')).runCleanup(args, ctx),
};

/** `ebpf-ts gen`: gen.ts. */
const genCommand: Command = {
  words: ['gen'],
  summary: 'write typed TypeScript bindings (types, codecs, load<Name>()) for a BPF object',
  details:
    'Writes one module: an interface per struct, union and enum the maps, variables and --type reach\n' +
    '(integers up to 32 bits as number, 64-bit as bigint, char[N] as string), straight-line DataView\n' +
    'codecs, and load<Name>() returning the maps as TypedMap, the programs by name, the variables\n' +
    'typed and a typed reader per perf/ring buffer map. The object is loaded from next to the module\n' +
    '(both byte orders when x.bpfel.o and x.bpfeb.o are side by side) or embedded with --embed.\n' +
    "A reader's record type: --type 'events=struct event', else the map's __type(value, ...), else a\n" +
    "lone --type when the object has one reader map, else a struct named like the map ('events' →\n" +
    "'struct event').\n" +
    'A --out ending in .js writes JavaScript and its .d.ts (for projects without a TypeScript build;\n' +
    'needs the typescript package, 5.5+, when generating only).',
  options: [
    { name: 'out', type: 'string', valueName: 'FILE', description: 'the module to write (default: <name>.ts next to the object)' },
    { name: 'name', type: 'string', valueName: 'NAME', description: 'base of the generated names, loadNAME() (default: the object name)' },
    { name: 'type', type: 'string', repeatable: true, valueName: 'TYPE', description: "an extra type, 'struct event', or a reader's record type, 'events=struct event' (repeatable)" },
    { name: 'char-arrays', type: 'string', valueName: 'MODE', choices: ['string', 'bytes'], description: 'char[N] members as strings (up to the first NUL) or as bytes (Uint8Array)' },
    { name: 'bytes', type: 'string', repeatable: true, valueName: 'MEMBER', description: "a member kept as raw bytes, 'struct event.payload' (repeatable)" },
    { name: 'embed', type: 'boolean', description: 'embed the object in the module (bundlers, Electron asar)', default: false },
    { name: 'import-from', type: 'string', valueName: 'MODULE', description: "module the bindings import the runtime from (default 'ebpf-ts')" },
    jsonOption,
  ],
  positionals: [{ name: 'object', required: true, description: 'the BPF object (.o) compiled with clang -g' }],
  run: async (args, ctx) => (await import('./gen.js')).runGen(args, ctx),
};

/** `ebpf-ts build`: build.ts. */
const buildCommand: Command = {
  words: ['build'],
  summary: 'compile a .bpf.c for bpfel and bpfeb with clang and write its TypeScript bindings',
  details:
    'Writes vmlinux.h from the running kernel\'s BTF (or --kernel-btf) when the source includes it and\n' +
    'none is next to it, compiles with clang -target bpfel and bpfeb, -g -O2 -D__TARGET_ARCH_<arch>,\n' +
    'libbpf\'s headers from /usr/include/bpf (Debian: libbpf-dev) or --libbpf-include, then runs gen.\n' +
    'clang ($CLANG, else clang, clang-19 … clang-14) is needed here only, never at run time.',
  options: [
    { name: 'out', type: 'string', valueName: 'DIR', description: 'directory for vmlinux.h, the objects and the module (default: the source\'s)' },
    { name: 'name', type: 'string', valueName: 'NAME', description: 'base name of the outputs and of loadNAME() (default: the source name)' },
    { name: 'kernel-btf', type: 'string', valueName: 'FILE', description: 'BTF for vmlinux.h (default /sys/kernel/btf/vmlinux)' },
    { name: 'libbpf-include', type: 'string', valueName: 'DIR', description: 'directory holding bpf/bpf_helpers.h (default /usr/include)' },
    { name: 'cflags', type: 'string', valueName: 'FLAGS', description: 'extra clang flags, space-separated' },
    { name: 'type', type: 'string', repeatable: true, valueName: 'TYPE', description: "passed to gen: 'struct event' or 'events=struct event' (repeatable)" },
    { name: 'char-arrays', type: 'string', valueName: 'MODE', choices: ['string', 'bytes'], description: 'passed to gen: char[N] members as strings or bytes' },
    { name: 'bytes', type: 'string', repeatable: true, valueName: 'MEMBER', description: "passed to gen: a member kept as raw bytes, 'struct event.payload' (repeatable)" },
    { name: 'embed', type: 'boolean', description: 'passed to gen: embed the objects in the module', default: false },
    { name: 'js', type: 'boolean', description: 'write JavaScript bindings (NAME.js and NAME.d.ts; needs the typescript package) instead of NAME.ts', default: false },
    { name: 'watch', type: 'boolean', description: 'rebuild whenever the source changes (until interrupted)', default: false },
    jsonOption,
  ],
  positionals: [{ name: 'source', required: true, description: 'the BPF C source (.bpf.c)' }],
  run: async (args, ctx) => (await import('./build.js')).runBuild(args, ctx),
};

/** `ebpf-ts link`: link.ts. */
const linkCommand: Command = {
  words: ['link'],
  summary: 'link BPF objects into one, like bpftool gen object',
  details:
    'Resolves functions, variables and maps declared extern in one object against the object that\n' +
    'defines them (a strong definition beats __weak ones; among weak ones the first wins), keeps\n' +
    'static symbols per object, and merges .BTF and .BTF.ext. Conflicting definitions are an error\n' +
    'that names the symbol and both objects. (`ebpf-ts link list` lists the BPF links of the\n' +
    'running kernel instead.)',
  options: [jsonOption],
  positionals: [
    { name: 'out.o', required: true, description: 'the object to write' },
    { name: 'in.o', required: true, variadic: true, description: 'the objects to link, in order' },
  ],
  run: async (args, ctx) => (await import('./link.js')).runLink(args, ctx),
};

/** `ebpf-ts usdt list`: usdt.ts. */
const usdtListCommand: Command = {
  words: ['usdt', 'list'],
  aliases: [['usdt', 'show']],
  summary: 'List the USDT probes (.note.stapsdt) of a binary, or of a process and the libraries it maps.',
  details:
    'TARGET is a path, a name searched like uprobe targets (libc.so.6 in the library directories, python3 in PATH),\n' +
    'or a process id: then the probes of its executable and of every shared library in /proc/PID/maps.\n' +
    'LOCATION, BASE, SEMAPHORE and ARGUMENTS are what readelf -n prints; OFFSET is the file offset a uprobe goes at.',
  options: [jsonOption],
  positionals: [{ name: 'target', required: true, description: 'a binary (path or name) or a process id' }],
  run: async (args, ctx) => (await import('./usdt.js')).runUsdtList(args, ctx),
};
/** `ebpf-ts token list`: token-list.ts. */
const tokenListCommand: Command = {
  words: ['token', 'list'],
  aliases: [['token', 'show']],
  summary: 'List the bpffs mounts that delegate bpf() to BPF tokens (Linux 6.9), with what each allows.',
  details:
    'A bpffs mounted with delegate_cmds, delegate_maps, delegate_progs or delegate_attachs lets a process in the user\n' +
    'namespace that owns it load with a BPF token (loadCollection finds one at /sys/fs/bpf by itself). Values are as the\n' +
    'kernel shows the mount options: "any", names joined by ":", or a bit mask.',
  options: [jsonOption],
  positionals: [],
  run: async (args, ctx) => (await import('./token-list.js')).runTokenList(args, ctx),
};

/** Every command, in the order `--help` lists them. */
export const commands: readonly Command[] = [
  inspectCommand,
  disasmCommand,
  btfDumpCommand,
  btfListCommand,
  progShowCommand,
  progDumpXlatedCommand,
  progDumpJitedCommand,
  mapShowCommand,
  mapDumpCommand,
  mapLookupCommand,
  mapUpdateCommand,
  mapDeleteCommand,
  linkListCommand,
  cgroupTreeCommand,
  cgroupShowCommand,
  netCommand,
  probeCommand,
  cleanupCommand,
  genCommand,
  buildCommand,
  linkCommand,
  usdtListCommand,
  tokenListCommand,
];
