// Where the row kernels (softmax, layernorm) take their subgroup layout: the lanes of one subgroup
// share a row (softmax-subgroup.ts, layernorm-subgroup.ts).
import type { AdapterReport } from '../device/device.js';

/**
 * The subgroup size for the row kernels' subgroup layout, where it applies: software adapters (GPUs
 * keep the workgroup layout) whose subgroups have one fixed size, with the subgroup_id builtin;
 * otherwise undefined (the layout of rowLayoutFor).
 */
export function rowSubgroupLanes(report: AdapterReport): number | undefined {
  const lanes = report.subgroupSize;
  if (!report.isSoftware || lanes === undefined || !report.wgslLanguageFeatures.includes('subgroup_id')) return undefined;
  return lanes <= 64 && (lanes & (lanes - 1)) === 0 ? lanes : undefined;
}
