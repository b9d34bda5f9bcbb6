export * from './elementwise.js';
export * from './resize.js';
export * from './copy.js';
export * from "./matmul.js";
export * from './reduce.js';
export * from './softmax.js';
export * from './layernorm.js';
export * from './conv.js';
