import type { Command } from 'commander';
import { roundTrip } from '../workflows';
import type { CliContext } from './context';

export function registerRoundTripCommand(program: Command, ctx: CliContext): void {
  program.command('roundtrip').description('run the round-trip workflow (workflow → activity → MinIO) and print the key')
    .option('--message <text>', 'what to store', 'hello from echo-al')
    .option('--json', 'print the result as JSON')
    .action(async (options: { message: string; json?: boolean }) => {
      const client = await ctx.temporal();
      const workflowId = `roundtrip-${Date.now()}`;
      const handle = await client.workflow.start(roundTrip, { taskQueue: ctx.config.taskQueues.light, workflowId, args: [{ message: options.message }] });
      if (!options.json) console.log(`started ${workflowId}; waiting for a worker…`);
      const result = await handle.result();
      const stored = await ctx.store().getJson<{ message: string }>(result.key);
      if (options.json) return console.log(JSON.stringify({ workflowId, ...result, message: stored.message }));
      console.log(`round trip ok: s3://${ctx.store().bucket}/${result.key} (${result.bytes} bytes) holds "${stored.message}"`);
    });
}
