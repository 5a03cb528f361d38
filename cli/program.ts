/**
 * The command tree, on commander (chosen for: no dependencies, per-command `--help`, typo suggestions, option
 * parsers and choices, negative numbers as option values, exit-code control; it is the most used Node CLI library).
 * Usage errors print one `error:` line and exit 2; runtime errors one `error:` line and exit 1 (see client.ts).
 */
import { Command } from 'commander';
import { projectRoot } from '../config';
import type { CliContext } from './context';
import { registerDatasetCommands } from './dataset';
import { registerExportCommand } from './export';
import { registerLabelsCommands } from './labels';
import { registerModelsCommand } from './models';
import { registerPredictCommand } from './predict';
import { registerRoundTripCommand } from './roundTrip';
import { registerRunCommands } from './runs';
import fs from 'node:fs';
import path from 'node:path';

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Commander's messages can span lines (`(Did you mean …?)`): one line each, whatever it says. */
export function oneLine(text: string): string {
  return text.trim().split('\n').map((s) => s.trim()).filter(Boolean).join(' ');
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('client.ts')
    .usage('<command> [options]')
    .description('echo-al: durable architecture search and active learning for echocardiogram segmentation')
    .version(packageVersion(), '--version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (message, write) => write(`${oneLine(message)}\n`) });
  registerDatasetCommands(program, ctx);
  registerModelsCommand(program);
  registerRunCommands(program, ctx);
  registerLabelsCommands(program, ctx);
  registerPredictCommand(program, ctx);
  registerExportCommand(program, ctx);
  registerRoundTripCommand(program, ctx);
  return program;
}
