// A kernel is a pure function from its parameters to a KernelSpec. Nothing here touches the GPU.
// The pipeline cache key is the WGSL text itself (see runtime.ts): whatever a builder bakes into
// the shader is part of the key by construction, so two different kernels can never share a key.

export interface KernelSpec {
  /** Human-readable family name, used in profiles and in the printed key. */
  name: string;
  wgsl: string;
  workgroupSize: [number, number, number];
  /** Number of workgroups in x, y, z. */
  dispatch: [number, number, number];
}

/** How each binding is declared, in binding order: @binding(i) is the i-th buffer passed to run(). */
export type BindingKind = 'read' | 'read_write' | 'uniform';

/** FNV-1a over the WGSL text: a short stable tag for printing keys (the cache itself keys on the full text). */
export function wgslHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

export function kernelKey(spec: Pick<KernelSpec, 'name' | 'wgsl'>): string {
  return `${spec.name}#${wgslHash(spec.wgsl)}`;
}

export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * Spreads `count` workgroups over x and y so neither exceeds the per-dimension limit. Shaders recover
 * the linear workgroup index with `linearWorkgroup(wid, nwg)` from WGSL_LINEAR_WORKGROUP.
 */
export function dispatchLinear(count: number): [number, number, number] {
  if (count <= MAX_WORKGROUPS_PER_DIM) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / MAX_WORKGROUPS_PER_DIM);
  const x = Math.ceil(count / y);
  return [x, y, 1];
}

export const WGSL_LINEAR_WORKGROUP = /* wgsl */ `
fn linearWorkgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }`;

/** A WGSL float literal that always parses as f32 (1 -> "1.0", 1e-6 -> "1e-06"). */
export function f32Literal(v: number): string {
  if (Number.isNaN(v)) throw new Error('NaN cannot be baked into WGSL');
  if (!Number.isFinite(v)) throw new Error('Infinity cannot be baked into WGSL (constants must be finite); pass it as a uniform');
  const s = String(Math.fround(v));
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

export function bindingDecls(kinds: { name: string; kind: BindingKind; type: string }[]): string {
  return kinds
    .map(({ name, kind, type }, i) => {
      if (kind === 'uniform') return `@group(0) @binding(${i}) var<uniform> ${name}: ${type};`;
      return `@group(0) @binding(${i}) var<storage, ${kind}> ${name}: ${type};`;
    })
    .join('\n');
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}
