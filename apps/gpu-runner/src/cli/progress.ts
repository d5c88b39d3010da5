/**
 * Progress over all tiles of all images: a cli-progress bar when the stream is a terminal, plain
 * log lines otherwise (CI logs, pipes), so piped output stays readable.
 */
import cliProgress from 'cli-progress';

/** What the upscale command reports progress through. */
export interface Progress {
  /** Starts the bar with the total number of tiles. */
  start(totalTiles: number): void;
  /** Advances the bar by `tiles`. */
  tick(tiles: number): void;
  /** Prints a line without breaking the bar. */
  log(line: string): void;
  /** Prints an error line: on stderr, or above the bar when there is one (stderr would tear it). */
  error(line: string): void;
  /** Finishes the bar. */
  stop(): void;
}

/** A stream the progress can write to. */
export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
}

class PlainProgress implements Progress {
  private readonly stream: ProgressStream;
  private readonly errors: ProgressStream;
  constructor(stream: ProgressStream, errors: ProgressStream) {
    this.stream = stream;
    this.errors = errors;
  }
  start(): void {}
  tick(): void {}
  log(line: string): void {
    this.stream.write(`${line}\n`);
  }
  error(line: string): void {
    this.errors.write(`${line}\n`);
  }
  stop(): void {}
}

class BarProgress implements Progress {
  private readonly multi: cliProgress.MultiBar;
  private bar: cliProgress.SingleBar | null = null;
  constructor(stream: ProgressStream) {
    this.multi = new cliProgress.MultiBar(
      {
        stream: stream as NodeJS.WritableStream,
        format: 'upscaling {bar} {percentage}% | {value}/{total} tiles | eta {eta_formatted}',
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
  }
  start(totalTiles: number): void {
    this.bar = this.multi.create(totalTiles, 0);
  }
  tick(tiles: number): void {
    this.bar?.increment(tiles);
  }
  log(line: string): void {
    this.multi.log(`${line}\n`);
  }
  error(line: string): void {
    this.log(line);
  }
  stop(): void {
    this.multi.stop();
  }
}

/**
 * A bar when `stream` is a terminal, plain lines elsewhere.
 *
 * @param errors - where plain-mode error lines go (stderr).
 * @param forcePlain - plain lines even on a terminal (`--no-progress`).
 */
export function createProgress(stream: ProgressStream, errors: ProgressStream, forcePlain = false): Progress {
  return stream.isTTY && !forcePlain ? new BarProgress(stream) : new PlainProgress(stream, errors);
}
