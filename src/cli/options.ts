// Numeric command-line values, checked: a clear UsageError naming the option and what it expects.
import { UsageError } from '../errors.js';

export function parseIntOption(name: string, text: string | undefined, fallback: number, range: { min: number; max: number }): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(`${name} expects an integer in ${range.min}..${range.max}, got '${text}'`);
  }
  return n;
}

export function parseNumberOption(name: string, text: string | undefined, fallback: number, range: { min: number; max: number; exclusiveMin?: boolean }): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  const aboveMin = range.exclusiveMin ? n > range.min : n >= range.min;
  if (text.trim() === '' || !Number.isFinite(n) || !aboveMin || n > range.max) {
    throw new UsageError(`${name} expects a number ${range.exclusiveMin ? '>' : '>='} ${range.min} and <= ${range.max}, got '${text}'`);
  }
  return n;
}
