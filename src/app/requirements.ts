// What the app needs from a WebGPU adapter, checked before anything is loaded, so that a person
// on a too-small adapter reads which limit is short and what to try instead of a failed dispatch
// half-way through embedding. The numbers are the largest single buffers the models bind: the
// MobileSAM encoder's first-stage MBConv expansion (4 x 64 channels at a quarter of the input
// side) and SAM ViT's MLP hidden layer (4 x embed dim over 64 x 64 tokens), plus the workgroup
// sizes and shared memory our kernels are written for (WebGPU's default limits).

export type EncoderSpec =
  | { kind: 'mobilesam'; inputSize: number }
  | { kind: 'sam'; variant: 'vit_b' | 'vit_l' | 'vit_h' };

const SAM_EMBED_DIM = { vit_b: 768, vit_l: 1024, vit_h: 1280 } as const;

export interface LimitNeed {
  limit: string;
  needed: number;
}

/** Bytes of the largest tensor the encoder binds at once. */
export function largestBinding(encoder: EncoderSpec): number {
  if (encoder.kind === 'mobilesam') {
    const side = encoder.inputSize / 4;
    return 4 * 64 * side * side * 4; // (1, 256, S/4, S/4) f32
  }
  return 64 * 64 * 4 * SAM_EMBED_DIM[encoder.variant] * 4; // (1, 64, 64, 4C) f32
}

export function limitNeeds(encoder: EncoderSpec): LimitNeed[] {
  const binding = largestBinding(encoder);
  return [
    { limit: 'maxStorageBufferBindingSize', needed: binding },
    { limit: 'maxBufferSize', needed: binding },
    { limit: 'maxComputeWorkgroupStorageSize', needed: 16384 },
    { limit: 'maxComputeInvocationsPerWorkgroup', needed: 256 },
    { limit: 'maxStorageBuffersPerShaderStage', needed: 8 },
  ];
}

const bytes = (n: number) => (n >= 2 ** 20 ? `${+(n / 2 ** 20).toFixed(1)} MiB` : `${+(n / 1024).toFixed(1)} KiB`);
const show = (limit: string, n: number) => (/Size$/.test(limit) ? bytes(n) : String(n));

/** One sentence per limit the adapter falls short of; empty when it can run the encoder. */
export function limitProblems(limits: Record<string, number>, encoder: EncoderSpec): string[] {
  const out: string[] = [];
  for (const { limit, needed } of limitNeeds(encoder)) {
    const have = limits[limit];
    if (typeof have === 'number' && have < needed) {
      // Only buffer sizes shrink with the input side; workgroup limits are the kernels' own.
      const hint = encoder.kind === 'mobilesam' && /^max(StorageBufferBinding|Buffer)Size$/.test(limit) && encoder.inputSize > 256
        ? ' Choose a smaller MobileSAM input size, or use a browser or machine with a larger GPU.'
        : ' Use a browser or machine with a larger GPU.';
      out.push(`This GPU adapter's ${limit} is ${show(limit, have)}; the ${encoder.kind === 'mobilesam' ? `MobileSAM encoder at ${encoder.inputSize}` : `SAM ${encoder.variant} encoder`} needs ${show(limit, needed)}.${hint}`);
    }
  }
  return out;
}

/** The message for a browser without navigator.gpu. */
export function noWebGpuMessage(secureContext: boolean): string {
  if (!secureContext) return 'WebGPU needs a secure context: open the app over https:// or from http://localhost (autosam serve does this).';
  return 'This browser does not offer WebGPU. Use a recent Chrome or Edge (113+), Safari 26+, or Firefox 141+ on Windows; on Linux Chrome needs --enable-unsafe-webgpu, or chrome://flags/#enable-unsafe-webgpu.';
}
