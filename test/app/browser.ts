// Headless Chromium for the app's end-to-end test: Debian's chromium through puppeteer-core, with the
// WebGPU flags bench/shared/chromium-page.ts uses (SwiftShader's software adapter on this machine).
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { CHROMIUM } from '../../bench/shared/chromium-page.js';

export { CHROMIUM };

const FLAGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

export const hasChromium = () => existsSync(CHROMIUM);

export async function launchChromium(): Promise<{ browser: Browser; userDataDir: string }> {
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'autosam-app-e2e-'));
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: false, userDataDir, args: FLAGS, protocolTimeout: 600_000 });
  return { browser, userDataDir };
}
