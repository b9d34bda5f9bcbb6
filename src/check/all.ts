// Every family's checks, in the order `autosam check` runs them.
import { elementwiseChecks } from './elementwise.js';
import type { KernelCheck } from './registry.js';

export const ALL_CHECKS: KernelCheck[] = [...elementwiseChecks];
