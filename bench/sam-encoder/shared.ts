// What the vit_b benchmark's page (browser.ts) reports to its Chromium driver (chromium.ts).
import type { EmbeddingCheck } from '../mobilesam/shared.js';

export interface SamChromiumReport {
  /** The forward ran, agreed with PyTorch and was timed. */
  ok: boolean;
  error?: string;
  impl: 'fused';
  adapter: string | null;
  userAgent: string;
  hardwareConcurrency: number;
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number } | null;
  /** Fetch of the checkpoint + our reader + upload into the GPU buffers. */
  loadMs: number | null;
  weightBytes: number | null;
  residentBytesBeforeForward: number | null;
  budgetBytes: number | null;
  /** The first forward: pipeline compilation, forward, embedding read back. */
  firstRunMs: number | null;
  runsMs: number[];
  medianMs: number | null;
  /** The pool's peak of live GPU bytes (weights included) over the first and the timed forwards. */
  peakLiveBytes: number | null;
  peakAllocatedBytes: number | null;
  underBudget: boolean | null;
  check: EmbeddingCheck | null;
  /** Peak live bytes over each stage of the first forward (patch_embed, blocks.i, neck). */
  stagePeaks: { stage: string; peakLiveBytes: number }[];
}
