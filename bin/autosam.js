#!/usr/bin/env node
// The CLI is bundled by `npm run build` into dist/node/cli.js.
import { main } from '../dist/node/cli.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
