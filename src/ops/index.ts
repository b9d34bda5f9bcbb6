export * from './elementwise.js';
export * from './resize.js';
export * from './copy.js';
export * from "./matmul.js";
