import { type Command, Option } from 'commander';
import { intIn, positiveInt } from './parse';

export function registerModelsCommand(program: Command): void {
  program.command('models').description('list every architecture × encoder with its trainable parameter count')
    .option('--json', 'print as JSON')
    .option('--size <px>', 'input size × size', positiveInt, 256)
    .addOption(new Option('--channels <n>', 'input channels').choices(['1', '3']).default('3'))
    .option('--classes <n>', 'output classes', positiveInt, 1)
    .option('--depth <n>', 'encoder depth, 3–5 (default: each architecture\'s own, 5; PSPNet 3)', intIn(3, 5))
    .action(async (options: { json?: boolean; size: number; channels: string; classes: number; depth?: number }) => {
      const { listModels } = await import('../ml/zoo');
      const channels = Number(options.channels);
      const rows = listModels([options.size, options.size, channels], options.classes, { encoderDepth: options.depth });
      if (options.json) {
        console.log(JSON.stringify({ inputShape: [options.size, options.size, channels], classes: options.classes, encoderDepth: options.depth, models: rows }, null, 2));
        return;
      }
      console.log(`${rows.length} configurations at ${options.size}×${options.size}×${channels}, ${options.classes} class(es), depth ${options.depth ?? 'per architecture'}`);
      for (const r of rows) {
        console.log(`${r.arch.padEnd(14)} ${r.encoder.padEnd(28)} ${r.family.padEnd(14)} ${Number.isNaN(r.params) ? `n/a (${r.error})` : r.params.toLocaleString('en-US')}`);
      }
    });
}
