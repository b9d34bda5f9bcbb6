// Runs one benchmark page in Debian's headless Chromium (puppeteer-core) and waits for its report.
// The page calls window.benchLog(line), then benchDone(json) or benchFail(message).
import puppeteer from 'puppeteer-core';

export const CHROMIUM = '/usr/bin/chromium';

/** The flags DESIGN.md lists for WebGPU in headless Chromium on a machine with no network. */
const CHROMIUM_FLAGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

export async function runBenchPage<R>(
  url: string, userDataDir: string, timeoutMs: number, log: (line: string) => void,
): Promise<{ report: R; browserVersion: string }> {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: false, // --headless=new is passed explicitly, with the rest of the flags
    userDataDir,
    protocolTimeout: timeoutMs,
    args: CHROMIUM_FLAGS,
  });
  try {
    const browserVersion = await browser.version();
    const page = await browser.newPage();
    const done = new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the page did not finish within ${timeoutMs / 60_000} minutes`)), timeoutMs);
      void page.exposeFunction('benchLog', (line: string) => log(line));
      void page.exposeFunction('benchDone', (json: string) => {
        clearTimeout(timer);
        resolve(JSON.parse(json) as R);
      });
      void page.exposeFunction('benchFail', (message: string) => {
        clearTimeout(timer);
        reject(new Error(`the page failed: ${message}`));
      });
      page.on('pageerror', (err) => log(`page error: ${(err as Error).message ?? err}`));
      page.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`the page crashed: ${err.message}`));
      });
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warn') log(`console.${m.type()}: ${m.text()}`);
      });
    });
    await page.goto(url);
    return { report: await done, browserVersion };
  } finally {
    await browser.close();
  }
}
