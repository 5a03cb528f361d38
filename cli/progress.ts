/**
 * Progress of long CLI work (imports, `--wait`, predict, benchmarks). On a terminal: a `cli-progress` bar (or, where
 * there is no total, one status line that updates in place). Otherwise — logs, CI, pipes — plain lines on stderr: a
 * line per tenth of the work, and a line whenever the status text changes. Stdout stays free for results and `--json`.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Work done out of `total` (omit both for a status-only update), with a short status text. */
  update(status: string, done?: number, total?: number): void;
  /** Ends the bar (a final line in plain mode). */
  stop(finalStatus?: string): void;
}

const stamp = () => new Date().toISOString().slice(11, 19);

class PlainProgress implements Progress {
  private lastStatus = '';
  private lastTenth = -1;

  constructor(private readonly write: (line: string) => void) {}

  update(status: string, done?: number, total?: number): void {
    const tenth = done !== undefined && total ? Math.floor((10 * done) / total) : -1;
    if (status === this.lastStatus && tenth === this.lastTenth) return;
    this.lastStatus = status;
    this.lastTenth = tenth;
    this.write(`[${stamp()}] ${done !== undefined && total ? `${done}/${total} ` : ''}${status}`);
  }

  stop(finalStatus?: string): void {
    if (finalStatus && finalStatus !== this.lastStatus) this.write(`[${stamp()}] ${finalStatus}`);
  }
}

/** A status line rewritten in place, for work without a total (an active-learning run waiting for doctors). */
class TerminalStatus implements Progress {
  update(status: string): void {
    process.stderr.write(`\r\x1b[K${status.slice(0, (process.stderr.columns ?? 120) - 1)}`);
  }

  stop(finalStatus?: string): void {
    process.stderr.write(`\r\x1b[K${finalStatus ?? ''}\n`);
  }
}

class TerminalProgress implements Progress {
  private readonly bar = new cliProgress.SingleBar({
    format: '{bar} {value}/{total} {status}',
    barsize: 24,
    hideCursor: true,
    clearOnComplete: false,
    stream: process.stderr,
  }, cliProgress.Presets.shades_classic);
  private started = false;

  update(status: string, done?: number, total?: number): void {
    const value = done ?? 0;
    const size = total ?? 0;
    if (!this.started) {
      this.bar.start(size, value, { status });
      this.started = true;
      return;
    }
    if (total !== undefined) this.bar.setTotal(size);
    this.bar.update(value, { status });
  }

  stop(finalStatus?: string): void {
    if (this.started) {
      if (finalStatus) this.bar.update({ status: finalStatus });
      this.bar.stop();
    } else if (finalStatus) {
      process.stderr.write(`${finalStatus}\n`);
    }
  }
}

/** A bar (`withTotal`) or an in-place status line on a terminal; plain lines otherwise. */
export function createProgress(options: { withTotal: boolean }, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return new PlainProgress((line) => stream.write(`${line}\n`));
  return options.withTotal ? new TerminalProgress() : new TerminalStatus();
}
