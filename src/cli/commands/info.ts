import { adapterName } from '../../device/device.js';
import { Engine } from '../../engine.js';
import { formatBytes } from '../../tensor/pool.js';
import { parseCommandArgs, type Command } from '../command.js';

const HELP = `usage: autosam info [--json]

Acquires a WebGPU device (hardware GPU, else Mesa lavapipe, else SwiftShader) and prints the
adapter, its features and the limits the engine requested.`;

const KEY_LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage'];

export const infoCommand: Command = {
  name: 'info',
  summary: 'print the WebGPU adapter, features and limits',
  async run(args) {
    const parsed = parseCommandArgs('info', args, { json: { type: 'boolean' } }, HELP);
    if (!parsed) return 0;
    const engine = await Engine.create();
    try {
      const r = engine.report;
      if (parsed.values.json) {
        console.log(JSON.stringify({ adapter: adapterName(r), ...r }, null, 2));
        return 0;
      }
      console.log(`adapter       ${adapterName(r)}`);
      console.log(`runtime       ${r.runtime}${r.vulkanDriver ? ` (Vulkan driver ${r.vulkanDriver})` : ''}`);
      console.log(`software      ${r.isSoftware ? 'yes' : 'no'}`);
      console.log(`features      ${r.features.join(', ')}`);
      for (const k of KEY_LIMITS) {
        const v = r.limits[k];
        console.log(`${k.padEnd(36)} ${k.startsWith('maxStorageBuffer') && k.endsWith('Size') || k === 'maxBufferSize' || k === 'maxComputeWorkgroupStorageSize' ? formatBytes(v) : v}`);
      }
      return 0;
    } finally {
      engine.dispose();
    }
  },
};
