// Numeric command-line values, checked: a clear UsageError naming the option and what it expects.
import { UsageError } from '../errors.js';
import { DiskEmbeddingStore } from '../train/embedding-cache-node.js';
import { NullEmbeddingStore, type EmbeddingStore } from '../train/embedding-cache.js';

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

/** The embedding cache the shared --cache DIR / --no-cache options ask for (default: the disk cache's default directory). */
export function embeddingStoreOption(values: { cache?: string | boolean; 'no-cache'?: string | boolean }): EmbeddingStore {
  if (values['no-cache'] && values.cache) throw new UsageError('give either --cache DIR or --no-cache, not both');
  return values['no-cache'] ? new NullEmbeddingStore() : new DiskEmbeddingStore(typeof values.cache === 'string' ? values.cache : undefined);
}
