// Rewrites the README section between <!-- bench:kernels:start --> and <!-- bench:kernels:end -->
// with Markdown tables built from bench/results/kernels-{node,chromium}.json (appending the markers
// at the end of README.md when they are missing). Without a README.md it prints the section.
import { existsSync, readFileSync } from 'node:fs';
import { README, readmeMarkers, replaceReadmeBlock } from '../bench/shared/readme-block.mjs';

const { start: START, end: END } = readmeMarkers('kernels');
const RESULTS = [
  ['bench/results/kernels-node.json', 'Node (Dawn)'],
  ['bench/results/kernels-chromium.json', 'headless Chromium'],
];

const fmt = (x, digits = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits));
const pct = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(0)}%`);
const ratio = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}x`);

function caseRow(c) {
  const unit = c.unit;
  if (c.error) return `| ${c.name} | failed: ${c.error.replace(/\|/g, '/')} | | | | |`;
  const tfjs = c.tfjs ? `${fmt(c.tfjs.rate)} ${unit}` : c.tfjsNote?.includes('skipped') ? 'skipped (time)' : '–';
  let yardstick = '–', fraction = '–';
  if (c.numpyGflops !== undefined) {
    yardstick = `numpy ${fmt(c.numpyGflops, 1)} GFLOP/s`;
    fraction = pct(c.fractionOfNumpy);
  } else if (c.copy) {
    // Older records have one copy spelling; newer ones both, the yardstick being the faster.
    const spellings = c.copySized ? ` (runtime-sized ${fmt(c.copyRuntimeSized?.rate)}, sized arrays ${fmt(c.copySized.rate)})` : '';
    yardstick = `copy ${fmt(c.copy.rate)} GB/s${spellings}`;
    fraction = pct(c.fractionOfCopy);
  }
  const best = (x) => (x === null || x === undefined ? '' : ` (${x})`);
  let fractionBest = null;
  if (c.numpyGflops !== undefined) fractionBest = c.fractionOfNumpyBest;
  else if (c.copy) fractionBest = c.fractionOfCopyBest;
  return `| ${c.name} | ${fmt(c.ours?.rate)} ${unit} | ${tfjs} | ${ratio(c.ratioToTfjs)}${c.ratioToTfjsBest ? best(ratio(c.ratioToTfjsBest)) : ''} | ${yardstick} | ${fraction}${fractionBest ? best(pct(fractionBest)) : ''} |`;
}

function section(record, title) {
  const m = record.machine;
  const lines = [
    `#### ${title}: ${record.adapters.ours}`,
    '',
    `${record.date.slice(0, 10)}, ${m.cpu} (${m.cores} cores), load average ${m.loadAverageAtStart.map((x) => x.toFixed(1)).join(' ')} at the start` +
      `${record.quick ? ', --quick' : ''}; tfjs-backend-webgpu ${record.tfjs.version} on ${record.adapters.tfjs ?? 'n/a'}` +
      `${record.numpy.available ? `; numpy ${record.numpy.numpyVersion} with ${record.numpy.blas ?? 'unknown BLAS'}, ${record.numpy.blasThreads ?? '?'} threads` : `; numpy: ${record.numpy.note}`}` +
      `${record.browser ? `; Chromium ${record.browser.split(' ')[0]}` : ''}.`,
    '',
    '| case | ours | tfjs | ours / tfjs (fastest runs) | yardstick | ours / yardstick (fastest runs) |',
    '|---|---|---|---|---|---|',
    ...record.cases.map(caseRow),
    '',
  ];
  for (const t of record.targets) {
    const show = (v) => (v === null || v === undefined ? 'not measured' : t.name.includes('tfjs') ? ratio(v) : pct(v));
    const value = `${show(t.value)}${t.valueBest != null ? ` (fastest runs ${show(t.valueBest)})` : ''}`;
    const verdict = t.met === null ? '–' : t.met ? 'met' : 'missed';
    lines.push(`- ${t.name}: ${t.goal}: ${value}, ${verdict}${t.applies ? '' : ' (stated for lavapipe; informational here)'}`);
  }
  // The record's notes say how it was made (merged runs, the spread over repeated runs) and belong with it.
  for (const note of record.notes ?? []) lines.push(`- Note: ${note}`);
  return lines.join('\n');
}

function buildSection() {
  const parts = [
    '### Kernel benchmarks',
    '',
    'Made by `npm run bench:kernels` (bench/kernels/; raw numbers with every run in bench/results/kernels-*.json). ' +
      'Median of timed runs after a checked, untimed first run (ours, tfjs and the copy kernel timed interleaved, run by run); ' +
      'ratios in parentheses compare the fastest runs, which suffer least from other load. GFLOP/s = 2MNK / t, GB/s = bytes read and written once / t. ' +
      'The matmul yardstick is numpy\'s float32 matmul on the CPU; the layernorm/softmax yardstick a plain WGSL copy of the same size on the same adapter, ' +
      'the faster of two spellings (runtime-sized arrays, arrays sized to the shape; our layernorm and softmax use sized arrays, which SwiftShader runs faster). ' +
      'tfjs composes layernorm from tf.moments and elementwise ops (it has no layernorm kernel). On a shared 2-core machine these numbers are noisy.',
    '',
  ];
  let found = 0;
  for (const [path, title] of RESULTS) {
    if (!existsSync(path)) continue;
    found++;
    parts.push(section(JSON.parse(readFileSync(path, 'utf8')), title), '');
  }
  if (!found) parts.push('No results yet: run `npm run bench:kernels`.', '');
  return parts.join('\n').trimEnd();
}

const body = `${START}\n${buildSection()}\n${END}`;
const outcome = await replaceReadmeBlock('kernels', body, { appendIfMissing: true });
if (outcome === 'missing') {
  console.log(body);
  console.log(`\n(bench-readme: ${README} does not exist; printed the section instead)`);
} else {
  console.log(`bench-readme: ${outcome} the kernel benchmark section of ${README}`);
}
