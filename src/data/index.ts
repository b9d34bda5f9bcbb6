// The data layer's public API (browser-safe; Node callers add sources-node.ts for disk access).
export * from './dataset.js';
export * from './volume.js';
export * from './spec.js';
export * from './split.js';
export * from './slice.js';
export * from './normalize.js';
export * from './resize.js';
export * from './augment.js';
export * from './prepare.js';
export * from './inspect.js';
export { createRng, shuffled, type Rng } from './random.js';
export type { FileAccess, DirEntry } from './files.js';
export { ACDC_CLASSES, parseAcdcInfo } from './acdc.js';
export { BRAIN_AAL_CLASSES } from './brain-aal.js';
export { HEAD_CT_CLASSES, DEBIAN_SOURCES } from './builtin.js';
