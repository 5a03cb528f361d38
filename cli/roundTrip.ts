import type { Command } from '../client';
import { roundTrip } from '../workflows';

export const roundTripCommand: Command = {
  summary: 'run the round-trip workflow (workflow → activity → MinIO) and print the key',
  usage: 'roundtrip [--message TEXT]',
  options: { message: { type: 'string', default: 'hello from echo-al' } },
  async run(ctx, { values }) {
    const client = await ctx.temporal();
    const workflowId = `roundtrip-${Date.now()}`;
    const handle = await client.workflow.start(roundTrip, {
      taskQueue: ctx.config.taskQueues.light,
      workflowId,
      args: [{ message: String(values.message) }],
    });
    console.log(`started ${workflowId}; waiting for a worker…`);
    const result = await handle.result();
    const stored = await ctx.store().getJson<{ message: string }>(result.key);
    console.log(`round trip ok: s3://${ctx.store().bucket}/${result.key} (${result.bytes} bytes) holds "${stored.message}"`);
  },
};
