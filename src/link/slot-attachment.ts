/**
 * BPF_PROG_ATTACH to a hook that holds one program and silently replaces it on the next
 * attach: a sockmap's parser or verdict slot, and a namespace's flow dissector before netns
 * links. The attachment keeps fds of its own of the target and the program (the caller may
 * close theirs), which its BPF_PROG_DETACH names; `update` attaches the new program in place,
 * which the kernel swaps in atomically. These hooks take no replace_bpf_fd, so `oldProgram`
 * is checked here against the program attached last.
 *
 * @module
 */
import { ArgumentError, SyscallError } from '../errors.js';
import type { Program } from '../prog.js';
import { encodeAttr } from '../sys/attr.js';
import { bpfCall, bpfRaw } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { ProgAttach, ProgDetach } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { programTypeName, type AttachType } from '../types.js';
import { Link } from './link.js';

/** What {@link attachToSlot} attaches, and how its messages name it. */
export interface SlotAttachment {
  /** The program; an update must bring one of the same type. */
  readonly prog: Program;
  /** An fd of the target (the map, the namespace): copied, the caller keeps theirs. */
  readonly targetFd: number;
  /** The hook. */
  readonly attachType: AttachType;
  /** The link's `what`. */
  readonly what: string;
  /** The hook in messages: `the sk_msg verdict slot of map socks`, a namespace's description. */
  readonly where: string;
  /** What update messages say is updated; `where` by default. */
  readonly updating?: string;
  /** The program's role in the detach message (`flow dissector`), if any. */
  readonly role?: string;
  /** The attach's error context. */
  readonly context: string;
  /** Explains an errno of BPF_PROG_ATTACH; `targetFd` is the attachment's own copy. */
  readonly explain: (errno: number, targetFd: number) => string | undefined;
  /**
   * Makes a call against the target, given our fd of it and the call taking the attr's
   * `target_fd`. Default: the fd itself. A flow dissector is attached from inside its
   * namespace with target_fd 0 (netns_bpf_prog_attach() uses the caller's namespace).
   */
  readonly enter?: <T>(targetFd: number, call: (attrTarget: number) => T) => T;
}

/**
 * Whether `a` and `b` are the same kernel program: the same object, or two fds of one program
 * (equal ids). A program whose id cannot be read (closed) matches only itself.
 */
export function sameProgram(a: Program, b: Program): boolean {
  if (a === b) return true;
  try {
    return a.info().id === b.info().id;
  } catch {
    return false;
  }
}

const direct = <T>(targetFd: number, call: (attrTarget: number) => T): T => call(targetFd);

/** Attaches `s.prog` with BPF_PROG_ATTACH, returned as an `attachment` link (see the module). */
export function attachToSlot(s: SlotAttachment): Link {
  const b = backend();
  const enter = s.enter ?? direct;
  const updating = s.updating ?? s.where;
  // Fds of our own first: with none left, nothing is attached that could not be detached.
  const targetFd = b.dupAbove(s.targetFd, 3);
  let progFd = targetFd < 0 ? targetFd : b.dupAbove(s.prog.fd, 3);
  if (targetFd < 0 || progFd < 0) {
    if (targetFd >= 0) b.close(targetFd);
    throw new SyscallError('fcntl', -(targetFd < 0 ? targetFd : progFd), 'no fd left to keep for the detach (EMFILE: raise the open-file limit)', s.context);
  }
  const attach = (through: number, program: Program, context: string): void =>
    void enter(through, (target) =>
      bpfCall(ProgAttach, { target_fd: target, attach_bpf_fd: program.fd, attach_type: s.attachType, attach_flags: 0 }, { context, explain: (errno) => s.explain(errno, targetFd) }),
    );
  try {
    attach(s.targetFd, s.prog, s.context);
  } catch (err) {
    b.close(progFd);
    b.close(targetFd);
    throw err;
  }
  let current = s.prog;
  return Link.adopt({
    fd: -1,
    mode: 'attachment',
    what: s.what,
    cleanup: () => {
      try {
        const r = enter(targetFd, (target) => bpfRaw(ProgDetach, encodeAttr(ProgDetach, { target_fd: target, attach_bpf_fd: progFd, attach_type: s.attachType }).attr));
        // ENOENT: another program replaced ours meanwhile, so ours is detached already.
        if (r < 0 && r !== -Errno.ENOENT) throw new SyscallError('BPF_PROG_DETACH', -r, undefined, `detach ${s.role === undefined ? '' : `${s.role} `}${current.name} from ${s.where}`);
      } finally {
        b.close(progFd);
        b.close(targetFd);
      }
    },
    update: (program, oldProgram) => {
      if (program.type !== s.prog.type) throw new ArgumentError(`update ${updating}: ${program.name} is ${programTypeName(program.type)}, not ${programTypeName(s.prog.type)}`);
      if (oldProgram !== undefined && !sameProgram(oldProgram, current)) {
        throw new SyscallError('BPF_PROG_ATTACH', Errno.EPERM, `${s.where} runs ${current.name} (attached by this link), not ${oldProgram.name}`, `update ${updating}`);
      }
      const dup = b.dupAbove(program.fd, 3);
      if (dup < 0) throw new SyscallError('fcntl', -dup, 'no fd left to keep for the detach', `update ${updating}`);
      try {
        attach(targetFd, program, `update ${updating} to ${program.name}`);
      } catch (err) {
        b.close(dup);
        throw err;
      }
      b.close(progFd);
      progFd = dup;
      current = program;
    },
  });
}
