/**
 * What every `scripts/bench-*.ts` shares: its command line (node:util's parser, numbers checked, a usage line and
 * exit 2 on a bad one), its timing (warm-up, then the median of N), and its header (the exact command and the
 * machine's load, so a printed number can be reproduced and judged).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';

type OptionSpec = { type: 'string'; default?: string; multiple?: false } | { type: 'boolean'; default?: boolean; multiple?: false };

/** Parsed options: strings and booleans as node:util gives them. */
export type BenchValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends { type: 'boolean' } ? boolean | undefined : string | undefined;
};

function refuse(usage: string, message: string): never {
  console.error(`error: ${message}\nusage: ${usage}`);
  process.exit(2);
}

/**
 * The script's options, or exit 2 with the usage line for an unknown flag, a missing value or a stray positional.
 * `--help` prints the usage and exits 0.
 */
export function benchOptions<O extends Record<string, OptionSpec>>(usage: string, options: O, argv = process.argv.slice(2)): BenchValues<O> {
  if (argv.includes('--help')) {
    console.log(`usage: ${usage}`);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as unknown as BenchValues<O>;
  } catch (error) {
    return refuse(usage, (error as Error).message);
  }
}

/** A whole number ≥ `min` from an option's text, or exit 2 naming the option. */
export function intOption(usage: string, name: string, text: string | undefined, min = 1): number {
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < min) refuse(usage, `--${name} must be a whole number ≥ ${min}, got '${text}'`);
  return n;
}

/** The middle value (the upper middle of an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** Milliseconds of `steps` calls of `step` after `warmup` untimed ones (the first calls pay one-off costs). */
export async function timeSteps(step: () => unknown, steps: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await step();
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const started = performance.now();
    await step();
    ms.push(performance.now() - started);
  }
  return ms;
}

/** The same for a synchronous step, timed without yielding to the event loop. */
export function timeStepsSync(step: () => unknown, steps: number, warmup = 1): number[] {
  for (let i = 0; i < warmup; i++) step();
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const started = performance.now();
    step();
    ms.push(performance.now() - started);
  }
  return ms;
}

/** `$ npx tsx scripts/<name> <args>` and the load averages: the first lines of every bench's output. */
export function printCommand(script: string, argv = process.argv.slice(2)): void {
  console.log(`$ npx tsx scripts/${script} ${argv.join(' ')}`.trim());
  console.log(`load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'})`);
}
