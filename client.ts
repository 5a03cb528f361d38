/**
 * Command-line interface: `npx tsx client.ts <command> …` (or `npm run cli -- <command> …`).
 * `client.ts help` lists the commands.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliContext, CliError } from './cli/context';
import { datasetImportCommand, datasetListCommand, datasetShowCommand } from './cli/dataset';
import { labelsPendingCommand, labelsServeCommand, labelsSubmitCommand } from './cli/labels';
import { modelsCommand } from './cli/models';
import { roundTripCommand } from './cli/roundTrip';
import {
  alStartCommand, benchmarkStartCommand, leaderboardCommand, pipelineStartCommand, reportCommand, searchStartCommand, statusCommand, stopCommand,
} from './cli/runs';

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(ctx: CliContext, args: { positionals: string[]; values: Record<string, unknown> }): Promise<void>;
}

const commands: Record<string, Command> = {
  'dataset list': datasetListCommand,
  'dataset show': datasetShowCommand,
  'dataset import': datasetImportCommand,
  models: modelsCommand,
  'search start': searchStartCommand,
  'al start': alStartCommand,
  'pipeline start': pipelineStartCommand,
  'benchmark start': benchmarkStartCommand,
  status: statusCommand,
  leaderboard: leaderboardCommand,
  'labels pending': labelsPendingCommand,
  'labels submit': labelsSubmitCommand,
  'labels serve': labelsServeCommand,
  stop: stopCommand,
  report: reportCommand,
  roundtrip: roundTripCommand,
};

function help(): void {
  console.log('usage: npx tsx client.ts <command> [options]\n\ncommands:');
  for (const command of Object.values(commands)) console.log(`  ${command.usage}\n      ${command.summary}`);
}

async function main(argv: string[]): Promise<void> {
  // Multi-word commands ("labels submit") are tried longest first.
  const name = [argv.slice(0, 2).join(' '), argv[0]].find((candidate) => candidate && commands[candidate]);
  if (!name) {
    help();
    if (argv[0] && argv[0] !== 'help' && argv[0] !== '--help') throw new CliError(`unknown command '${argv.slice(0, 2).join(' ')}'`);
    return;
  }
  const command = commands[name];
  const rest = argv.slice(name.split(' ').length);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\nusage: ${command.usage}`);
  }
  const ctx = new CliContext();
  try {
    await command.run(ctx, { positionals: parsed.positionals, values: parsed.values as Record<string, unknown> });
  } finally {
    await ctx.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`error: ${message}`);
  if (!(error instanceof CliError) && process.env.ECHO_DEBUG) console.error(error);
  process.exit(1);
});
