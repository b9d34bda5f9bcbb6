// Public API of autosam-webgpu: the browser-safe core (engine, tensors, ops, nn modules, loaders,
// metrics) and the library API (src/api). Node-only extras: src/api/node.ts ("autosam-webgpu/node").
/// <reference types="@webgpu/types" preserve="true" />
export { Engine, type EngineOptions } from './engine.js';
export { acquireDevice, adoptDevice, adapterName, type AdapterReport } from './device/device.js';
export { Tensor } from './tensor/tensor.js';
export type { DType } from './tensor/dtype.js';
export * from './errors.js';
export * as ops from './ops/index.js';
export { noGrad, backward } from './graph/autograd.js';
export { Module, ModuleList, StateDictMismatchError, type HostTensor } from './nn/module.js';
export { loadCheckpoint, selectPart, loadSamPart, type SamPart } from './io/checkpoint.js';
export { writeSafetensors } from './io/safetensors-write.js';
export { samDecoderStateDictFromOnnx } from './models/sam-decoder-weights.js';
export { classMetrics, volumeClassMetrics, dice, hd95, type ClassMetrics } from './eval/metrics.js';
export { buildReport, formatReport, type EvaluationReport, type VolumeMetrics } from './eval/report.js';
export * from './api/index.js';
