import type { Command } from '../client';
import { listModels } from '../ml/zoo';
import { num, positiveInt } from './options';

export const modelsCommand: Command = {
  summary: 'list every architecture × encoder with its parameter count',
  usage: 'models [--json] [--size 256] [--channels 3] [--classes 1] [--depth 5]',
  options: { json: { type: 'boolean' }, size: { type: 'string' }, channels: { type: 'string' }, classes: { type: 'string' }, depth: { type: 'string' } },
  async run(_ctx, { values }) {
    const size = num(values, 'size', 256, positiveInt, 'a positive integer');
    const channels = num(values, 'channels', 3, (n) => n === 1 || n === 3, '1 or 3');
    const classes = num(values, 'classes', 1, positiveInt, 'a positive integer');
    const depth = num(values, 'depth', 5, (n) => Number.isInteger(n) && n >= 3 && n <= 5, 'an integer from 3 to 5');
    const rows = listModels([size, size, channels], classes, { encoderDepth: depth });
    if (values.json) {
      console.log(JSON.stringify({ inputShape: [size, size, channels], classes, encoderDepth: depth, models: rows }, null, 2));
      return;
    }
    console.log(`${rows.length} configurations at ${size}×${size}×${channels}, ${classes} class(es), depth ${depth}`);
    for (const r of rows) {
      console.log(`${r.arch.padEnd(14)} ${r.encoder.padEnd(28)} ${r.family.padEnd(14)} ${Number.isNaN(r.params) ? `n/a (${r.error})` : r.params.toLocaleString('en-US')}`);
    }
  },
};
