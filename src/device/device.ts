// Layer 1: acquire a GPUDevice in a browser (navigator.gpu) or in Node (npm `webgpu`, Dawn),
// raise the limits the models need, and describe the adapter.
import { DeviceError } from '../errors.js';

export interface AdapterReport {
  runtime: 'browser' | 'node-dawn' | 'external';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for software rasterisers (lavapipe, SwiftShader) and adapters flagged as fallback. */
  isSoftware: boolean;
  /** The Vulkan driver file Dawn was pointed at in Node, when we chose one. */
  vulkanDriver?: string;
  features: string[];
  limits: Record<string, number>;
  /** The subgroup size when the adapter has exactly one (subgroupMinSize == subgroupMaxSize) and the device has 'subgroups'. */
  subgroupSize?: number;
  /** WGSL language features of the WebGPU implementation (navigator.gpu.wgslLanguageFeatures), e.g. 'subgroup_id'. */
  wgslLanguageFeatures: string[];
}

export interface AcquiredDevice {
  device: GPUDevice;
  report: AdapterReport;
  hasF16: boolean;
  hasTimestamps: boolean;
  /** Resolves with a DeviceError when the device is lost (never rejects). */
  lost: Promise<DeviceError>;
}

export interface AcquireOptions {
  /** Features to request when the adapter offers them. */
  optionalFeatures?: GPUFeatureName[];
  powerPreference?: GPUPowerPreference;
}

/** Limits our models need: raised to the adapter's maximum. */
const LIMITS_TO_RAISE = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

const DEFAULT_OPTIONAL_FEATURES: GPUFeatureName[] = ['shader-f16', 'timestamp-query', 'subgroups' as GPUFeatureName];

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const LAVAPIPE_ICDS = ['/usr/share/vulkan/icd.d/lvp_icd.json', '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json'];

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

