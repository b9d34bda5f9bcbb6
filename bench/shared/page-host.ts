// The functions a benchmark page calls back into (bench/shared/chromium-page.ts exposes them with
// puppeteer's exposeFunction): progress lines, the final JSON report, or a failure.
interface BenchWindow {
  benchLog(line: string): Promise<void>;
  benchDone(json: string): Promise<void>;
  benchFail(message: string): Promise<void>;
}

export const pageHost = window as unknown as BenchWindow;
export const log = (line: string): void => void pageHost.benchLog(line);
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
