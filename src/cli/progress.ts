// A one-line progress bar with rate and ETA on stderr. On a terminal it redraws in place; otherwise
// (CI logs, pipes) it prints a line at most every `logEverySeconds` and at the end.
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressBar {
  private readonly started = performance.now();
  private lastPrint = 0;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly logEverySeconds = 15,
  ) {
    this.tty = Boolean(stream.isTTY) && !process.env.CI;
  }

  /** done of total finished; `extra` is appended (e.g. 'loss 0.412'). `skipped` items (cache hits) do not count for the ETA. */
  update(done: number, extra = '', skipped = 0): void {
    const now = performance.now();
    const elapsed = (now - this.started) / 1000;
    const worked = Math.max(0, done - skipped);
    const remaining = this.total - done;
    const eta = worked > 0 ? (elapsed / worked) * remaining : NaN;
    const width = 24;
    const filled = Math.round((width * done) / Math.max(1, this.total));
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const line = `${this.label} ${bar} ${done}/${this.total} ${formatDuration(elapsed)} elapsed, ETA ${done === this.total ? '0s' : formatDuration(eta)}${extra ? `  ${extra}` : ''}`;
    if (this.tty) {
      this.stream.write(`\r${line}\x1b[K${done === this.total ? '\n' : ''}`);
    } else if (done === this.total || now - this.lastPrint >= this.logEverySeconds * 1000 || done === 1) {
      this.stream.write(line + '\n');
      this.lastPrint = now;
    }
  }
}