/** Lists the adapter's limits as plain numbers (GPUSupportedLimits is not enumerable everywhere). */
function limitsOf(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  let proto: object | null = limits;
  const names = new Set<string>();
  while (proto && proto !== Object.prototype) {
    for (const k of Object.getOwnPropertyNames(proto)) names.add(k);
    proto = Object.getPrototypeOf(proto);
  }
  for (const k of [...names].sort()) {
    const v = (limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') out[k] = v;
  }
  return out;
}

function looksSoftware(info: GPUAdapterInfo, adapter: GPUAdapter): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  const fallback = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true
    || (info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return fallback || /llvmpipe|lavapipe|swiftshader|software|cpu/.test(text);
}

interface GpuEntry { gpu: GPU; vulkanDriver?: string }

/**
 * In Node, Dawn reads the Vulkan drivers when `create()` first runs. We try, in order: whatever the
 * system offers (a hardware GPU or lavapipe), then lavapipe explicitly, then the SwiftShader driver
 * that Debian's chromium ships. The user sets no environment variable.
 */
async function nodeAdapter(options: AcquireOptions): Promise<{ adapter: GPUAdapter; gpu: GPU; vulkanDriver?: string }> {
  const fs = await import('node:fs');
  // A computed specifier keeps browser bundlers from trying to bundle the native module.
  const moduleName = 'webgpu';
  const dawn = (await import(/* @vite-ignore */ moduleName)) as { create(flags: string[]): GPU; globals: Record<string, unknown> };
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const userChoice = process.env.VK_ICD_FILENAMES;
  const attempts: (string | undefined)[] = [undefined];
  if (!userChoice) {
    for (const icd of [...LAVAPIPE_ICDS, SWIFTSHADER_ICD]) if (fs.existsSync(icd)) attempts.push(icd);
  }
  const tried: string[] = [];
  for (const icd of attempts) {
    if (icd) process.env.VK_ICD_FILENAMES = icd;
    const entry: GpuEntry = { gpu: dawn.create([]), vulkanDriver: icd ?? userChoice };
    const adapter = await entry.gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
    if (adapter) {
      retainedDawnInstances.add(entry.gpu);
      return { adapter, gpu: entry.gpu, vulkanDriver: entry.vulkanDriver };
    }
    tried.push(icd ?? 'system default');
  }
  if (!userChoice) delete process.env.VK_ICD_FILENAMES;
  throw new DeviceError(
    `no WebGPU adapter found (tried Vulkan drivers: ${tried.join(', ')}). ` +
      'On Debian install Mesa lavapipe from bookworm-backports: apt-get install -t bookworm-backports mesa-vulkan-drivers',
  );
}

// Dawn tears down its instance when the JS object is collected; keep it while devices live.
const retainedDawnInstances = new Set<GPU>();

/** Lets a Node process exit: drops our references to Dawn once every device has been destroyed. */
export function releaseDawnInstances(): void {
  retainedDawnInstances.clear();
}

export async function acquireDevice(options: AcquireOptions = {}): Promise<AcquiredDevice> {
  let adapter: GPUAdapter | null = null;
  let runtime: AdapterReport['runtime'];
  let vulkanDriver: string | undefined;
  let gpu: GPU;
  const browserGpu = browserGpuObject();
  if (browserGpu) {
    runtime = 'browser';
    gpu = browserGpu;
    adapter = await browserGpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
    if (!adapter) throw new DeviceError('this browser exposes WebGPU but returned no adapter (is hardware acceleration disabled?)');
  } else if (isNode()) {
    runtime = 'node-dawn';
    const found = await nodeAdapter(options);
    adapter = found.adapter;
    gpu = found.gpu;
    vulkanDriver = found.vulkanDriver;
  } else {
    throw new DeviceError('WebGPU is not available here: navigator.gpu is missing (WebGPU needs a secure context, https or localhost)');
  }

  const wanted = options.optionalFeatures ?? DEFAULT_OPTIONAL_FEATURES;
  const requiredFeatures = wanted.filter((f) => adapter!.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS_TO_RAISE) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (err) {
    throw new DeviceError(`the adapter refused to create a device: ${(err as Error).message}`, { cause: err });
  }
  const languageFeatures = languageFeaturesOf(gpu);
  languageFeaturesByDevice.set(device, languageFeatures);
  return wrapDevice(device, adapter.info, looksSoftware(adapter.info, adapter), runtime, languageFeatures, vulkanDriver);
}

/**
 * WGSL language features of the GPU object each device came from, for devices acquireDevice made:
 * a device handed back to adoptDevice (Engine.fromDevice) then takes the same kernels as before. Other
 * host devices take navigator.gpu's features in a browser; in Node, where the host's GPU object is out
 * of reach, none (kernels that need one, such as softmax's subgroup layout, are not used).
 */
const languageFeaturesByDevice = new WeakMap<GPUDevice, string[]>();

function browserGpuObject(): GPU | undefined {
  return typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
}

function languageFeaturesOf(gpu: GPU | undefined): string[] {
  const features = (gpu as (GPU & { wgslLanguageFeatures?: Iterable<string> }) | undefined)?.wgslLanguageFeatures;
  return features ? [...features].sort() : [];
}

/** Uses a device the host application already has (it keeps ownership: we never destroy it). */
export function adoptDevice(device: GPUDevice): AcquiredDevice {
  const info = device.adapterInfo ?? ({ vendor: '', architecture: '', device: '', description: '' } as GPUAdapterInfo);
  const languageFeatures = languageFeaturesByDevice.get(device) ?? languageFeaturesOf(browserGpuObject());
  return wrapDevice(device, info, /software|swiftshader|llvmpipe/i.test(`${info.description} ${info.device}`), 'external', languageFeatures);
}

function wrapDevice(
  device: GPUDevice,
  info: GPUAdapterInfo,
  isSoftware: boolean,
  runtime: AdapterReport['runtime'],
  wgslLanguageFeatures: string[],
  vulkanDriver?: string,
): AcquiredDevice {
  const features = [...device.features].map(String).sort();
  const sizes = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const fixedSubgroup = device.features.has('subgroups' as GPUFeatureName) && sizes.subgroupMinSize !== undefined
    && sizes.subgroupMinSize > 0 && sizes.subgroupMinSize === sizes.subgroupMaxSize;
  const report: AdapterReport = {
    runtime,
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isSoftware,
    vulkanDriver,
    features,
    limits: limitsOf(device.limits),
    subgroupSize: fixedSubgroup ? sizes.subgroupMinSize : undefined,
    wgslLanguageFeatures,
  };
  const lost = device.lost.then(
    (l) => new DeviceError(`GPU device lost (${l.reason}): ${l.message || 'no message from the driver'}`),
  );
  return {
    device,
    report,
    hasF16: device.features.has('shader-f16'),
    hasTimestamps: device.features.has('timestamp-query'),
    lost,
  };
}

/** A one-line name for logs and benchmark results. */
export function adapterName(report: AdapterReport): string {
  const parts = [report.vendor, report.architecture, report.description || report.device].filter((s) => s);
  return parts.join(' / ') || 'unknown adapter';
}
