// Every family's checks, in the order `autosam check` runs them.
import { elementwiseChecks } from './elementwise.js';
import { resizeChecks } from './resize.js';
import { copyChecks } from './copy.js';
import { matmulChecks } from './matmul.js';
import { reduceChecks } from './reduce.js';
import { normalizationChecks } from './normalization.js';
import { convChecks } from './conv.js';
import { gradientChecks } from './gradients.js';
import { attentionChecks } from './attention.js';
import type { KernelCheck } from './registry.js';
import { unetOpChecks } from './unet-ops.js';

export const ALL_CHECKS: KernelCheck[] = [...elementwiseChecks, ...matmulChecks, ...resizeChecks, ...copyChecks, ...reduceChecks, ...normalizationChecks, ...convChecks, ...attentionChecks, ...gradientChecks, ...unetOpChecks];
