/**
 * Names of BPF objects (maps, programs) as the kernel accepts them: `bpf_obj_name_cpy()` allows
 * `[A-Za-z0-9_.]` and at most BPF_OBJ_NAME_LEN - 1 = 15 bytes (it needs the terminating NUL);
 * kernels before 5.2 also reject `.`.
 *
 * @module
 */

/** BPF_OBJ_NAME_LEN - 1: the longest name the kernel keeps. */
export const MAX_OBJECT_NAME_LENGTH = 15;

/**
 * Makes `name` acceptable to `bpf_obj_name_cpy()`: every other character (per code point)
 * becomes `_`, and the result is cut to 15 bytes. `allowDot` false also turns `.` into `_`.
 */
export function sanitizeObjectName(name: string, allowDot = true): string {
  const allowed = allowDot ? /[A-Za-z0-9_.]/ : /[A-Za-z0-9_]/;
  let out = '';
  for (const ch of name) {
    if (out.length >= MAX_OBJECT_NAME_LENGTH) break;
    out += allowed.test(ch) ? ch : '_';
  }
  return out;
}
