// The UI thread: sends pixels and labels to the worker (transferring the buffers), shows its
// progress, and can stop it. Nothing here touches the GPU.
import { discExample } from '../synthetic.js';

const log = (line) => { document.getElementById('log').textContent += line + '\n'; };
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const train = Array.from({ length: 8 }, (_, i) => discExample(i));
const test = Array.from({ length: 2 }, (_, i) => discExample(100 + i));
const params = Object.fromEntries(new URLSearchParams(location.search));

document.getElementById('stop').onclick = () => worker.postMessage({ type: 'abort' });
worker.onmessage = ({ data: message }) => {
  if (message.type === 'progress') {
    document.getElementById('progress').value = message.done / message.total;
    log(`${message.stage} ${message.done}/${message.total}${message.loss !== undefined ? ` loss ${message.loss.toFixed(4)}` : ''}`);
  } else {
    log(JSON.stringify(message));
    globalThis.exampleResult = message; // read by the tests
    worker.terminate();
  }
};
const pixels = [...train, ...test].map((e) => e.image.data.buffer);
worker.postMessage({
  type: 'run', params, train: train.map((e) => ({ image: e.image, label: e.label })), test: test.map((e) => ({ image: e.image, label: e.label })),
}, pixels);
