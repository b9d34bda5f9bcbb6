// Types and helpers shared by the MobileSAM benchmark's page (browser.ts) and drivers (node.ts, chromium.ts).

export const INPUT_SHAPE = [1, 3, 1024, 1024];
/** The agreement required before anything is timed: max |ours - ref| <= 1e-3 max |ref|. */
export const RELATIVE_TOLERANCE = 1e-3;

export interface EmbeddingCheck { maxErr: number; maxRef: number; relative: number; agree: boolean }

export function compareEmbeddings(actual: Float32Array, reference: Float32Array): EmbeddingCheck {
  if (actual.length !== reference.length) throw new Error(`embedding lengths differ: ${actual.length} vs ${reference.length}`);
  let maxErr = 0, maxRef = 0;
  for (let i = 0; i < reference.length; i++) {
    const e = Math.abs(actual[i] - reference[i]);
    maxErr = Number.isNaN(e) ? Infinity : Math.max(maxErr, e);
    maxRef = Math.max(maxRef, Math.abs(reference[i]));
  }
  const relative = maxErr / maxRef;
  return { maxErr, maxRef, relative, agree: relative <= RELATIVE_TOLERANCE };
}

export interface OrtResult {
  /** The onnxruntime-web dist file the page imported (ort.webgpu.min.mjs: the WebGPU EP build). */
  bundle: string;
  version?: string;
  sessionCreateMs?: number;
  firstRunMs: number | null;
  timesMs: number[];
  /** The first bundle that ran is the reference ours is checked against. */
  isReference?: boolean;
  vsFirstOrt?: EmbeddingCheck;
  error?: string;
}

export interface ChromiumReport {
  adapter: string;
  userAgent: string;
  hardwareConcurrency: number;
  ours: { loadMs: number; firstRunMs: number; timesMs: number[]; check: EmbeddingCheck };
  ort: OrtResult[];
}

export const median = (v: number[]): number | null => (v.length ? [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] : null);
