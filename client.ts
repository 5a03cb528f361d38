/**
 * Command-line interface: `npx tsx client.ts <command> …` (or `npm run cli -- <command> …`).
 * `client.ts --help` lists the commands; `client.ts <command> --help` shows one command's options.
 * Exit codes: 0 done, 1 runtime error (unknown run, service unreachable, rejected masks), 2 usage error.
 */
import { CommanderError } from 'commander';
import { CliContext, UsageError } from './cli/context';
import { buildProgram, oneLine } from './cli/program';

export async function runCli(argv: readonly string[]): Promise<number> {
  let ctx: CliContext | undefined;
  try {
    ctx = new CliContext();
    await buildProgram(ctx).parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    // Commander has already printed its message (help and --version end here too, with exit code 0).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const message = error instanceof Error ? error.message : String(error);
    console.error(`error: ${oneLine(message)}`);
    if (!(error instanceof UsageError) && ctx?.config.debug) console.error(error);
    return error instanceof UsageError ? 2 : 1;
  } finally {
    await ctx?.close();
  }
}

/**
 * Exits once everything written to stdout and stderr has been handed to the operating system. On a pipe those writes
 * are asynchronous: exiting at once would cut a large `--json` document at the pipe's buffer (64 KiB). A write's
 * callback runs after every earlier write on the stream, so an empty write marks the end.
 */
function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let open = 2;
  const flushed = () => {
    open -= 1;
    if (open === 0) process.exit(code);
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runCli(process.argv.slice(2)).then(exitWhenFlushed, (error: unknown) => {
    console.error(`error: ${String(error)}`);
    exitWhenFlushed(1);
  });
}
