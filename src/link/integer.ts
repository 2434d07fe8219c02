/**
 * Integer arguments of the attach functions (offsets, cookies), given as `number` or `bigint`.
 * `BigInt(1.5)` throws a bare RangeError; callers get an {@link ArgumentError} naming the
 * argument instead.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';

/** `value` as a bigint; throws {@link ArgumentError} naming `what` unless it is an integer. */
export function integerArgument(value: bigint | number, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new ArgumentError(`${what} must be an integer (number or bigint), got ${String(value)}`);
  }
  return BigInt(value);
}
