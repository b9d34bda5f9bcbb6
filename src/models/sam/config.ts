// Configurations of SAM's ViT image encoder (segment-anything's build_sam.py) and custom ones from
// JSON, in segment-anything's own argument names so a config reads like the Python call.
import { UsageError } from '../../errors.js';

export interface SamVitConfig {
  embed_dim: number;
  depth: number;
  num_heads: number;
  /** Blocks with global attention; the others attend inside windows of window_size. */
  global_attn_indexes: number[];
  window_size: number;
  patch_size: number;
  img_size: number;
  /** Channels of the neck's output, the image embedding. */
  out_chans: number;
  /** MLP hidden width over embed_dim (4 in every SAM). */
  mlp_ratio: number;
}

const SAM_COMMON = { window_size: 14, patch_size: 16, img_size: 1024, out_chans: 256, mlp_ratio: 4 } as const;

export const SAM_VIT_CONFIGS = {
  vit_b: { ...SAM_COMMON, embed_dim: 768, depth: 12, num_heads: 12, global_attn_indexes: [2, 5, 8, 11] },
  vit_l: { ...SAM_COMMON, embed_dim: 1024, depth: 24, num_heads: 16, global_attn_indexes: [5, 11, 17, 23] },
  vit_h: { ...SAM_COMMON, embed_dim: 1280, depth: 32, num_heads: 16, global_attn_indexes: [7, 15, 23, 31] },
} satisfies Record<string, SamVitConfig>;

export type SamVitName = keyof typeof SAM_VIT_CONFIGS;

export function isSamVitName(name: string): name is SamVitName {
  return Object.hasOwn(SAM_VIT_CONFIGS, name);
}

/** Token-grid side: img_size / patch_size. */
export function tokenGridSize(config: SamVitConfig): number {
  return config.img_size / config.patch_size;
}

const REQUIRED = ['embed_dim', 'depth', 'num_heads', 'global_attn_indexes', 'window_size', 'patch_size', 'img_size', 'out_chans'] as const;

/**
 * A config from parsed JSON ({embed_dim, depth, num_heads, global_attn_indexes, window_size,
 * patch_size, img_size, out_chans[, mlp_ratio]}), validated: `source` names it in errors.
 */
export function parseSamVitConfig(json: unknown, source = 'encoder config'): SamVitConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`${source}: expected a JSON object`);
  const obj = json as Record<string, unknown>;
  const known = new Set<string>([...REQUIRED, 'mlp_ratio']);
  const unknown = Object.keys(obj).filter((k) => !known.has(k));
  if (unknown.length) throw new UsageError(`${source}: unknown keys ${unknown.join(', ')} (expected ${[...known].join(', ')})`);
  const missing = REQUIRED.filter((k) => !(k in obj));
  if (missing.length) throw new UsageError(`${source}: missing keys ${missing.join(', ')}`);
  const int = (key: string, min: number): number => {
    const v = obj[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new UsageError(`${source}: ${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const config: SamVitConfig = {
    embed_dim: int('embed_dim', 1),
    depth: int('depth', 1),
    num_heads: int('num_heads', 1),
    global_attn_indexes: [],
    window_size: int('window_size', 0),
    patch_size: int('patch_size', 1),
    img_size: int('img_size', 1),
    out_chans: int('out_chans', 1),
    mlp_ratio: obj.mlp_ratio === undefined ? 4 : Number(obj.mlp_ratio),
  };
  const g = obj.global_attn_indexes;
  if (!Array.isArray(g) || !g.every((i) => Number.isInteger(i) && i >= 0 && i < config.depth)) {
    throw new UsageError(`${source}: global_attn_indexes must be a list of block indexes in 0..${config.depth - 1}, got ${JSON.stringify(g)}`);
  }
  config.global_attn_indexes = [...g] as number[];
  if (config.embed_dim % config.num_heads !== 0) throw new UsageError(`${source}: num_heads ${config.num_heads} does not divide embed_dim ${config.embed_dim}`);
  if (config.img_size % config.patch_size !== 0) throw new UsageError(`${source}: patch_size ${config.patch_size} does not divide img_size ${config.img_size}`);
  if (!(config.mlp_ratio > 0) || !Number.isInteger(config.embed_dim * config.mlp_ratio)) {
    throw new UsageError(`${source}: mlp_ratio ${JSON.stringify(obj.mlp_ratio)} must be positive and give an integer hidden width`);
  }
  return config;
}

/** vit_b / vit_l / vit_h by name, or a parsed JSON config. */
export function samVitConfig(nameOrJson: string | unknown, source?: string): SamVitConfig {
  if (typeof nameOrJson === 'string') {
    if (!isSamVitName(nameOrJson)) throw new UsageError(`unknown SAM encoder ${nameOrJson} (expected ${Object.keys(SAM_VIT_CONFIGS).join(', ')} or a JSON config)`);
    const c = SAM_VIT_CONFIGS[nameOrJson];
    return { ...c, global_attn_indexes: [...c.global_attn_indexes] };
  }
  return parseSamVitConfig(nameOrJson, source);
}
