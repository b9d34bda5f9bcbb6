export * from './heads.js';
export * from './mask-decoder.js';
export * from './feat-decoders.js';
export * from './transformer.js';
export * from './position-embedding.js';
